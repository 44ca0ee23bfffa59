/**
 * Reading HEPiX image list JSON into a HepixList (spec §1.1), strictly:
 * - NOT_JSON: not UTF-8, not JSON, or starts with a byte order mark (see decodeText);
 * - JSON_DUPLICATE_KEY: a key repeated in any object (see json.ts);
 * - NOT_AN_IMAGELIST: valid JSON that is not the image list structure.
 * Accepts the wrapped `{"hv:imagelist": {...}}` form and the bare inner object.
 */
import { VmgitError } from '../util/errors.js'
import { parseStrictJson, type JsonObject, type JsonValue } from './json.js'
import { compareCodePoints } from './pyjson.js'
import type { HepixList, HepixObject, Layout } from './types.js'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Bytes → text. A UTF-8 byte order mark is REJECTED, not stripped: Python's json (vmcatcher,
 * vmcaster, atrope) and Ruby's JSON (cloudkeeper) all fail on it, so a list starting with a BOM
 * would be "not JSON" (vmcatcher error 37) at every site.
 */
export function decodeText(input: string | Buffer | Uint8Array): string {
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = utf8.decode(input)
    } catch {
      throw new VmgitError('NOT_JSON', 'the file is not valid UTF-8 text, so it cannot be JSON; re-save it as UTF-8')
    }
  }
  if (text.charCodeAt(0) === 0xfeff) {
    throw new VmgitError(
      'NOT_JSON',
      'the file starts with a UTF-8 byte order mark, which vmcatcher, atrope and cloudkeeper reject as not JSON; ' +
        'remove the first 3 bytes (e.g. save without BOM)',
      { details: { bom: true } },
    )
  }
  return text
}

const notList = (message: string, path?: string): VmgitError =>
  new VmgitError('NOT_AN_IMAGELIST', `not an HEPiX image list: ${message}`, path === undefined ? {} : { details: { path } })

const kind = (v: JsonValue | undefined): string =>
  v === undefined ? 'missing' : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)

/** An object whose values are all strings or numbers (checked in place: parsed objects are ours). */
function scalarObject(v: JsonValue | undefined, path: string): HepixObject {
  if (!isObject(v)) throw notList(`${path} is ${kind(v)}, expected an object`, path)
  for (const k in v) {
    const val = v[k]
    if (typeof val !== 'string' && typeof val !== 'number') {
      const at = path === '' ? k : `${path}/${k}`
      throw notList(`${at} is ${kind(val)}; image list values must be strings or numbers`, at)
    }
  }
  return v as HepixObject
}

function onlyKey(v: JsonObject, key: string, path: string): JsonValue {
  const keys = Object.keys(v)
  const extra = keys.filter((k) => k !== key)
  if (extra.length > 0) throw notList(`${path} has unexpected key(s) ${extra.map((k) => JSON.stringify(k)).join(', ')} next to "${key}"`, path)
  if (!keys.includes(key)) throw notList(`${path} has no "${key}"`, path)
  return v[key] as JsonValue
}

function endorserOf(v: JsonValue | undefined): HepixObject {
  const path = 'hv:endorser'
  if (v === undefined) throw notList('hv:endorser is missing; add {"hv:x509": {"hv:dn": ..., "hv:ca": ..., ...}}', path)
  if (Array.isArray(v))
    throw notList(
      'hv:endorser is an array (vmcaster writes that when several endorsers are bound); vmcatcher cannot decode it, ' +
        'so publish exactly one endorser object {"hv:x509": {...}}',
      path,
    )
  if (!isObject(v)) throw notList(`hv:endorser is ${kind(v)}, expected an object {"hv:x509": {...}}`, path)
  return scalarObject(onlyKey(v, 'hv:x509', path), `${path}/hv:x509`)
}

function imagesOf(v: JsonValue | undefined): HepixObject[] {
  if (v === undefined)
    throw notList(
      'hv:images is missing (vmcaster omits it for an empty list, which vmcatcher and atrope reject); add "hv:images": []',
      'hv:images',
    )
  if (!Array.isArray(v)) throw notList(`hv:images is ${kind(v)}, expected an array`, 'hv:images')
  return v.map((entry, i) => {
    const path = `hv:images/${i}`
    if (!isObject(entry)) throw notList(`${path} is ${kind(entry)}, expected {"hv:image": {...}}`, path)
    return scalarObject(onlyKey(entry, 'hv:image', path), `${path}/hv:image`)
  })
}

/** Map a parsed JSON document onto HepixList, enforcing the structure of spec §1.1. */
export function toHepixList(doc: JsonValue): HepixList {
  if (!isObject(doc)) throw notList(`the JSON document is ${kind(doc)}, expected an object with "hv:imagelist"`)
  let inner: JsonObject
  if (Object.prototype.hasOwnProperty.call(doc, 'hv:imagelist')) {
    const v = onlyKey(doc, 'hv:imagelist', '(top level)')
    if (!isObject(v)) throw notList(`hv:imagelist is ${kind(v)}, expected an object`, 'hv:imagelist')
    inner = v
  } else if ('hv:images' in doc || 'hv:endorser' in doc) {
    inner = doc // bare inner form (cloudkeeper structures/image_list07.json)
  } else {
    const hint = 'hv:image' in doc ? ' (this looks like a single image entry)' : 'hv:x509' in doc ? ' (this looks like an endorser entry)' : ''
    throw notList(`no "hv:imagelist" object${hint}`)
  }
  const { 'hv:endorser': endorser, 'hv:images': images, ...rest } = inner
  return {
    list: scalarObject(rest, ''),
    endorser: endorserOf(endorser),
    images: imagesOf(images),
  }
}

/** Parse image list JSON text or bytes strictly (see module comment). */
export function parseImageListJson(input: string | Buffer): HepixList {
  return toHepixList(parseStrictJson(decodeText(input)))
}

function keysSorted(v: JsonValue): boolean {
  if (Array.isArray(v)) return v.every(keysSorted)
  if (!isObject(v)) return true
  const keys = Object.keys(v)
  for (let i = 1; i < keys.length; i++) if (compareCodePoints(keys[i - 1] as string, keys[i] as string) > 0) return false
  return Object.values(v).every(keysSorted)
}

/**
 * Guess the layout a list was written in: 3-space indent → 'appdb'; 4-space indent with the
 * Python 2 `", "` trailing spaces, or with keys sorted at every level → 'vmcaster'; else undefined.
 */
export function detectLayout(input: string | Buffer): Layout | undefined {
  const text = typeof input === 'string' ? input : input.toString('utf8')
  const lines = text.split(/\r?\n/)
  const first = lines.slice(1).find((l) => l.trim() !== '')
  const indent = first === undefined ? '' : (/^[ \t]*/.exec(first)?.[0] ?? '')
  if (indent === '   ') return 'appdb'
  if (indent !== '    ') return undefined
  if (lines.some((l) => l.endsWith(', '))) return 'vmcaster'
  try {
    return keysSorted(parseStrictJson(text.replace(/^\ufeff/, ''))) ? 'vmcaster' : undefined
  } catch {
    return undefined
  }
}
