import type { ErrorCode } from '../util/catalogue.js'
/** A problem found in the repository, at a file position. Every class has a stable code. */
export type Severity = 'error' | 'warning'

export interface Problem {
  /** Path relative to the repository, `/` separators. */
  file: string
  /** 1-based. */
  line: number
  /** 1-based. */
  col: number
  severity: Severity
  code: ErrorCode
  message: string
}

/**
 * Stable problem codes (documented in the README; never renamed).
 */
export const CODES = {
  YAML_SYNTAX: 'not valid YAML',
  YAML_DUPLICATE_KEY: 'a key appears twice in one map',
  YAML_WARNING: 'YAML parser warning',
  SCHEMA: 'the file does not match its JSON Schema (unknown key, wrong type, missing property)',
  NOT_A_MAP: 'the file is empty or not a YAML map',
  MISSING_KEY: 'a key every consumer requires is missing',
  FRIENDLY_AND_RAW: 'a friendly name and its raw HEPiX key are both set',
  RESERVED_KEY: 'a raw key that vmgit builds itself (hv:images, hv:endorser, ...)',
  NUMBER_REWRITTEN: 'a YAML number whose text would change when rendered (1.0 → 1); quote it',
  UNKNOWN_ENDORSER: 'a list names an endorser file that does not exist',
  UNKNOWN_IMAGE: 'a list names an image file that does not exist',
  DUPLICATE_IMAGE_REF: 'a list names the same image twice',
  DUPLICATE_IDENTIFIER: 'two images, or two lists, share a dc:identifier',
  BAD_SHA512: 'sha512 is not 128 lowercase hex digits (rulebook, format §1.2)',
  BAD_SIZE: 'size is not a non-negative integer (at most 2^53-1; rulebook, format §1.2)',
  BAD_DATE: 'a date is not UTC YYYY-MM-DDThh:mm:ssZ',
  UNSAFE_IDENTIFIER: 'an identifier is outside [A-Za-z0-9._-]{1,128}, or . or .. (rulebook, attacks S18; formerly UNSAFE_ID)',
  NOT_UUID: 'an identifier is not an RFC 4122 UUID (warning; rulebook)',
  BAD_VERSION: 'a version is not a string',
  BAD_FILE_NAME: 'a file name cannot be referenced (must match [A-Za-z0-9][A-Za-z0-9._-]*.yaml)',
  CONFIG_MISSING: 'vmgit.yaml is missing; defaults are used (warning)',
  APPDB_KEY_MISSING: 'keys EGI sites (cloudkeeper, atrope) need are missing (warning; appdb_keys: off silences it)',
  LIST_EXPIRED: 'a list with a fixed expires date has expired: expires <= now (rulebook, attacks S08)',
  CREATED_IN_FUTURE: 'a list with a fixed created date more than 5 minutes in the future (rulebook, attacks S09; formerly LIST_NOT_YET_VALID)',
  // rulebook (src/rules/book.ts): what publish would refuse, reported by validate first (src/publish/publishable.ts)
  IMAGE_SOURCE_UNREADABLE: 'an image source: file cannot be read (warning in validate; plan and publish refuse when it must be uploaded)',
  NO_TARGET: 'an image with a source: whose uri no vmgit.yaml target matches',
  TARGET_NO_MATCH: 'a list whose uri no vmgit.yaml target matches (when vmgit.yaml declares targets)',
  TRANSFER_URL_INVALID: 'a target maps a uri to something that is not an absolute URL or path (e.g. replace: public/)',
  TRANSFER_SCHEME_UNSUPPORTED: 'a target maps a uri to a scheme no transfer backend supports',
  CERT_EXPIRED: 'the configured signing certificate (signing.cert, VMGIT_SIGNING_CERT) has expired',
  CERT_NOT_YET_VALID: 'the configured signing certificate is not valid yet',
  CERT_EXPIRES_BEFORE_LIST: 'a list would expire after its signing certificate (warning)',
  CERT_UNREADABLE: 'the configured signing certificate cannot be read',
} as const

export const isError = (p: Problem) => p.severity === 'error'

export function sortProblems(ps: Problem[]): Problem[] {
  const seen = new Set<string>()
  const out: Problem[] = []
  for (const p of ps) {
    const k = `${p.file}\0${p.line}\0${p.col}\0${p.code}\0${p.message}`
    if (!seen.has(k)) {
      seen.add(k)
      out.push(p)
    }
  }
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col))
}

/** `images/alma.yaml:4:9: error: ... [BAD_SHA512]`, gcc style, so editors and CI annotate it. */
export function formatProblem(p: Problem, prefix = ''): string {
  const file = prefix ? `${prefix.replace(/\/+$/, '')}/${p.file}` : p.file
  return `${file}:${p.line}:${p.col}: ${p.severity}: ${p.message} [${p.code}]`
}

export function summarize(ps: Problem[]): string {
  const e = ps.filter(isError).length
  const w = ps.length - e
  const n = (k: number, s: string) => `${k} ${s}${k === 1 ? '' : 's'}`
  return `${n(e, 'error')}, ${n(w, 'warning')}`
}
