import { describe, expect, it } from 'vitest'
import { parseStrictJson } from '../../src/imagelist/json.js'
import { LIST_MEDIA_TYPE } from '../../src/oci/artifact.js'
import { MEDIA } from '../../src/oci/client.js'
import { imageLayer, LIST_ARTIFACT_TYPE, listLayer, OCI_MANIFEST, parseOciLocation, pinOf } from '../../src/subscriber/ociref.js'

const D = (c: string): string => `sha256:${c.repeat(64)}`
const fail = (why: string): Error => Object.assign(new Error(why), { code: 'OCI_MANIFEST_INVALID' })
const manifest = (o: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: D('4'), size: 2 }, ...o }))
const listManifest = (layers: unknown[], extra: Record<string, unknown> = {}): Buffer => manifest({ artifactType: LIST_ARTIFACT_TYPE, layers, ...extra })

describe('registry list locations (oci://HOST[:PORT]/PREFIX/<list name>[:TAG])', () => {
  describe('when the location is well formed', () => {
    it('parses registry, repository and tag, the tag defaulting to latest', () => {
      expect(parseOciLocation('oci://registry.example.org/vm/prod-list')).toEqual({ registry: 'registry.example.org', repository: 'vm/prod-list', tag: 'latest', url: 'oci://registry.example.org/vm/prod-list:latest' })
      expect(parseOciLocation('oci://127.0.0.1:5000/a/b/c:2026.11.30-1')).toMatchObject({ registry: '127.0.0.1:5000', repository: 'a/b/c', tag: '2026.11.30-1' })
      expect(parseOciLocation('oci://[::1]:5000/vm/list:v1')).toMatchObject({ registry: '[::1]:5000', repository: 'vm/list' })
    })

  })

  describe('when the location could be read two ways or is not a registry list', () => {
    it.each([
      ['https://reg.example/vm/list', 'another scheme'],
      ['OCI://reg.example/vm/list', 'an upper-case scheme'],
      ['oci://Reg.Example/vm/list', 'an upper-case host'],
      ['oci://robot:s3cret@reg.example/vm/list', 'credentials (they come from the environment or an auth.json)'],
      ['oci://reg.example', 'no repository'],
      ['oci://reg.example/', 'an empty repository'],
      ['oci://reg.example/vm/List', 'an upper-case repository'],
      ['oci://reg.example/vm//list', 'an empty component'],
      ['oci://reg.example/vm/list/', 'a trailing slash'],
      ['oci://reg.example/vm/../list', 'a dot-dot component'],
      ['oci://reg.example/vm/list:', 'an empty tag'],
      ['oci://reg.example/vm/list:.hidden', 'a tag starting with a dot'],
      [`oci://reg.example/vm/list:${'t'.repeat(129)}`, 'a tag longer than 128'],
      [`oci://reg.example/vm/list@${D('a')}`, 'a digest (it would freeze the list)'],
      ['oci://reg.example:0/vm/list', 'port 0'],
      ['oci://reg.example:65536/vm/list', 'port 65536'],
      ['oci://reg.example/vm/list?x=1', 'a query'],
      ['oci://reg.example/vm/list#x', 'a fragment'],
      ['oci://reg.example/vm/li st', 'white space'],
      ['oci://-reg.example/vm/list', 'a host name starting with a hyphen'],
    ])('refuses %s (%s) with OCI_REFERENCE_INVALID, exit 2', (location) => {
      expect(() => parseOciLocation(location)).toThrow(expect.objectContaining({ code: 'OCI_REFERENCE_INVALID', exit: 2 }))
    })
  })
})

describe('image pins (vmgit:oci:reference + vmgit:oci:digest)', () => {
  it('accepts a reference whose digest is the pinned digest', () => {
    expect(pinOf({ 'vmgit:oci:reference': `127.0.0.1:5000/vm/img@${D('a')}`, 'vmgit:oci:digest': D('a') })).toEqual({ registry: '127.0.0.1:5000', repository: 'vm/img', digest: D('a'), reference: `127.0.0.1:5000/vm/img@${D('a')}` })
  })

  it('reports an entry without a pin as pinning nothing', () => {
    expect(pinOf({ 'hv:uri': 'https://x/y' })).toBeUndefined()
  })

  it.each([
    [{ 'vmgit:oci:reference': `r.example/vm/img@${D('a')}` }, 'a reference without a digest key'],
    [{ 'vmgit:oci:digest': D('a') }, 'a digest without a reference'],
    [{ 'vmgit:oci:reference': `r.example/vm/img@${D('a')}`, 'vmgit:oci:digest': D('b') }, 'a reference naming another digest'],
    [{ 'vmgit:oci:reference': 'r.example/vm/img:latest', 'vmgit:oci:digest': D('a') }, 'a reference by tag'],
    [{ 'vmgit:oci:reference': `r.example/vm/img:v1@${D('a')}`, 'vmgit:oci:digest': D('a') }, 'a tag beside the digest'],
    [{ 'vmgit:oci:reference': `r.example/vm/img@sha512:${'a'.repeat(128)}`, 'vmgit:oci:digest': `sha512:${'a'.repeat(128)}` }, 'a sha512 digest'],
    [{ 'vmgit:oci:reference': `r.example/vm/img@${D('A')}`, 'vmgit:oci:digest': D('A') }, 'upper-case hex'],
    [{ 'vmgit:oci:reference': `vm/img@${D('a')}`, 'vmgit:oci:digest': D('a') }, 'no registry host'],
    [{ 'vmgit:oci:reference': 7, 'vmgit:oci:digest': D('a') }, 'a number'],
  ] as [Record<string, unknown>, string][])('refuses %j (%s)', (entry) => {
    expect(pinOf(entry)).toHaveProperty('problem')
  })
})

describe('manifests', () => {
  it('names the media types the publisher pushes (one contract: src/oci/artifact.ts)', () => {
    expect(LIST_ARTIFACT_TYPE).toBe(LIST_MEDIA_TYPE)
    expect(OCI_MANIFEST).toBe(MEDIA.manifest)
  })

  const layer = { mediaType: LIST_ARTIFACT_TYPE, digest: D('c'), size: 5000 }

  it('finds the one S/MIME layer of a list artifact', () => {
    expect(listLayer(listManifest([layer]), 16 << 20, fail, parseStrictJson)).toEqual({ mediaType: LIST_ARTIFACT_TYPE, sha256: 'c'.repeat(64), size: 5000 })
  })

  it.each([
    [listManifest([layer, layer]), 'two layers'],
    [listManifest([]), 'no layer'],
    [listManifest([layer], { artifactType: 'application/x-qemu-disk' }), 'another artifactType'],
    [manifest({ layers: [layer] }), 'no artifactType'],
    [listManifest([{ ...layer, mediaType: 'application/octet-stream' }]), 'another layer media type'],
    [listManifest([{ ...layer, digest: `sha512:${'c'.repeat(128)}` }]), 'a sha512 layer digest'],
    [listManifest([{ ...layer, size: 17 << 20 }]), 'a layer above the list cap'],
    [listManifest([{ ...layer, size: -1 }]), 'a negative size'],
    [listManifest([layer], { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }), 'a Docker manifest'],
    [listManifest([layer], { schemaVersion: 1 }), 'schemaVersion 1'],
    [Buffer.from(`{"schemaVersion":2,"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","artifactType":"${LIST_ARTIFACT_TYPE}","layers":[]}`), 'a duplicate key'],
    [Buffer.from('[]'), 'not an object'],
  ])('refuses a list artifact with %#: %s', (bytes) => {
    expect(() => listLayer(bytes, 16 << 20, fail, parseStrictJson)).toThrow(expect.objectContaining({ code: 'OCI_MANIFEST_INVALID' }))
  })

  it('refuses an image manifest whose one layer is not hv:size bytes', () => {
    const m = manifest({ artifactType: 'application/x-qemu-disk', layers: [{ mediaType: 'application/x-qemu-disk', digest: D('d'), size: 100 }] })
    expect(imageLayer(m, 100, fail, parseStrictJson).sha256).toBe('d'.repeat(64))
    expect(() => imageLayer(m, 101, fail, parseStrictJson)).toThrow(/hv:size is 101/)
  })
})
