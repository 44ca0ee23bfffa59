import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { BIN, childEnv, ROOT } from '../helpers/cli.js'

/**
 * The built CLI as a long-lived child process (like runCli, for `--watch`): its output so
 * far, a bounded wait for something to appear in it, and a way to stop it by signal.
 */
export interface LiveCli {
  readonly child: ChildProcessWithoutNullStreams
  stdout(): string
  stderr(): string
  /** Poll until `test(stdout, stderr)` is true; fail with the output so far after `boundMs`. */
  waitFor(what: string, test: (stdout: string, stderr: string) => boolean, boundMs?: number): Promise<void>
  /** Send `signal` (Ctrl-C is SIGINT) and resolve with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const live = new Set<ChildProcessWithoutNullStreams>()

export function startCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): LiveCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] })
  live.add(child)
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      live.delete(child)
      resolve(code)
    }),
  )
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(what, test, boundMs = 30_000) {
      const until = Date.now() + boundMs
      while (!test(out, err)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the CLI exited (${child.exitCode ?? child.signalCode}) before ${what}\n--- stdout\n${out}\n--- stderr\n${err}`)
        if (Date.now() > until) throw new Error(`gave up waiting ${boundMs} ms for ${what}\n--- stdout\n${out}\n--- stderr\n${err}`)
        await new Promise((r) => setTimeout(r, 25))
      }
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** Kill (by PID) every child a failed test left running. For afterEach. */
export function killLeftovers(): void {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL')
  live.clear()
}

const HEADER = /^\[\d\d:\d\d:\d\d\] vmgit .*$/gm

/** The watch headers (`[hh:mm:ss] vmgit validate: watching ...`) printed so far: one per run. */
export const headers = (text: string): string[] => text.match(HEADER) ?? []

/** Output from the last watch header on: what the latest run printed (its stdout). */
export function lastRun(text: string): string {
  let start = 0
  for (const m of text.matchAll(HEADER)) start = m.index
  return text.slice(start)
}
