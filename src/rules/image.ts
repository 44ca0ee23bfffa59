/**
 * The rulebook's image and identifier rules (book.ts: BAD_SHA512, BAD_SIZE, UNSAFE_IDENTIFIER,
 * NOT_UUID), as pure functions of one HEPiX object. Every command that reads or writes a list judges
 * these values here: validate (the YAML), verify, import, sub add and sync (the signed JSON). What a
 * command does with a verdict is the book's `outcome` for it (outcomeOf): the publisher refuses, a
 * subscriber marks one bad image and keeps the rest of the list.
 */
import { SHA512_HEX } from '../util/hash.js'
import { RULES, type RuleId } from './book.js'
import type { Severity, Verdict } from './list.js'

/** S18: identifiers that are safe as file names everywhere: 1 to 128 of `A-Z a-z 0-9 . _ -`. */
export const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * An RFC 4122 UUID in its canonical 8-4-4-4-12 hex form (either case), with the RFC 4122 variant
 * (10xx: first hex digit of the 4th group is 8, 9, a or b) and a version 1-8 (1-5 from RFC 4122,
 * 6-8 from RFC 9562, which keeps the same layout and variant). The nil UUID is not accepted: it
 * cannot identify anything.
 */
export const RFC4122 = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** S18: a safe identifier; `.` and `..` match the alphabet but name directories, so they are refused too. */
export const isSafeIdentifier = (v: unknown): v is string => typeof v === 'string' && SAFE_ID.test(v) && v !== '.' && v !== '..'

/**
 * format §1.2 hv:size: bytes, from 0 to 2^53-1 (above it a JSON number loses exactness), as a JSON
 * integer (vmcaster) or a string of digits (AppDB). Returns the byte count, or undefined when the
 * value is not one.
 */
export function sizeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined
  if (typeof v !== 'string' || !/^[0-9]{1,16}$/.test(v)) return undefined
  const n = Number(v)
  return Number.isSafeInteger(n) ? n : undefined
}

/** format §1.2 sl:checksum:sha512: exactly 128 lowercase hex digits. */
export const isSha512 = (v: unknown): v is string => typeof v === 'string' && SHA512_HEX.test(v)

const shown = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 90 ? `${s.slice(0, 87)}…` : s
}
const verdict = (rule: RuleId, key: string, message: string, severity: Severity = 'error'): Verdict => ({ rule, code: RULES[rule].code, severity, message, key })

/**
 * How a value is named in a message: the object ("the list", "image 3", then the HEPiX key), or a
 * function of the key (validate names the YAML key the user wrote, e.g. `sha512`).
 */
export type Naming = string | ((key: string) => string)
const named = (n: Naming, key: string): string => (typeof n === 'string' ? `${n} ${key}` : n(key))

/** Who is told what to do: the publisher fixes the value; a subscriber can only tell the endorser. */
export type Side = 'publisher' | 'subscriber'

/**
 * S18 / format §1.2: a list's or an image's dc:identifier. `what` names it in the message
 * ("the list", "image 3"); an absent identifier is MISSING_KEY's, not judged here.
 */
export function identifierVerdicts(id: unknown, what: Naming, side: Side): Verdict[] {
  if (id === undefined) return []
  if (!isSafeIdentifier(id)) {
    const fix = side === 'publisher' ? 'use a UUID (uuidgen)' : 'the list is refused: tell its endorser'
    return [verdict('UNSAFE_IDENTIFIER', 'dc:identifier', `${named(what, 'dc:identifier')} ${shown(id)} is not a safe identifier ([A-Za-z0-9._-], 1-128 characters, not . or ..; consumers use it in file names); ${fix}`)]
  }
  if (!RFC4122.test(id)) {
    const fix = side === 'publisher' ? 'generate one once with uuidgen and keep it' : 'accepted (subscribers do not check the form)'
    return [verdict('NOT_UUID', 'dc:identifier', `${named(what, 'dc:identifier')} ${id} is not an RFC 4122 UUID, which the format expects; ${fix}`, 'warning')]
  }
  return []
}

/** format §1.2 / S05: an image's checksum and size; absent keys are MISSING_KEY's, not judged here. */
export function imageValueVerdicts(img: Record<string, unknown>, what: Naming, side: Side): Verdict[] {
  const out: Verdict[] = []
  const sha = img['sl:checksum:sha512']
  if (sha !== undefined && !isSha512(sha)) {
    const hint = typeof sha === 'string' && /^[0-9a-fA-F]{128}$/.test(sha) ? ' (it is in uppercase: consumers compare the text)' : typeof sha === 'string' ? ` (${sha.length} characters)` : ''
    const fix = side === 'publisher' ? 'compute it with sha512sum' : 'the image is never downloaded (the rest of the list is kept): tell the list\'s endorser'
    out.push(verdict('BAD_SHA512', 'sl:checksum:sha512', `${named(what, 'sl:checksum:sha512')} must be 128 lowercase hex digits${hint}; ${fix}`))
  }
  const size = img['hv:size']
  if (size !== undefined && sizeOf(size) === undefined) {
    const fix = side === 'publisher' ? 'write the byte size of the file as served (stat -c %s FILE)' : 'the image is never downloaded (the rest of the list is kept): tell the list\'s endorser'
    out.push(verdict('BAD_SIZE', 'hv:size', `${named(what, 'hv:size')} ${shown(size)} must be a non-negative integer number of bytes (at most 2^53-1); ${fix}`))
  }
  return out
}

/** Every identifier and image value of a parsed list, located by its JSON path (e.g. hv:images/2/hv:size). */
export function listValueVerdicts(list: { list: Record<string, unknown>; images: readonly Record<string, unknown>[] }, side: Side): (Verdict & { path: string; image?: number })[] {
  const out: (Verdict & { path: string; image?: number })[] = identifierVerdicts(list.list['dc:identifier'], 'the list', side).map((v) => ({ ...v, path: v.key ?? '' }))
  list.images.forEach((img, i) => {
    const what = `image ${i + 1} (${shown(img['dc:identifier'])})`
    for (const v of [...identifierVerdicts(img['dc:identifier'], what, side), ...imageValueVerdicts(img, what, side)]) out.push({ ...v, path: `hv:images/${i}/${v.key}`, image: i })
  })
  return out
}
