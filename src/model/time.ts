import { durationOf, parseTimeFlag } from '../rules/time.js'

/** Durations and time flags: one grammar and one parser, in src/rules/time.ts (issue 14). */
export { parseDuration } from '../rules/time.js'

/** For flags: a usage error (BAD_DURATION) that says what is accepted. */
export const durationFlag = (flag: string, text: string): number => durationOf(`--${flag}`, text)

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

/** Parse a `--now` flag (the one parser, src/rules/time.ts). */
export const parseNow = (text: string | undefined): Date => parseTimeFlag(text, 'now')
