import { createHash } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { addPinnedImage, type Evil, type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const INDEX = 'application/vnd.oci.image.index.v1+json'
const LIST = 'application/vnd.hepix.imagelist.v1+smime'
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

type Doc = Record<string, unknown> & { layers: Record<string, unknown>[] }

describe.skipIf(skip.skip)(`O11 a registry that answers manifest and blob requests with something else ${skip.reason}`, () => {
  let b: OciBaseline
  let n = 1
  beforeAll(async () => {
    b = await ociSubscribed()
  }, 120_000)
  afterAll(async () => b.ow.close())
  afterEach(() => b.ow.clearEvil())

  /** The list artifact's manifest, changed by `edit`, served as an OCI manifest for the subscribed tag. */
  const listManifest = (edit: (m: Doc) => void): Evil => {
    const m = JSON.parse(b.list.manifest.toString()) as Doc
    edit(m)
    return { body: Buffer.from(JSON.stringify(m)), headers: { 'content-type': MANIFEST } }
  }
  const html = Buffer.from('<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>')

  describe.each<[string, () => Evil, string]>([
    ['304 Not Modified', () => ({ status: 304, body: Buffer.alloc(0) }), 'OCI_HTTP_STATUS'],
    ['206 with part of the manifest', () => ({ status: 206, body: b.list.manifest.subarray(0, 40), headers: { 'content-type': MANIFEST, 'content-range': `bytes 0-39/${b.list.manifest.length}` } }), 'OCI_HTTP_STATUS'],
    ['a 200 HTML error page', () => ({ body: html, headers: { 'content-type': 'text/html' } }), 'OCI_MANIFEST_INVALID'],
    ['the real manifest served as text/html', () => ({ body: b.list.manifest, headers: { 'content-type': 'text/html' } }), 'OCI_MEDIA_TYPE'],
    ['the real manifest served as an index', () => ({ body: b.list.manifest, headers: { 'content-type': INDEX } }), 'OCI_MEDIA_TYPE'],
    ['an index naming the list artifact', () => ({ body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: b.list.digest, size: b.list.manifest.length, artifactType: LIST }] })), headers: { 'content-type': INDEX } }), 'OCI_MEDIA_TYPE'],
    ['a Docker-Content-Digest of other bytes', () => ({ body: b.list.manifest, headers: { 'content-type': MANIFEST, 'docker-content-digest': sha256(Buffer.from('other')) } }), 'OCI_DIGEST_MISMATCH'],
    ['a sha512 Docker-Content-Digest', () => ({ body: b.list.manifest, headers: { 'content-type': MANIFEST, 'docker-content-digest': `sha512:${'ab'.repeat(64)}` } }), 'OCI_DIGEST_MISMATCH'],
    ['a manifest over 4 MiB', () => ({ body: Buffer.concat([b.list.manifest.subarray(0, -1), Buffer.from(`,"annotations":{"x":"${'a'.repeat(4 * 1024 * 1024)}"}}`)]), headers: { 'content-type': MANIFEST } }), 'OCI_MANIFEST_TOO_LARGE'],
    ['schemaVersion 1', () => listManifest((m) => (m.schemaVersion = 1)), 'OCI_MANIFEST_INVALID'],
    ['a duplicate key (two readers, two layers)', () => ({ body: Buffer.from(b.list.manifest.toString().replace('"layers":', '"layers":[],"layers":')), headers: { 'content-type': MANIFEST } }), 'OCI_MANIFEST_INVALID'],
    ['a list artifact with no layer', () => listManifest((m) => (m.layers = [])), 'OCI_MANIFEST_INVALID'],
    ['a list artifact with two layers', () => listManifest((m) => m.layers.push({ ...m.layers[0]! })), 'OCI_MANIFEST_INVALID'],
    ['a layer of another media type', () => listManifest((m) => (m.layers[0]!.mediaType = 'application/octet-stream')), 'OCI_MANIFEST_INVALID'],
    ['another artifactType', () => listManifest((m) => (m.artifactType = 'application/x-qemu-disk')), 'OCI_MANIFEST_INVALID'],
    ['a layer larger than the list cap', () => listManifest((m) => (m.layers[0]!.size = 16 * 1024 * 1024 + 1)), 'OCI_MANIFEST_INVALID'],
    ['a layer size that is not an integer', () => listManifest((m) => (m.layers[0]!.size = 12.5)), 'OCI_MANIFEST_INVALID'],
    ['a layer size one byte short of the blob', () => listManifest((m) => (m.layers[0]!.size = (m.layers[0]!.size as number) - 1)), 'OCI_BLOB_TOO_LARGE'],
    ['a layer size one byte beyond the blob', () => listManifest((m) => (m.layers[0]!.size = (m.layers[0]!.size as number) + 1)), 'OCI_BLOB_SIZE'],
    ['a layer digest in upper case', () => listManifest((m) => (m.layers[0]!.digest = String(m.layers[0]!.digest).replace(/[a-f]/g, (c) => c.toUpperCase()))), 'OCI_MANIFEST_INVALID'],
  ])('when the list\'s tag is answered with %s', (_n, evil, code) => {
    it(`refuses the list (${code}) and keeps state, cache and trust`, async () => {
      const { w, ow } = b
      ow.serveEvil('/v2/vm/prod-list/manifests/latest', evil())
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain(`[${code}]`)
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe.each<[string, (bytes: Buffer) => Evil, string]>([
    ['304 Not Modified', () => ({ status: 304, body: Buffer.alloc(0) }), 'OCI_HTTP_STATUS'],
    ['206 for a request without Range', (x) => ({ status: 206, body: x.subarray(0, 1000), headers: { 'content-range': `bytes 0-999/${x.length}` } }), 'OCI_HTTP_STATUS'],
    ['a 200 HTML error page', () => ({ body: html, headers: { 'content-type': 'text/html' } }), '(OCI_BLOB|IMAGE_SIZE_MISMATCH)'],
    ['the right length of other bytes', (x) => ({ body: Buffer.alloc(x.length, 0x41) }), '(OCI_BLOB_DIGEST_MISMATCH|IMAGE_CHECKSUM)'],
  ])('when a pinned image\'s blob is answered with %s', (_n, evil, code) => {
    it(`refuses the image (${code}), leaves no partial file and keeps state`, async () => {
      const { w, ow } = b
      // the image a previous attack withheld is delivered first: each attack is on its own image
      ow.clearEvil()
      const { x, px } = await addPinnedImage(b, { name: `x${n}.qcow2`, size: 12_000, version: `${++n}.0` })
      ow.serveEvil(`/v2/${px.repository}/blobs/${px.layer}`, evil(x.bytes))
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(new RegExp(`\\[${code}`))
      expect(snapshot(w)).toEqual(before)
      expect(w.filesIn('partial')).toEqual([])
    })
  })
})
