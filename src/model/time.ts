import { usageError } from '../util/errors.js'

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** `28d`, `12h`, `2w`, `90m`, `30s` → milliseconds; undefined when not a positive duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]*)([smhdw])$/.exec(text.trim())
  if (!m) return undefined
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
}

/** Like parseDuration, for flags: a usage error that says what is accepted. */
export function durationFlag(flag: string, text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined) throw usageError('BAD_DURATION', `--${flag} ${text} is not a duration; write a number and a unit s, m, h, d or w, like 7d or 12h`)
  return ms
}

/** vmcatcher and cloudkeeper parse dates with strict `%Y-%m-%dT%H:%M:%SZ` (spec §1.3). */
export const HEPIX_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/

/** True for a real UTC calendar instant in the strict HEPiX form (no fractions, no offsets). */
export function isHepixDate(s: string): boolean {
  const m = HEPIX_DATE.exec(s)
  if (!m) return false
  const d = new Date(s)
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 19) + 'Z' === s
}

/** `2024-06-01T12:00:00Z` (seconds precision, UTC). */
export const hepixDate = (d: Date): string => d.toISOString().slice(0, 19) + 'Z'

/** List hv:version stamp: UTC `YYYYMMDDhhmmss` (AppDB VO lists use the same form). */
export const versionStamp = (d: Date): string => hepixDate(d).replace(/[-T:Z]/g, '')

/** Parse a `--now` flag: any ISO 8601 instant. */
export function parseNow(text: string | undefined): Date {
  if (text === undefined) return new Date()
  const d = new Date(text)
  if (Number.isNaN(d.getTime())) throw usageError('BAD_TIME', `--now ${text} is not an ISO 8601 time; write it like 2024-06-01T12:00:00Z`)
  return d
}
