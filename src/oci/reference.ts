/**
 * OCI references: `oci://HOST[:PORT]/PREFIX/NAME[:TAG|@sha256:<hex>]` (a subscription, a pinned image)
 * and `oci://HOST[:PORT]/PREFIX` (a publish destination). Every part is validated strictly against
 * the distribution grammar (docs: distribution/reference) so that a name is always safe to put in a
 * URL path and in a file name: lowercase path components of [a-z0-9] joined by one `.`, `_`, `__` or
 * dashes, never `..`, `%`, `\`, an empty component, user info, a query or a fragment. Only sha256
 * digests are accepted (the one algorithm the lists pin); a tag and a digest together are refused
 * (which one would win is the ambiguity an attacker wants).
 */
import { isIPv6 } from 'node:net'
import { redactText } from '../net/redact.js'
import { usageError } from '../util/errors.js'

export interface OciRepo {
  /** `host` or `host:port`, lowercase, as used in URLs and auth.json keys */
  registry: string
  /** the repository path inside the registry, e.g. `egi/ubuntu-22.04` */
  repository: string
}

export interface OciReference extends OciRepo {
  tag?: string
  /** `sha256:<64 lowercase hex>` */
  digest?: string
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
export const DIGEST = /^sha256:[a-f0-9]{64}$/
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
const IPV6 = /^\[[0-9a-f:.]+\]$/
/** distribution's limit on a repository name (host excluded) */
const MAX_REPOSITORY = 255

// redaction: the refused text is echoed without the user info a mistaken `oci://user:password@host` carries
const bad = (input: string, why: string) =>
  usageError('OCI_REFERENCE_INVALID', `${JSON.stringify(redactText(input.slice(0, 300)))} is not a valid OCI reference: ${why}; write oci://HOST[:PORT]/PREFIX/NAME[:TAG|@sha256:HEX]`)

export function isValidTag(tag: string): boolean {
  return TAG.test(tag)
}

export function isValidRepository(repo: string): boolean {
  return repo.length > 0 && repo.length <= MAX_REPOSITORY && repo.split('/').every((c) => COMPONENT.test(c))
}

/** `host[:port]`: a lowercase DNS name, IPv4 or bracketed IPv6 address, port 1-65535 without leading zeros. */
export function parseRegistryHost(hostPort: string, input = hostPort): string {
  const m = /^(\[[^\]]*\]|[^:]*)(?::([^:]*))?$/.exec(hostPort)
  if (!m) throw bad(input, `the host "${hostPort}" is not HOST or HOST:PORT`)
  const [, host = '', port] = m
  if (host !== host.toLowerCase()) throw bad(input, 'the host must be lowercase')
  if (!(HOSTNAME.test(host) || IPV4.test(host) || (IPV6.test(host) && isIPv6(host.slice(1, -1))))) throw bad(input, `"${host}" is not a host name or IP address`)
  // one reading only: a name a URL parser turns into another host (127.1, 0x7f.1, 2130706433 are 127.0.0.1) is refused
  if (!IPV6.test(host) && urlHostname(host) !== host) throw bad(input, `"${host}" is read as ${urlHostname(host) ?? 'an invalid address'} by URL parsers (a numeric last label is an IPv4 address); write the address itself`)
  if (port !== undefined && !(/^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535)) throw bad(input, `"${port}" is not a port (1-65535)`)
  return hostPort
}

/** How a WHATWG URL parser reads `host` (undefined: it refuses it). */
function urlHostname(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname
  } catch {
    return undefined
  }
}

function splitScheme(input: string): string {
  if (typeof input !== 'string' || !input.startsWith('oci://')) throw bad(String(input), 'it must start with oci://')
  // S-class: nothing a URL parser would reinterpret (user info, query, fragment, escapes, spaces, backslashes)
  if (/[@?#%\\\s]/.test(input.slice(6).replace(/@sha256:[a-f0-9]{64}$/, ''))) throw bad(input, 'it contains @, ?, #, %, \\ or white space')
  return input.slice(6)
}

/** Parse an image or list reference: `oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]` (REPO has at least one component). */
export function parseReference(input: string): OciReference {
  const rest = splitScheme(input)
  const slash = rest.indexOf('/')
  if (slash <= 0) throw bad(input, 'it names no repository after the host')
  const registry = parseRegistryHost(rest.slice(0, slash), input)
  let path = rest.slice(slash + 1)
  let digest: string | undefined
  let tag: string | undefined
  const at = path.indexOf('@')
  if (at >= 0) {
    digest = path.slice(at + 1)
    path = path.slice(0, at)
    if (!DIGEST.test(digest)) throw bad(input, 'the digest must be sha256: and 64 lowercase hex digits')
  }
  const colon = path.lastIndexOf(':')
  if (colon >= 0) {
    if (digest) throw bad(input, 'give a tag or a digest, not both')
    tag = path.slice(colon + 1)
    path = path.slice(0, colon)
    if (!TAG.test(tag)) throw bad(input, `"${tag}" is not a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`)
  }
  if (!isValidRepository(path)) throw bad(input, `"${path}" is not a repository path (lowercase components of a-z 0-9 separated by one . _ __ or dashes, joined by /, at most 255 characters)`)
  return { registry, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) }
}

/** Parse a publish destination `oci://HOST[:PORT]/PREFIX` (no tag, no digest; PREFIX may be empty). */
export function parseDestination(input: string): OciRepo {
  const rest = splitScheme(input).replace(/\/$/, '')
  const slash = rest.indexOf('/')
  const registry = parseRegistryHost(slash < 0 ? rest : rest.slice(0, slash), input)
  const prefix = slash < 0 ? '' : rest.slice(slash + 1)
  if (prefix !== '' && !isValidRepository(prefix)) throw bad(input, `"${prefix}" is not a repository prefix (lowercase components of a-z 0-9 separated by one . _ __ or dashes, joined by /)`)
  if (prefix.includes('@') || /:/.test(prefix)) throw bad(input, 'a destination carries no tag or digest')
  return { registry, repository: prefix }
}

/** The repository for `name` under a destination prefix; `name` (an image or list YAML file name) must be one valid component. */
export function childRepository(dest: OciRepo, name: string): OciRepo {
  if (!COMPONENT.test(name)) {
    throw usageError('OCI_NAME_INVALID', `"${name}" cannot name an OCI repository: registry names are lowercase a-z 0-9 separated by one . _ __ or dashes; rename the YAML file`)
  }
  const repository = dest.repository ? `${dest.repository}/${name}` : name
  if (repository.length > MAX_REPOSITORY) throw usageError('OCI_NAME_INVALID', `${dest.registry}/${repository} is longer than ${MAX_REPOSITORY} characters; use a shorter prefix or name`)
  return { registry: dest.registry, repository }
}

/** `HOST[:PORT]/REPO[:TAG][@DIGEST]` without the scheme (the form lists pin: `vmgit:oci:reference`). */
export function formatReference(r: OciReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`
}

/** The pinned form of `vmgit:oci:reference` back into parts; refuses anything but HOST[:PORT]/REPO@sha256:HEX. */
export function parsePinned(pinned: string): OciReference & { digest: string } {
  const r = parseReference(`oci://${pinned}`)
  if (!r.digest || r.tag !== undefined) throw bad(pinned, 'a pinned reference is HOST[:PORT]/REPO@sha256:HEX')
  return r as OciReference & { digest: string }
}
