import { fstatSync } from 'node:fs'

/**
 * The lines a command writes for people and log systems: changes (info) on stdout, problems
 * (error, warning) on stderr.
 * - Under systemd, when a stream is the journal (JOURNAL_STREAM names its device:inode), every
 *   line starts with its sd-daemon priority (`<3>` error, `<4>` warning, `<6>` info), so
 *   `journalctl -p err` shows the errors; journald strips the prefix.
 * - `--log-format json`: one JSON object per line (time, level, code, message, and the
 *   subscription/image it concerns) for log shippers.
 * Secrets never reach this module: callers pass redacted text.
 */
export type LogFormat = 'text' | 'json'
export type Level = 'error' | 'warning' | 'info'
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json']

const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6 }

export interface LogFields {
  code?: string
  subscription?: string
  image?: string
  [k: string]: unknown
}

/** Which of stdout (1) and stderr (2) are the journal's stream, from JOURNAL_STREAM=<dev>:<inode>. */
export function journalStreams(env: NodeJS.ProcessEnv = process.env): Set<1 | 2> {
  const out = new Set<1 | 2>()
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '')
  if (!m) return out
  for (const fd of [1, 2] as const) {
    try {
      const st = fstatSync(fd, { bigint: true })
      if (st.dev === BigInt(m[1] as string) && st.ino === BigInt(m[2] as string)) out.add(fd)
    } catch {
      // closed descriptor: not the journal
    }
  }
  return out
}

export interface LoggerOptions {
  format?: LogFormat
  env?: NodeJS.ProcessEnv
  /** injectable for tests; default process.stdout / process.stderr */
  write?: (fd: 1 | 2, text: string) => void
  /** the clock for JSON `time` (logging only: never used for verification) */
  clock?: () => Date
}

export class Logger {
  readonly format: LogFormat
  private readonly journal: Set<1 | 2>
  private readonly write: (fd: 1 | 2, text: string) => void
  private readonly clock: () => Date

  constructor(o: LoggerOptions = {}) {
    this.format = o.format ?? 'text'
    this.journal = journalStreams(o.env ?? process.env)
    this.write = o.write ?? ((fd, text) => void (fd === 1 ? process.stdout : process.stderr).write(text))
    this.clock = o.clock ?? (() => new Date())
  }

  error(message: string, fields: LogFields = {}): void {
    this.log('error', message, fields)
  }

  warning(message: string, fields: LogFields = {}): void {
    this.log('warning', message, fields)
  }

  info(message: string, fields: LogFields = {}): void {
    this.log('info', message, fields)
  }

  log(level: Level, message: string, fields: LogFields = {}): void {
    const fd: 1 | 2 = level === 'info' ? 1 : 2
    const prefix = this.journal.has(fd) ? `<${PRIORITY[level]}>` : ''
    if (this.format === 'json') {
      const obj = { time: this.clock().toISOString(), level, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)), message }
      this.write(fd, `${prefix}${JSON.stringify(obj)}\n`)
      return
    }
    const head = level === 'info' ? '' : `${level}${fields.code ? ` [${fields.code}]` : ''}: `
    // one priority per line: a multi-line message keeps its level on every line
    const lines = `${head}${message}`.split('\n')
    this.write(fd, lines.map((l) => `${prefix}${l}\n`).join(''))
  }
}
