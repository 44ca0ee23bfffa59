/**
 * Byte-exact rendering of a HepixList (spec §1.5). The output is what gets signed, so the two
 * layouts reproduce the real publishers' bytes exactly (golden tests in test/imagelist/).
 *
 * vmcaster: Python 2 `json.dumps(obj, sort_keys=True, indent=4)`: keys sorted by code point at
 *   every level, 4-space indent, item separator `", "` (so lines ending in a comma keep a trailing
 *   space), `": "`, ensure_ascii escapes, no final newline. `hv:size` is always an integer (vmcaster
 *   `imageListShow` casts it); other values keep their type.
 * appdb: 3-space indent, `","` and `": "`, no trailing spaces, a final newline, every value a
 *   string, AppDB's fixed key order (below). Strings use the same ensure_ascii escaping; `/` is not
 *   escaped (no AppDB sample escapes it, none has non-ASCII text, so ASCII-only output is the safe
 *   choice). One final newline, as AppDB has written since 2017; the 2014-2016 samples
 *   (snf-vmcatcher, cloudkeeper history/59d818b) ended with an extra blank line.
 *
 * Both: the `{"hv:imagelist": ...}` wrapper, exactly one `hv:endorser.hv:x509`, and `hv:images`
 * always present, even when empty (vmcaster omits it for an empty list; vmcatcher rejects that).
 */
import { VmgitError } from '../util/errors.js'
import { compareCodePoints, pyJsonNumber, pyJsonString } from './pyjson.js'
import type { HepixList, HepixObject, HepixScalar, Layout } from './types.js'

interface Style {
  unit: string
  sep: string
  final: string
}
const STYLES: Record<Layout, Style> = {
  vmcaster: { unit: '    ', sep: ', ', final: '' },
  appdb: { unit: '   ', sep: ',', final: '\n' },
}

/**
 * AppDB key order, taken from every AppDB-style sample (cloudkeeper imagelist01-04 and history,
 * structures/image_list07/10, snf-vmcatcher). `ad:swid` (appliance lists) takes the slot of `ad:vo`
 * (VO lists); `ad:base_mpuri`, `ad:appid` close an image. Rule for keys not listed here: they follow
 * the known keys, sorted by code point. This reproduces every sample byte for byte.
 */
export const APPDB_LIST_ORDER = [
  'dc:date:created', 'dc:date:expires', 'dc:description', 'dc:identifier', 'dc:source', 'dc:title',
  'ad:vo', 'ad:swid', 'hv:endorser', 'hv:images', 'hv:uri', 'hv:version',
] as const
export const APPDB_ENDORSER_ORDER = ['dc:creator', 'hv:ca', 'hv:dn', 'hv:email'] as const
export const APPDB_IMAGE_ORDER = [
  'dc:description', 'dc:identifier', 'ad:mpuri', 'dc:title', 'ad:group', 'hv:hypervisor', 'hv:format',
  'hv:ram_minimum', 'ad:ram_recommended', 'hv:core_minimum', 'ad:core_recommended', 'hv:size', 'hv:uri',
  'hv:version', 'dc:date:expires', 'sl:arch', 'sl:checksum:sha512', 'sl:comments', 'sl:os', 'sl:osname',
  'sl:osversion', 'ad:user:fullname', 'ad:user:guid', 'ad:user:uri', 'ad:base_mpuri', 'ad:appid',
] as const

const rankOf = (order: readonly string[]): Map<string, number> => new Map(order.map((k, i) => [k, i]))
const LIST_RANK = rankOf(APPDB_LIST_ORDER)
const ENDORSER_RANK = rankOf(APPDB_ENDORSER_ORDER)
const IMAGE_RANK = rankOf(APPDB_IMAGE_ORDER)

/** Keys in AppDB order: the known ones by rank, then the rest by code point. */
function byRank(rank: Map<string, number>): (a: string, b: string) => number {
  return (a, b) => {
    const ra = rank.get(a) ?? Infinity
    const rb = rank.get(b) ?? Infinity
    if (ra !== rb) return ra < rb ? -1 : 1
    return compareCodePoints(a, b) // both unknown: code point order
  }
}

type KeyOrder = (keys: string[]) => string[]

/** Sort keys, memoised per key sequence: the images of one list nearly always share their keys. */
function memoOrder(compare: (a: string, b: string) => number): KeyOrder {
  const cache = new Map<string, string[]>()
  return (keys) => {
    const id = JSON.stringify(keys)
    let sorted = cache.get(id)
    if (sorted === undefined) {
      sorted = [...keys].sort(compare)
      if (cache.size < 1000) cache.set(id, sorted)
    }
    return sorted
  }
}

interface Orders {
  list: KeyOrder
  endorser: KeyOrder
  image: KeyOrder
}
const ordersFor = (layout: Layout): Orders =>
  layout === 'appdb'
    ? { list: memoOrder(byRank(LIST_RANK)), endorser: memoOrder(byRank(ENDORSER_RANK)), image: memoOrder(byRank(IMAGE_RANK)) }
    : { list: memoOrder(compareCodePoints), endorser: memoOrder(compareCodePoints), image: memoOrder(compareCodePoints) }

const join = (prefix: string, key: string): string => (prefix === '' ? key : `${prefix}/${key}`)

function checkScalar(v: unknown, prefix: string, key: string): HepixScalar {
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v
  const path = join(prefix, key)
  throw new VmgitError('BAD_VALUE', `${path} is ${v === null ? 'null' : typeof v}; image list values must be strings or finite numbers`, {
    details: { path },
  })
}

// hv:size: vmcaster casts it with int(); a digit string is converted (leading zeros dropped, as
// int() does), anything else is refused.
function hvSizeInt(v: HepixScalar, path: string): string {
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return BigInt(v).toString()
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v)
  throw new VmgitError(
    'BAD_HV_SIZE',
    `${path} is ${JSON.stringify(v)}; it must be the image file's size in bytes as a whole number (e.g. 2147483648)`,
    { details: { path } },
  )
}

/** The JSON text of one scalar in the given layout. */
function scalarText(obj: HepixObject, key: string, prefix: string, layout: Layout, isImage: boolean): string {
  const v = checkScalar(obj[key], prefix, key)
  if (isImage && layout === 'vmcaster' && key === 'hv:size') return hvSizeInt(v, join(prefix, key))
  if (typeof v === 'string') return pyJsonString(v)
  return layout === 'appdb' ? '"' + pyJsonNumber(v) + '"' : pyJsonNumber(v) // appdb: every value is a string
}

/** `{ "k": v, ... }` from already rendered `"k": v` members, opening at the current position. */
function objectText(members: string[], indent: string, st: Style): string {
  if (members.length === 0) return '{}'
  const inner = indent + st.unit
  return '{\n' + inner + members.join(st.sep + '\n' + inner) + '\n' + indent + '}'
}

function scalarMembers(obj: HepixObject, keys: string[], prefix: string, layout: Layout, isImage: boolean): string[] {
  return keys.map((key) => pyJsonString(key) + ': ' + scalarText(obj, key, prefix, layout, isImage))
}

/** Render a list in the given layout; the exact bytes to sign (see module comment). */
export function renderList(list: HepixList, layout: Layout): string {
  const st = STYLES[layout]
  if (st === undefined) throw new VmgitError('BAD_LAYOUT', `unknown layout ${JSON.stringify(layout)}; use vmcaster or appdb`)
  for (const reserved of ['hv:endorser', 'hv:images'])
    if (Object.prototype.hasOwnProperty.call(list.list, reserved))
      throw new VmgitError('RESERVED_KEY', `${reserved} is structural and cannot be set as a list key; set the endorser or images instead`, {
        details: { path: reserved },
      })
  const orders = ordersFor(layout)
  const u = st.unit
  // depth: 0 top, 1 hv:imagelist members, 2 hv:x509 / image entries, 3 hv:image / x509 members, 4 image members
  const endorser = objectText(scalarMembers(list.endorser, orders.endorser(Object.keys(list.endorser)), 'hv:endorser/hv:x509', layout, false), u.repeat(3), st)
  const endorserText = objectText(['"hv:x509": ' + endorser], u.repeat(2), st)
  const keys = orders.list([...Object.keys(list.list), 'hv:endorser', 'hv:images'])
  // hv:images is spliced in at the end so the large output is copied once; a raw NUL never occurs
  // in the rendered text (control characters are always escaped), so it is a safe placeholder.
  const members = keys.map((key) => {
    const text = key === 'hv:endorser' ? endorserText : key === 'hv:images' ? '\u0000' : scalarText(list.list, key, '', layout, false)
    return pyJsonString(key) + ': ' + text
  })
  const [before = '', after = ''] = (objectText(['"hv:imagelist": ' + objectText(members, u, st)], '', st) + st.final).split('\u0000')
  if (list.images.length === 0) return before + '[]' + after
  const between = st.sep + '\n' + u.repeat(3)
  const parts = [before, '[\n' + u.repeat(3)]
  list.images.forEach((img, i) => {
    const inner = objectText(scalarMembers(img, orders.image(Object.keys(img)), 'hv:images/' + i, layout, true), u.repeat(4), st)
    if (i > 0) parts.push(between)
    parts.push(objectText(['"hv:image": ' + inner], u.repeat(3), st))
  })
  parts.push('\n' + u.repeat(2) + ']', after)
  return parts.join('')
}
