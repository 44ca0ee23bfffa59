/**
 * hv:version ordering and bumping, exactly as vmcaster `vmcasterpub/versioning.py` and vmcatcher
 * `vmcatcher_subscribe/stringsort.py` (identical code) do it (spec §1.4). vmcatcher refuses a list
 * whose hv:version sorts below the cached one (error 17), so our ordering must match theirs, quirks
 * included:
 * - `split_numeric_sort` splits on `[-,./]` keeping the delimiters as tokens;
 * - two all-digit tokens compare as integers, and if they differ only in leading zeros ("01" vs "1")
 *   the whole comparison ends as EQUAL without looking at later tokens;
 * - an all-digit token beats a non-digit token;
 * - other tokens go through `string_sort` (split into digit / non-digit runs, same rules, plain
 *   string comparison for non-digit runs);
 * - if every compared token is equal, the version with more tokens is greater.
 * Python returns -1 when x > y; compareVersions uses the usual comparator sign (a < b → -1).
 * Digit runs are ASCII [0-9] and compared as BigInt (timestamps such as 20150618211400 exceed
 * nothing, but 30-digit runs would exceed 2^53); non-digit runs compare by code point.
 */
import { compareCodePoints } from './pyjson.js'

const DELIMITERS = /[-,./]/g
const DIGIT_RUNS = /[0-9]+/g
const ALL_DIGITS = /^[0-9]+$/

/** Python `split_line_by_delimiter`: the text between matches and the matches themselves, no empty tokens. */
export function splitKeepingDelimiters(line: string, regex: RegExp): string[] {
  const out: string[] = []
  let last = 0
  for (const m of line.matchAll(regex)) {
    const start = m.index ?? 0
    if (start !== last) out.push(line.slice(last, start))
    out.push(m[0])
    last = start + m[0].length
  }
  if (last !== line.length) out.push(line.slice(last))
  return out
}

type Sign = -1 | 0 | 1

/** One token comparison, in Python's sign convention (x > y → -1); undefined = tokens equal, go on. */
function compareTokens(x: string, y: string, nonDigit: (x: string, y: string) => Sign): Sign | undefined {
  if (x === y) return undefined
  const xd = ALL_DIGITS.test(x)
  const yd = ALL_DIGITS.test(y)
  if (xd && yd) {
    const a = BigInt(x)
    const b = BigInt(y)
    return a > b ? -1 : a < b ? 1 : 0 // quirk: "01" vs "1" returns 0 immediately
  }
  if (xd) return -1
  if (yd) return 1
  const rc = nonDigit(x, y)
  return rc === 0 ? undefined : rc
}

function compareSplit(xs: string[], ys: string[], nonDigit: (x: string, y: string) => Sign): Sign {
  const n = Math.min(xs.length, ys.length)
  for (let i = 0; i < n; i++) {
    const rc = compareTokens(xs[i] as string, ys[i] as string, nonDigit)
    if (rc !== undefined) return rc
  }
  return xs.length < ys.length ? 1 : xs.length > ys.length ? -1 : 0
}

const plainStringCompare = (x: string, y: string): Sign => {
  const c = compareCodePoints(x, y)
  return c > 0 ? -1 : c < 0 ? 1 : 0
}

/** Python `string_sort(x, y)` (x > y → -1). */
export function stringSort(x: string, y: string): Sign {
  return compareSplit(splitKeepingDelimiters(x, DIGIT_RUNS), splitKeepingDelimiters(y, DIGIT_RUNS), plainStringCompare)
}

/** Python `split_numeric_sort(x, y)` (x > y → -1), kept for parity tests. */
export function splitNumericSort(x: string, y: string): Sign {
  return compareSplit(splitKeepingDelimiters(x, DELIMITERS), splitKeepingDelimiters(y, DELIMITERS), stringSort)
}

/** Compare two hv:version strings like vmcatcher does: -1 if a < b, 0 if equal, 1 if a > b. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const rc = splitNumericSort(a, b)
  return rc === 0 ? 0 : rc < 0 ? 1 : -1
}

/**
 * vmcaster `bumpVersion(old or "0.0.0")`: increment the last run of digits, keeping everything
 * else (`0.0.9` → `0.0.10`, `0.0.1a` → `0.0.2a`, `20150618211400` → `20150618211401`). Like
 * Python's `str(int(run) + 1)`, leading zeros of that run are dropped (`1.09` → `1.10`, `007` → `8`).
 * An empty version starts from "0.0.0" (→ `0.0.1`). vmcaster returns None for a non-empty version
 * without any digit; vmgit instead appends `.1` (`beta` → `beta.1`), which still sorts above the
 * old value. The result always compares greater than the input.
 */
export function bumpVersion(v: string): string {
  const version = v === '' ? '0.0.0' : v
  const runs = [...version.matchAll(DIGIT_RUNS)]
  const last = runs[runs.length - 1]
  if (last === undefined) return `${version}.1`
  const start = last.index ?? 0
  return version.slice(0, start) + (BigInt(last[0]) + 1n).toString() + version.slice(start + last[0].length)
}
