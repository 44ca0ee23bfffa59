import dns from 'node:dns'
import net from 'node:net'
import { VmgitError } from '../util/errors.js'

/**
 * Attack S32 (SSRF): an image URL, or a redirect from it, must not reach this host's or this
 * network's services (loopback, link-local such as the cloud metadata address 169.254.169.254,
 * RFC 1918, ULA, CGNAT, the unspecified address) UNLESS the signed hv:uri itself pointed into
 * that range. The address is checked when the socket connects (a `lookup` hook on the request's
 * agent), so a DNS answer that changes between a check and the connection (rebinding) cannot
 * slip through, and every address a name resolves to is checked.
 *
 * The rule (decided here, where the spec leaves a choice):
 * - Each address falls in one named range (`classify`); everything else is `public`.
 * - The range a URL "points into" is the range of its host when the host is an IP literal, and
 *   `loopback` for `localhost` / `*.localhost` (RFC 6761). A host NAME points into `public` only:
 *   DNS is not signed, so a signed name that resolves to a private address is refused (a
 *   publisher serving images inside a site names the address itself).
 * - A connection is allowed to a public address, or to an address in exactly the range the first
 *   URL points into. A redirect from http://127.0.0.1:A/ to http://[::1]:B/ or http://127.0.0.2/
 *   stays inside `loopback` (this host) and is allowed; from 10.1.2.3 to 192.168.1.1 is a range
 *   change (`private-10` → `private-192`) and refused, as is any move from a public or private
 *   address to loopback, link-local or the metadata service.
 * - IPv4 embedded in IPv6 (::ffff:a.b.c.d, ::a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
 *   6to4 2002::/16) is judged by the IPv4 address; multicast and reserved ranges never pass
 *   unless named by the first URL.
 * - List URLs are chosen by the operator, not by a list: for them (rule `origin`) a host name is
 *   trusted to resolve where the operator's DNS says, and that first connection's range is the
 *   one redirects may stay in.
 * - Through an http(s) proxy the proxy resolves the target; only IP-literal targets are checked.
 * - The operator may open more ranges for a site that serves images from inside its network
 *   (`vmgit sync --allow-range private-10`); nothing a list says can.
 */
export const ADDRESS_RANGES = [
  'public', 'loopback', 'unspecified', 'link-local-v4', 'link-local-v6', 'private-10', 'private-172', 'private-192',
  'cgnat', 'ula', 'site-local', 'multicast', 'reserved',
] as const
export type AddressRange = (typeof ADDRESS_RANGES)[number]

function classifyV4(b: readonly number[]): AddressRange {
  const [a = 0, c = 0, d = 0] = b
  if (a === 0) return 'unspecified'
  if (a === 127) return 'loopback'
  if (a === 10) return 'private-10'
  if (a === 172 && c >= 16 && c <= 31) return 'private-172'
  if (a === 192 && c === 168) return 'private-192'
  if (a === 100 && c >= 64 && c <= 127) return 'cgnat'
  if (a === 169 && c === 254) return 'link-local-v4'
  if (a >= 224 && a <= 239) return 'multicast'
  if (a >= 240) return 'reserved'
  // IETF protocol assignments, documentation, benchmarking
  if ((a === 192 && c === 0 && (d === 0 || d === 2)) || (a === 198 && c === 51 && d === 100) || (a === 203 && c === 0 && d === 113) || (a === 198 && (c === 18 || c === 19))) return 'reserved'
  return 'public'
}

function parseV4(s: string): number[] | undefined {
  const parts = s.split('.')
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined
  return parts.map(Number)
}

/** The 16 bytes of an IPv6 address (with an optional trailing dotted IPv4), or undefined. */
function parseV6(s: string): number[] | undefined {
  let text = s.toLowerCase()
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(text.slice(lastColon + 1))
    if (!v4) return undefined
    tail = v4
    text = text.slice(0, lastColon + 1) + '0:0'
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)))
  const head = groups(halves[0]!)
  const rest = halves.length === 2 ? groups(halves[1]!) : []
  const fill = 8 - head.length - rest.length
  if ((halves.length === 1 && fill !== 0) || fill < 0) return undefined
  const all = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest]
  if (all.length !== 8 || all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return undefined
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff])
  if (tail.length) bytes.splice(12, 4, ...tail)
  return bytes
}

function classifyV6(b: number[]): AddressRange {
  const zeros = (from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0)
  const v4 = (at: number): AddressRange => classifyV4(b.slice(at, at + 4))
  if (zeros(0, 16)) return 'unspecified'
  if (zeros(0, 15) && b[15] === 1) return 'loopback'
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12) // ::ffff:a.b.c.d
  if (zeros(0, 12)) return v4(12) // ::a.b.c.d (deprecated IPv4-compatible)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && (zeros(4, 12) || (b[4] === 0 && b[5] === 1))) return v4(12) // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2) // 6to4
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x00 && b[3] === 0x00) return classifyV4(b.slice(12, 16).map((x) => x ^ 0xff)) // Teredo client
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'link-local-v6'
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0xc0) return 'site-local'
  if (((b[0] ?? 0) & 0xfe) === 0xfc) return 'ula'
  if (b[0] === 0xff) return 'multicast'
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'reserved' // documentation
  if (b[0] === 0x01 && zeros(1, 8)) return 'reserved' // discard-only 100::/64
  return 'public'
}

/** The range of an IP address (v4, v6, bracketed v6); `reserved` for anything that does not parse. */
export function classify(address: string): AddressRange {
  const a = address.replace(/^\[|\]$/g, '')
  const v4 = net.isIPv4(a) ? parseV4(a) : undefined
  if (v4) return classifyV4(v4)
  const v6 = a.includes(':') ? parseV6(a) : undefined
  return v6 ? classifyV6(v6) : 'reserved'
}

/** The range a URL itself points into (see the module comment). */
export function rangeOfUrl(u: URL): AddressRange {
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (net.isIP(host)) return classify(host)
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.') return 'loopback'
  return 'public'
}

/** Is `host` an IP literal (as URL.hostname gives it, IPv6 bracketed)? */
export const isIpLiteral = (host: string): boolean => net.isIP(host.replace(/^\[|\]$/g, '')) !== 0

/** Is a connection to `address` allowed when the first URL points into `range` (undefined: anything goes)? */
export function allowed(address: string, range: AddressRange | undefined, extra: readonly string[] = []): boolean {
  if (range === undefined) return true
  const r = classify(address)
  return r === 'public' || r === range || extra.includes(r)
}

export function refused(what: string, address: string, range: AddressRange, first?: string): VmgitError {
  return new VmgitError('ADDRESS_NOT_ALLOWED', `${what} leads to ${address} (${classify(address)}), outside the range the ${first ? `first URL ${first}` : 'signed URL'} points into (${range}); refused without connecting (attack S32: server-side request forgery). Only public addresses, or the range the signed URL names itself, are fetched (an operator opens more with --allow-range)`, { details: { address, range: classify(address), allowed: range } })
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void

/**
 * A `lookup` for net.connect that resolves with dns.lookup and refuses the connection if ANY
 * address of the answer is outside `range` (a mixed answer is how rebinding is usually tried).
 */
export type Resolver = (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void

export function checkingLookup(range: AddressRange | undefined, extra: readonly string[], onRefused: (address: string, hostname: string) => VmgitError, resolve: Resolver = dns.lookup) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '')
      const list = addresses as dns.LookupAddress[]
      const bad = list.find((a) => !allowed(a.address, range, extra))
      if (bad && range !== undefined) return callback(onRefused(bad.address, hostname) as unknown as NodeJS.ErrnoException, '')
      if (options.all) return callback(null, list)
      const first = list[0]
      if (!first) return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), '')
      callback(null, first.address, first.family)
    })
  }
}
