import { type OciRepo, parsePinned, parseReference } from '../oci/reference.js'
import { usageError } from '../util/errors.js'

/**
 * Where a subscriber meets OCI registries (issue 17), as data: the subscription location
 * `oci://HOST[:PORT]/PREFIX/<list name>[:TAG]` and the pin a signed list gives each image
 * (`vmgit:oci:reference` = `HOST[:PORT]/REPO@sha256:<hex>`, `vmgit:oci:digest` = `sha256:<hex>`).
 * Pure: parsing and checks only; src/oci/ talks to registries.
 *
 * Parsing is src/oci/reference.ts's (strict: a location a registry could read two ways is refused).
 */
export const LIST_ARTIFACT_TYPE = 'application/vnd.hepix.imagelist.v1+smime'
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const REFERENCE_KEY = 'vmgit:oci:reference'
export const DIGEST_KEY = 'vmgit:oci:digest'

/** Only sha256 digests: the algorithm every registry computes (a sha512 digest is refused, not guessed at). */
export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/

export interface OciListLocation extends OciRepo {
  tag: string
  /** canonical form, tag explicit: oci://registry/repository:tag */
  url: string
}

/**
 * `oci://HOST[:PORT]/PREFIX/<list name>[:TAG]` → its parts (src/oci/reference.ts's grammar), the tag
 * defaulting to `latest`. A digest is refused: it would freeze the list until it expires. Credentials
 * never sit in the location (src/oci/credentials.ts finds them in the environment or an auth.json).
 */
export function parseOciLocation(location: string): OciListLocation {
  const r = parseReference(location)
  if (r.digest !== undefined) {
    throw usageError('OCI_REFERENCE_INVALID', `${JSON.stringify(location)}: a list is subscribed by tag, not by digest (a digest would freeze the list until it expires); give oci://HOST[:PORT]/PREFIX/<list name>[:TAG]`)
  }
  const tag = r.tag ?? 'latest'
  return { registry: r.registry, repository: r.repository, tag, url: `oci://${r.registry}/${r.repository}:${tag}` }
}

export const isOciLocation = (s: string): boolean => /^oci:\/\//i.test(s)

export interface OciPin extends OciRepo {
  /** sha256:<hex> of the image manifest's bytes */
  digest: string
  /** the reference as signed: registry/repository@digest */
  reference: string
  /**
   * O09: the pin's registry is one the operator named (the host of an oci:// location of the
   * image's subscription): reached like a list URL (`origin`), with VMGIT_REGISTRY_* credentials.
   * Otherwise (another host a signed list names) like an hv:uri (`signed`), with only the
   * credentials an auth.json keys for that host. Set by sources.ts; absent means not named.
   */
  named?: boolean
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
  let p: ReturnType<typeof parsePinned>
  try {
    p = parsePinned(ref)
  } catch (e) {
    return { problem: (e as Error).message }
  }
  // docker's rule: a first component without '.' or ':' (and not localhost) would be read as a Docker Hub repository
  if (!/[.:[]/.test(p.registry) && p.registry !== 'localhost') return { problem: `${REFERENCE_KEY} ${JSON.stringify(ref)} does not start with a registry host (a name with a dot or a port, or localhost)` }
  if (p.digest !== digest) return { problem: `${REFERENCE_KEY} names ${p.digest} but ${DIGEST_KEY} is ${digest}` }
  return { registry: p.registry, repository: p.repository, digest, reference: ref }
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
