import { createHash } from 'node:crypto'
import { parseStrictJson } from '../imagelist/json.js'
import type { Fetcher, FetchLimits, OpenResponse } from '../net/http.js'
import { MEDIA, RegistryClient } from '../oci/client.js'
import { VmgitError } from '../util/errors.js'
import type { BlobSource } from './download.js'
import type { ListFetch, ListSource } from './listfetch.js'
import { imageLayer, listLayer, type OciPin, parseOciLocation } from './ociref.js'

/**
 * The subscriber's two uses of a registry (issue 17), on top of the one registry client (src/oci/):
 *
 * 1. A list kept in a registry (`oci://HOST[:PORT]/PREFIX/<list>[:TAG]`): the tag is resolved to a
 *    manifest, whose sha256 is computed over the bytes received (a Docker-Content-Digest that
 *    disagrees is refused); it must be a list artifact with exactly one layer of the S/MIME list
 *    type, no larger than the list cap (S11), parsed as strict JSON (a duplicate key could be read two
 *    ways); the blob is fetched by that digest, read to its descriptor's size + 1 at most, and its
 *    sha256 and size checked. The bytes then take the same path as an HTTP list's (verify.ts:
 *    signature, chain, CRL, endorser, identifier, expiry, version/rollback). The manifest digest is
 *    the list's "ETag": while the tag still names it, the list is unchanged (a 304).
 * 2. An image a signed list pins (`vmgit:oci:reference` + `vmgit:oci:digest`): the manifest is fetched
 *    BY THAT DIGEST, never by a tag, and refused unless the sha256 of its bytes is the pin; it must
 *    name exactly one layer of exactly hv:size bytes; the layer is then a BlobSource for download.ts,
 *    which checks its sha256, the list's sha512 and hv:size in one pass with the caps, resume and
 *    crash safety of every download.
 *
 * A tag re-pointed, other bytes pushed under a tag, or an image deleted can make a sync fail; none
 * can make it accept anything the signed list does not name.
 */
const hex256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/**
 * One registry client per registry host, address rule and run (its token cache), on the run's fetcher
 * (trust, proxies). S32: the registry of a subscription the operator named is reached like a list URL
 * (`origin`); one a signed list names on another host (a pinned image) like an image's hv:uri
 * (`signed`), and without the VMGIT_REGISTRY_* credentials (O09: they are the operator's
 * registry's, never a list's to send elsewhere).
 */
const clients = new WeakMap<Fetcher, Map<string, RegistryClient>>()
function clientFor(fetcher: Fetcher, registry: string, limits: FetchLimits, addressRule: 'origin' | 'signed'): RegistryClient {
  let m = clients.get(fetcher)
  if (!m) clients.set(fetcher, (m = new Map()))
  let c = m.get(`${addressRule} ${registry}`)
  if (!c) m.set(`${addressRule} ${registry}`, (c = new RegistryClient(registry, { fetcher, limits, addressRule, envCredentials: addressRule === 'origin' })))
  return c
}

const invalid = (what: string) => (why: string): VmgitError => new VmgitError('OCI_MANIFEST_INVALID', `${what}: ${why}; refused (nothing from it was used)`)

/** Read a small blob whole: at most `size` bytes (the read stops at size + 1), sha256 and size checked. */
async function readBlob(r: OpenResponse, expected: { sha256: string; size: number }, shown: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const c of r.body) {
    total += c.length
    if (total > expected.size) {
      r.close()
      throw new VmgitError('OCI_BLOB_TOO_LARGE', `${shown} sent more than the ${expected.size} bytes its descriptor names; the transfer was stopped and nothing used`)
    }
    chunks.push(c)
  }
  const bytes = Buffer.concat(chunks, total)
  if (total !== expected.size) throw new VmgitError('OCI_BLOB_SIZE', `${shown} sent ${total} bytes, but its descriptor names ${expected.size}; refused`)
  if (hex256(bytes) !== expected.sha256) throw new VmgitError('OCI_BLOB_DIGEST_MISMATCH', `${shown}: the bytes do not hash to sha256:${expected.sha256}; refused (the registry or a proxy changed them)`)
  return bytes
}

/** Fetch a list kept in a registry (1. above). `src.etag` holds the manifest digest last seen. */
export async function fetchOciList(fetcher: Fetcher, src: ListSource, opts: { limits: FetchLimits; cap: number; conditional: boolean }): Promise<ListFetch> {
  const loc = parseOciLocation(src.url)
  const client = clientFor(fetcher, loc.registry, opts.limits, 'origin')
  const m = await client.getManifest(loc, loc.tag, [MEDIA.manifest])
  if (opts.conditional && src.etag === m.digest) return { kind: 'unchanged' }
  const layer = listLayer(m.bytes, opts.cap, invalid(`the list artifact ${loc.url} (${m.digest})`), parseStrictJson)
  const digest = `sha256:${layer.sha256}`
  const { response } = await client.openBlob(loc, digest, 0, opts.limits)
  const bytes = await readBlob(response, layer, `${loc.url} layer ${digest}`)
  return { kind: 'body', bytes, etag: m.digest }
}

/** An image's registry source (2. above): the pinned manifest checked, its layer as a BlobSource. */
export async function pinnedBlob(fetcher: Fetcher, pin: OciPin, size: number, limits: FetchLimits): Promise<BlobSource> {
  // O09: the operator's own registry like a list URL, with its credentials; any other host a signed list names like an hv:uri, without them
  const client = clientFor(fetcher, pin.registry, limits, pin.named === true ? 'origin' : 'signed')
  const shown = `oci://${pin.reference}`
  // by digest: the client refuses bytes whose sha256 is not the pin, whatever the registry's headers say
  const m = await client.getManifest(pin, pin.digest, [MEDIA.manifest])
  const layer = imageLayer(m.bytes, size, invalid(`the pinned image manifest ${shown}`), parseStrictJson)
  const digest = `sha256:${layer.sha256}`
  return {
    shown: `${shown} layer ${digest}`,
    sha256: layer.sha256,
    open: async (offset, l) => (await client.openBlob(pin, digest, offset, l)).response,
  }
}
