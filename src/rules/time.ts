/**
 * The one parser for instants given on the command line (`--now`, `--at`) and the one duration
 * grammar (vmgit.yaml `lifetime`, `--refresh-before`, the Glance `grace` and `stale-upload`).
 * Issue 14: there were three `--now` parsers with two error codes (BAD_TIME, BAD_NOW) and two
 * duration grammars; every caller now goes through this file.
 */
import { usageError } from '../util/errors.js'

/**
 * An instant: ISO 8601 date AND time AND zone (`Z` or `±hh:mm`), optional fractions of a second.
 * Decision (stricter, safer): `new Date()`'s looser forms are refused: a time without a zone is read
 * in the host's local zone (two hosts would verify at different instants), and date-only or
 * free-form text (`2024`, `March 5`) is easy to get wrong.
 */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/

/** Parse an instant; undefined when it is not one (see INSTANT). */
export function parseInstant(text: string): Date | undefined {
  const t = text.trim()
  if (!INSTANT.test(t)) return undefined
  const d = new Date(t)
  if (Number.isNaN(d.getTime())) return undefined
  // 2024-02-30T00:00:00Z rolls over to March in JS: refuse a calendar date that does not exist
  const [y, m, day] = t.slice(0, 10).split('-').map(Number) as [number, number, number]
  const probe = new Date(Date.UTC(y, m - 1, day))
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== day) return undefined
  return d
}

/**
 * A time flag (`--now`, `--at`): undefined → the clock (read here, in the command layer, and then
 * passed down: verification code never reads the clock). One error code: BAD_TIME (exit 2).
 */
export function parseTimeFlag(text: string | undefined, flag = 'now'): Date {
  if (text === undefined) return new Date()
  const d = parseInstant(text)
  if (!d) throw usageError('BAD_TIME', `--${flag} ${JSON.stringify(text)} is not an ISO 8601 time with a zone; write it like 2024-06-01T12:00:00Z`)
  return d
}

/** Like parseTimeFlag, but undefined stays undefined (a flag whose absence means "not given"). */
export const optionalTimeFlag = (text: string | undefined, flag: string): Date | undefined =>
  text === undefined ? undefined : parseTimeFlag(text, flag)

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/**
 * The duration grammar: a positive whole number and a unit s, m, h, d or w (`30s`, `90m`, `12h`,
 * `28d`, `2w`), or `0` where zero is allowed. Decision: a bare number is refused (vmcaster's
 * lifetime was days, Glance's grace was seconds: the unit is always written), and so are fractions.
 */
export function parseDuration(text: string, opts: { allowZero?: boolean } = {}): number | undefined {
  const t = text.trim()
  if (t === '0') return opts.allowZero ? 0 : undefined
  const m = /^([1-9][0-9]{0,9})([smhdw])$/.exec(t)
  if (!m) return undefined
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** Like parseDuration, for a flag or setting named `what`: one error code, BAD_DURATION (exit 2). */
export function durationOf(what: string, text: string, opts: { allowZero?: boolean } = {}): number {
  const ms = parseDuration(text, opts)
  if (ms === undefined) {
    throw usageError('BAD_DURATION', `${what} ${JSON.stringify(text)} is not a duration; write a whole number and a unit s, m, h, d or w, like 7d or 12h${opts.allowZero ? ' (or 0)' : ''}`)
  }
  return ms
}
