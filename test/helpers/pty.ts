import { spawn } from 'node:child_process'
import { BIN, childEnv, ROOT } from './cli.js'

/**
 * Run the built CLI on a real pseudo-terminal (python3's pty module: node has none), the way a
 * person at a shell does: stdin, stdout and stderr are all the terminal, so `isTTY` is true.
 * `answers` are typed in order, each once its prompt has appeared in the output (after the
 * previous answer's prompt). Returns everything the terminal showed, and the exit code.
 */
const DRIVER = String.raw`
import json, os, pty, select, sys, time
args, answers, timeout = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
out, pos, i, end = b'', 0, 0, time.time() + timeout
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break  # EIO: the child closed the terminal
        if not data:
            break
        out += data
    while i < len(answers):
        at = out.find(answers[i][0].encode(), pos)
        if at < 0:
            break
        pos = at + len(answers[i][0])
        os.write(fd, answers[i][1].encode())
        i += 1
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
`

export interface PtyResult {
  code: number
  /** stdout and stderr as the terminal showed them (CRLF line ends, escape sequences kept) */
  screen: string
}

export function runCliOnTty(
  args: string[],
  opts: { env?: Record<string, string | undefined>; answers?: [prompt: string, typed: string][]; timeoutMs?: number; cwd?: string } = {},
): Promise<PtyResult> {
  const timeout = (opts.timeoutMs ?? 60_000) / 1000
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify([process.execPath, BIN, ...args]), JSON.stringify(opts.answers ?? []), String(timeout)], {
      cwd: opts.cwd ?? ROOT, env: childEnv({ TERM: 'xterm', COLUMNS: '120', ...opts.env }), stdio: ['ignore', 'pipe', 'inherit'],
    })
    const out: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, screen: Buffer.concat(out).toString() }))
  })
}
