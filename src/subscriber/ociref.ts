import { usageError } from '../util/errors.js'

/**
 * Where a subscriber meets OCI registries (issue 17), as data: the subscription location
 * `oci://HOST[:PORT]/PREFIX/<list name>[:TAG]` and the pin a signed list gives each image
 * (`vmgit:oci:reference` = `HOST[:PORT]/REPO@sha256:<hex>`, `vmgit:oci:digest` = `sha256:<hex>`).
 * Pure: parsing and checks only; src/oci/ talks to registries.
 *
 * Parsing is strict (the grammar of distribution's reference package, lower-case repositories):
 * a location that a registry could read two ways is refused, never guessed at.
 */
export const LIST_ARTIFACT_TYPE = 'application/vnd.hepix.imagelist.v1+smime'
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const REFERENCE_KEY = 'vmgit:oci:reference'
export const DIGEST_KEY = 'vmgit:oci:digest'

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const HOST = `(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::(?<port>[0-9]{1,5}))?`
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const REPO = `${COMPONENT}(?:/${COMPONENT})*`
const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}'
/** Only sha256 digests: the algorithm every registry computes (a sha512 digest is refused, not guessed at). */
export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/

const LOCATION = new RegExp(`^(?<registry>${HOST})/(?<repo>${REPO})(?::(?<tag>${TAG}))?$`)
const PINNED = new RegExp(`^(?<registry>${HOST})/(?<repo>${REPO})@(?<digest>sha256:[0-9a-f]{64})$`)

export interface OciListLocation {
  /** HOST[:PORT] as given (host names compared case-insensitively, stored lower-case) */
  registry: string
  repository: string
  tag: string
  /** canonical form, tag explicit: oci://registry/repository:tag (no credentials) */
  url: string
  username?: string
  password?: string
}

const portOk = (p: string | undefined): boolean => p === undefined || (Number(p) >= 1 && Number(p) <= 65535 && !/^0/.test(p))

/** `oci://[user:pass@]HOST[:PORT]/PREFIX/<list name>[:TAG]` → its parts; the tag defaults to `latest`. */
export function parseOciLocation(location: string): OciListLocation {
  const bad = (why: string) =>
    usageError('BAD_OCI_URL', `${JSON.stringify(redactOci(location))} is not a registry list location (${why}); write oci://HOST[:PORT]/PREFIX/<list name>[:TAG], e.g. oci://registry.example.org/vm/prod-list:latest`)
  if (!location.startsWith('oci://')) throw bad('it must start with oci://')
  let rest = location.slice('oci://'.length)
  let username: string | undefined
  let password: string | undefined
  const at = rest.indexOf('@')
  const slash = rest.indexOf('/')
  if (at !== -1 && (slash === -1 || at < slash)) {
    // credentials as for https list URLs: kept in the database, sent only to this registry, never printed
    const userinfo = rest.slice(0, at)
    rest = rest.slice(at + 1)
    const colon = userinfo.indexOf(':')
    try {
      username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon))
      if (colon !== -1) password = decodeURIComponent(userinfo.slice(colon + 1))
    } catch {
      throw bad('its user name or password is not valid percent-encoding')
    }
  }
  if (/[?#\s]/.test(rest)) throw bad('no query, fragment or white space is allowed')
  if (rest.includes('@')) throw bad('a list is subscribed by tag, not by digest: a digest would freeze the list until it expires')
  const m = LOCATION.exec(rest)
  if (!m?.groups) throw bad('repository names are lower-case components separated by single slashes, tags [A-Za-z0-9_][A-Za-z0-9._-]*')
  if (!portOk(m.groups.port)) throw bad('the port is not between 1 and 65535')
  if (m.groups.repo!.length > 255) throw bad('the repository name is longer than 255 characters')
  const registry = m.groups.registry!.toLowerCase()
  const tag = m.groups.tag ?? 'latest'
  return { registry, repository: m.groups.repo!, tag, url: `oci://${registry}/${m.groups.repo}:${tag}`, ...(username ? { username } : {}), ...(password ? { password } : {}) }
}

export const isOciLocation = (s: string): boolean => /^oci:\/\//i.test(s)

/** An oci:// location without its credentials (messages, `sub show`). */
export const redactOci = (s: string): string => s.replace(/^(oci:\/\/)[^/@]*@/i, '$1')

export interface OciPin {
  registry: string
  repository: string
  /** sha256:<hex> of the image manifest's bytes */
  digest: string
  /** the reference as signed: registry/repository@digest */
  reference: string
}

/**
 * The pin an image entry carries, if any. `undefined`: the entry pins nothing (an older list). A
 * malformed or self-contradicting pin (the reference's digest is not `vmgit:oci:digest`) is an
 * error the caller charges to that image: it is never half-used.
 */
export function pinOf(entry: Record<string, unknown>): OciPin | undefined | { problem: string } {
  const ref = entry[REFERENCE_KEY]
  const digest = entry[DIGEST_KEY]
  if (ref === undefined && digest === undefined) return undefined
  if (typeof ref !== 'string' || typeof digest !== 'string') return { problem: `${REFERENCE_KEY} and ${DIGEST_KEY} must both be strings` }
  if (!SHA256_DIGEST.test(digest)) return { problem: `${DIGEST_KEY} ${JSON.stringify(digest)} is not sha256:<64 lower-case hex digits>` }
  const m = PINNED.exec(ref)
  if (!m?.groups || !portOk(m.groups.port) || m.groups.repo!.length > 255) return { problem: `${REFERENCE_KEY} ${JSON.stringify(ref)} is not HOST[:PORT]/REPOSITORY@sha256:<hex>` }
  // docker's rule: a first component without '.' or ':' (and not localhost) would be read as a Docker Hub repository
  if (!/[.:]/.test(m.groups.registry!) && m.groups.registry!.toLowerCase() !== 'localhost') return { problem: `${REFERENCE_KEY} ${JSON.stringify(ref)} does not start with a registry host (a name with a dot or a port, or localhost)` }
  if (m.groups.digest !== digest) return { problem: `${REFERENCE_KEY} names ${m.groups.digest} but ${DIGEST_KEY} is ${digest}` }
  return { registry: m.groups.registry!.toLowerCase(), repository: m.groups.repo!, digest, reference: ref }
}

/** A manifest is small (distribution refuses more than 4 MiB); more is refused before parsing. */
export const MANIFEST_CAP = 4 * 1024 * 1024

export interface Descriptor {
  mediaType: string
  /** sha256 hex, without the algorithm */
  sha256: string
  size: number
}

type Fail = (why: string) => Error

/**
 * The one layer an OCI image manifest names, after the checks both kinds of artifact share:
 * strict JSON (a duplicate key could be read two ways), schemaVersion 2, the OCI image manifest
 * media type, exactly one layer, a sha256 digest and a safe integer size.
 */
function oneLayer(bytes: Buffer, fail: Fail, parse: (text: string) => unknown): { manifest: Record<string, unknown>; layer: Descriptor } {
  if (bytes.length > MANIFEST_CAP) throw fail(`the manifest is larger than ${MANIFEST_CAP} bytes`)
  let m: unknown
  try {
    m = parse(bytes.toString('utf8'))
  } catch (e) {
    throw fail(`the manifest is not strict JSON (${(e as Error).message})`)
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw fail('the manifest is not a JSON object')
  const o = m as Record<string, unknown>
  if (o.schemaVersion !== 2) throw fail('schemaVersion is not 2')
  if (o.mediaType !== OCI_MANIFEST) throw fail(`mediaType is ${JSON.stringify(o.mediaType)}, not ${OCI_MANIFEST}`)
  const layers = o.layers
  if (!Array.isArray(layers) || layers.length !== 1) throw fail(`it must name exactly one layer (it names ${Array.isArray(layers) ? layers.length : 'none'})`)
  const l = layers[0] as Record<string, unknown>
  if (typeof l !== 'object' || l === null) throw fail('its layer is not a descriptor')
  if (typeof l.mediaType !== 'string') throw fail('its layer has no mediaType')
  if (typeof l.digest !== 'string' || !SHA256_DIGEST.test(l.digest)) throw fail(`its layer digest ${JSON.stringify(l.digest)} is not sha256:<64 lower-case hex digits>`)
  if (typeof l.size !== 'number' || !Number.isSafeInteger(l.size) || l.size < 0) throw fail('its layer size is not a non-negative integer')
  return { manifest: o, layer: { mediaType: l.mediaType, sha256: l.digest.slice('sha256:'.length), size: l.size } }
}

/** The signed list's layer in a list artifact (artifactType and layer type both the S/MIME list type). */
export function listLayer(bytes: Buffer, cap: number, fail: Fail, parse: (text: string) => unknown): Descriptor {
  const { manifest, layer } = oneLayer(bytes, fail, parse)
  if (manifest.artifactType !== LIST_ARTIFACT_TYPE) throw fail(`artifactType is ${JSON.stringify(manifest.artifactType)}, not ${LIST_ARTIFACT_TYPE}`)
  if (layer.mediaType !== LIST_ARTIFACT_TYPE) throw fail(`its layer is ${JSON.stringify(layer.mediaType)}, not ${LIST_ARTIFACT_TYPE}`)
  // S11: the descriptor's size is checked against the cap before a byte of the blob is asked for
  if (layer.size > cap) throw fail(`its layer claims ${layer.size} bytes, more than the ${cap}-byte list cap (attack S11)`)
  return layer
}

/** The image bytes' layer in a pinned image manifest: its size must be the list's hv:size exactly. */
export function imageLayer(bytes: Buffer, size: number, fail: Fail, parse: (text: string) => unknown): Descriptor {
  const { layer } = oneLayer(bytes, fail, parse)
  if (layer.size !== size) throw fail(`its layer is ${layer.size} bytes but the signed hv:size is ${size}`)
  return layer
}
