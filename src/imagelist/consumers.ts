/**
 * What the consumers of a list will make of it (spec §1.2, §1.3).
 * errors: anything that makes vmcatcher drop an image or reject the list (missing "all" keys,
 *   malformed checksum/size/dates, unsafe identifiers, duplicate image ids, and, when `now` is
 *   given, a list that is expired or not yet valid).
 * warnings: AppDB keys that cloudkeeper/atrope sites require, and identifiers that are not RFC 4122.
 */
import type { ErrorCode } from '../util/catalogue.js'
import { listTimeVerdicts } from '../rules/list.js'
import { identifierVerdicts, imageValueVerdicts } from '../rules/image.js'
import type { HepixList, HepixObject, HepixScalar } from './types.js'

export interface Problem {
  code: ErrorCode
  message: string
  /** JSON-pointer-ish location, e.g. "hv:images/2/sl:checksum:sha512", "hv:endorser/hv:x509/hv:dn", "dc:title". */
  path: string
}

export interface ConsumerReport {
  errors: Problem[]
  warnings: Problem[]
}

// "all" = vmcaster pre-sign check, hepixvmitrust and the vmcatcher decoder (hepixvmitrust vmitrustlib.py)
export const REQUIRED_LIST_KEYS = [
  'dc:date:created', 'dc:date:expires', 'dc:identifier', 'dc:description', 'dc:title', 'dc:source', 'hv:version', 'hv:uri',
] as const
export const REQUIRED_ENDORSER_KEYS = ['hv:ca', 'hv:dn', 'hv:email', 'dc:creator'] as const
export const REQUIRED_IMAGE_KEYS = [
  'dc:title', 'dc:description', 'hv:size', 'sl:checksum:sha512', 'sl:arch', 'hv:uri', 'dc:identifier', 'sl:os',
  'sl:osversion', 'sl:comments', 'hv:hypervisor', 'hv:version',
] as const

/** Per-image keys EGI sites need, with who needs them (cloudkeeper appliance.rb, atrope image.py). */
export const APPDB_IMAGE_KEYS: Readonly<Record<string, string>> = {
  'ad:mpuri': 'cloudkeeper and atrope',
  'dc:date:expires': 'cloudkeeper',
  'hv:format': 'atrope',
  'sl:osname': 'atrope',
  'ad:group': 'atrope',
  'ad:user:fullname': 'atrope',
  'ad:user:guid': 'atrope',
  'ad:user:uri': 'atrope',
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/

/** `%Y-%m-%dT%H:%M:%SZ` (vmcatcher strptime, cloudkeeper utils/date.rb) with a real calendar date. */
export function parseHepixDate(v: HepixScalar | undefined): Date | undefined {
  if (typeof v !== 'string') return undefined
  const m = DATE.exec(v)
  if (!m) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s))
  const ok = t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && s < 60
  return ok ? t : undefined
}

const show = (v: HepixScalar): string => JSON.stringify(v)
const at = (prefix: string, key: string): string => (prefix === '' ? key : `${prefix}/${key}`)

class Collector implements ConsumerReport {
  errors: Problem[] = []
  warnings: Problem[] = []
  error(code: ErrorCode, path: string, message: string): void {
    this.errors.push({ code, path, message })
  }
  warn(code: ErrorCode, path: string, message: string): void {
    this.warnings.push({ code, path, message })
  }

  missing(obj: HepixObject, keys: readonly string[], prefix: string, consequence: string): void {
    for (const key of keys)
      if (!Object.prototype.hasOwnProperty.call(obj, key))
        this.error('MISSING_KEY', at(prefix, key), `${key} is missing; ${consequence}. Add it (an empty string is accepted)`)
  }

  /** the rulebook's UNSAFE_IDENTIFIER / NOT_UUID (src/rules/image.ts), as every command judges them */
  identifier(obj: HepixObject, prefix: string, what: string): void {
    for (const v of identifierVerdicts(obj['dc:identifier'], what, 'publisher'))
      (v.severity === 'error' ? this.errors : this.warnings).push({ code: v.code, path: at(prefix, 'dc:identifier'), message: v.message })
  }

  date(obj: HepixObject, key: string, prefix: string): Date | undefined {
    const v = obj[key]
    if (v === undefined) return undefined
    const d = parseHepixDate(v)
    if (d === undefined)
      this.error('BAD_DATE', at(prefix, key), `${key} ${show(v)} is not a UTC date YYYY-MM-DDThh:mm:ssZ; vmcatcher and cloudkeeper parse it strictly and reject the list (write e.g. 2025-01-31T12:00:00Z, no fractions or offsets)`)
    return d
  }
}

/** Check a list against what vmcatcher, cloudkeeper and atrope accept (see module comment). */
export function checkConsumers(list: HepixList, opts: { now?: Date } = {}): ConsumerReport {
  const c = new Collector()
  // list level: vmcatcher rejects the whole list (VMimageListDecoder returns None)
  c.missing(list.list, REQUIRED_LIST_KEYS, '', 'vmcatcher rejects the whole list without it')
  c.identifier(list.list, '', 'the list')
  const created = c.date(list.list, 'dc:date:created', '')
  const expires = c.date(list.list, 'dc:date:expires', '')
  // the rulebook's list time rules (src/rules): the same verdict as sync's at the same instant
  if (opts.now) for (const v of listTimeVerdicts({ created, expires }, opts.now)) c.error(v.code, v.key ?? '', v.message)
  const vo = list.list['ad:vo']
  if (vo === undefined || String(vo).trim() === '')
    c.warn('APPDB_KEY_MISSING', 'ad:vo', 'ad:vo is missing or blank: cloudkeeper rejects the list without it; set the VO name if EGI sites subscribe')

  // endorser: vmcatcher's VMendorserDecoder returns None, so the list is rejected
  c.missing(list.endorser, REQUIRED_ENDORSER_KEYS, 'hv:endorser/hv:x509', 'vmcatcher rejects the whole list without it')

  const seen = new Map<string, number>()
  list.images.forEach((img, i) => {
    const prefix = `hv:images/${i}`
    // VMimageDecoder returns None: vmcatcher silently drops the image (logs "coding error2")
    c.missing(img, REQUIRED_IMAGE_KEYS, prefix, 'vmcatcher silently drops this image without it')
    c.identifier(img, prefix, 'the image')
    const id = img['dc:identifier']
    if (id !== undefined) {
      const first = seen.get(String(id))
      if (first !== undefined)
        c.error('DUPLICATE_IMAGE_ID', at(prefix, 'dc:identifier'), `image dc:identifier ${show(id)} is also used by hv:images/${first}; every image needs its own identifier`)
      else seen.set(String(id), i)
    }
    // the rulebook's BAD_SHA512 / BAD_SIZE (src/rules/image.ts), as validate, verify, import and sync judge them
    for (const v of imageValueVerdicts(img, 'the image', 'publisher')) c.error(v.code, at(prefix, v.key ?? ''), v.message)
    c.date(img, 'dc:date:expires', prefix)
    for (const [key, who] of Object.entries(APPDB_IMAGE_KEYS))
      if (!Object.prototype.hasOwnProperty.call(img, key))
        c.warn('APPDB_KEY_MISSING', at(prefix, key), `${key} is missing: ${who} reject${who.includes(' and ') ? '' : 's'} the list without it; add it if EGI sites subscribe`)
  })
  return { errors: c.errors, warnings: c.warnings }
}
