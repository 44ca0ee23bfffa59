/**
 * What vmgit pushes, built purely (src/oci/artifact.ts) and configured from vmgit.yaml
 * (src/oci/publish.ts registrySettings): deterministic manifests, path-safe layer titles,
 * valid tags, and no secret in the committed YAML.
 */
import { describe, expect, it } from 'vitest'
import { EMPTY_DESCRIPTOR, imageManifest, imageTags, layerMediaType, layerTitle, LIST_MEDIA_TYPE, listManifest } from '../../src/oci/artifact.js'
import { publicRemote, registrySettings } from '../../src/oci/publish.js'

const img = { 'dc:identifier': 'id-1', 'dc:title': 'Alma 9', 'hv:version': '9.4-20250513', 'hv:format': 'QCOW2', 'hv:uri': 'https://x.org/images/alma-9.4.qcow2', 'sl:osversion': '9.4', 'sl:os': 'Linux', 'sl:osname': 'AlmaLinux' }
const layer = { digest: `sha256:${'a'.repeat(64)}`, size: 42 }

describe('image artifacts', () => {
  it('are deterministic: the same input gives the same bytes (plan and publish pin the same digest)', () => {
    expect(imageManifest({ name: 'alma', img, layer, revision: 'abc' }, '9.4-20250513').equals(imageManifest({ name: 'alma', img: { ...img }, layer, revision: 'abc' }, '9.4-20250513'))).toBe(true)
  })

  it('carry one layer of the format media type, the empty config and EGI annotations (empty ones left out)', () => {
    const m = JSON.parse(imageManifest({ name: 'alma', img, layer }, '9.4-20250513').toString())
    expect(m.artifactType).toBe('application/x-qemu-disk')
    expect(m.config).toEqual(EMPTY_DESCRIPTOR)
    expect(m.layers).toEqual([{ mediaType: 'application/x-qemu-disk', ...layer, annotations: { 'org.opencontainers.image.title': 'alma-9.4.qcow2' } }])
    expect(m.annotations['org.openstack.glance.os_distro']).toBe('almalinux')
    expect(m.annotations).not.toHaveProperty('eu.egi.cloud.description')
    expect(m.annotations).not.toHaveProperty('org.opencontainers.image.revision')
  })

  it.each([['raw', 'application/x-raw-disk-image'], ['VMDK', 'application/x-virtualbox-vmdk'], ['ova', 'application/x-virtualbox-ova'], ['iso', 'application/x-cd-image'], ['tar', 'application/octet-stream'], [undefined, 'application/octet-stream']])('map hv:format %s to %s', (f, t) => {
    expect(layerMediaType(f)).toBe(t)
  })

  it.each(['https://x.org/', 'https://x.org/a/..', 'https://x.org/a/%2e%2e', 'https://x.org/a%2fb', 'https://x.org/a%5cb', 'https://x.org/%0a'])('give a plain file name as the layer title, never a path (%s)', (uri) => {
    const t = layerTitle({ ...img, 'hv:uri': uri }, 'alma')
    expect(t).not.toMatch(/[/\\\n]/)
    expect(['.', '..']).not.toContain(t)
  })

  it('tag with hv:version and the moving tag template, refusing a template the image cannot fill', () => {
    expect(imageTags(img, '{sl:osversion}')).toEqual({ version: '9.4-20250513', moving: '9.4' })
    expect(imageTags({ ...img, 'hv:version': 'not a tag!' }, 'latest')).toEqual({ moving: 'latest' })
    expect(() => imageTags(img, '{sl:arch}')).toThrow(expect.objectContaining({ code: 'OCI_MOVING_TAG_INVALID', exit: 2 }))
    expect(() => imageTags(img, 'a/b')).toThrow(expect.objectContaining({ code: 'OCI_MOVING_TAG_INVALID' }))
  })
})

describe('list artifacts', () => {
  it('carry the signed bytes as one layer of the HEPiX list type, and a subject when attached to an image', () => {
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 9 }
    const m = JSON.parse(listManifest({ name: 'production', smime: layer, version: '20250101000000', identifier: 'x', expires: '2025-02-01T00:00:00Z', subject }).toString())
    expect(m.artifactType).toBe(LIST_MEDIA_TYPE)
    expect(m.layers).toEqual([{ mediaType: LIST_MEDIA_TYPE, ...layer, annotations: { 'org.opencontainers.image.title': 'production.smime' } }])
    expect(m.subject).toEqual(subject)
  })
})

describe('vmgit.yaml registry:', () => {
  it('takes the short and the long form', () => {
    expect(registrySettings({ registry: 'oci://r.example.org/egi' })).toMatchObject({ dest: { registry: 'r.example.org', repository: 'egi' }, movingTag: 'latest', chunkSize: 0 })
    expect(registrySettings({ registry: { url: 'oci://r:5000', moving_tag: '{sl:osversion}', chunk_size: 1048576 } })).toMatchObject({ dest: { registry: 'r:5000', repository: '' }, movingTag: '{sl:osversion}', chunkSize: 1048576 })
    expect(registrySettings({})).toBeUndefined()
  })

  it.each(['password', 'token', 'auth', 'username'])('refuses a %s key: credentials never live in the committed YAML', (k) => {
    expect(() => registrySettings({ registry: { url: 'oci://r/egi', [k]: 'x' } })).toThrow(expect.objectContaining({ code: 'TARGET_SECRET_IN_CONFIG', exit: 2 }))
  })

  it.each([{ registry: 'oci://u:p@r/egi' }, { registry: 'https://r/egi' }, { registry: { url: 'oci://r/egi', chunk_size: -1 } }, { registry: ['oci://r'] }])('refuses %j', (raw) => {
    expect(() => registrySettings(raw)).toThrow(expect.objectContaining({ exit: 2 }))
  })

  it('publishes the git remote without its user info', () => {
    expect(publicRemote('https://ci:ghp_token@github.com/egi/images.git')).toBe('https://github.com/egi/images.git')
    expect(publicRemote('git@github.com:egi/images.git')).toBe('github.com:egi/images.git')
  })
})
