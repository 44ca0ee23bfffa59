import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin/run.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** The environment a test runs the CLI in: this process's, no colours, `extra` on top (undefined removes a variable). */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1', ...extra }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  return env as NodeJS.ProcessEnv
}

export interface RunOptions { cwd?: string; env?: Record<string, string | undefined>; input?: string | Buffer; timeoutMs?: number; uid?: number; gid?: number }

/** Run any program in a child process with the test environment (childEnv), its input closed after `input`. */
export function runProcess(cmd: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}) })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    child.stdin.on('error', () => {}) // a command that exits without reading its input is not a test failure
    child.stdin.end(opts.input ?? '')
  })
}

/** Run the built CLI (`npm run build` first; `npm test` does) as a user would, in a child process. */
export const runCli = (args: string[], opts: RunOptions = {}): Promise<CliResult> => runProcess(process.execPath, [BIN, ...args], opts)
