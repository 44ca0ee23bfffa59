import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfigFile, parseDuration, resolveConfig } from '../../src/glance/config.js'
import { architecture, endorsedFromEntry, imageProperties, osDistro } from '../../src/glance/model.js'

describe('glance handler configuration', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-glance-config-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('defaults to qcow2, private, deactivate on expiry and one day of grace', () => {
    expect(resolveConfig({}, {})).toMatchObject({ targetFormat: 'qcow2', visibility: 'private', share: [], onExpiry: 'deactivate', graceMs: 86_400_000 })
  })

  it('reads a YAML file whose keys are the flag names, and lets flags override it', () => {
    const f = path.join(dir, 'glance.yaml')
    writeFileSync(f, 'cloud: site\ntarget-format: raw\nshare: [p1, p2]\non-expiry: delete\ngrace: 12h\n')
    const c = resolveConfig(loadConfigFile(f), { grace: '0', 'target-format': 'qcow2' })
    expect(c).toMatchObject({ cloud: 'site', targetFormat: 'qcow2', visibility: 'shared', share: ['p1', 'p2'], onExpiry: 'delete', graceMs: 0 })
  })

  it('refuses unknown keys, bad values, and --share with a visibility other than shared', () => {
    const f = path.join(dir, 'bad.yaml')
    writeFileSync(f, 'visiblity: public\n')
    expect(() => loadConfigFile(f)).toThrow(expect.objectContaining({ code: 'GLANCE_CONFIG_INVALID', exit: 2 }))
    expect(() => resolveConfig({}, { 'target-format': 'iso' })).toThrow(expect.objectContaining({ code: 'BAD_TARGET_FORMAT' }))
    expect(() => resolveConfig({}, { 'on-expiry': 'keep' })).toThrow(expect.objectContaining({ code: 'BAD_ON_EXPIRY' }))
    expect(() => resolveConfig({}, { share: ['p1'], visibility: 'public' })).toThrow(expect.objectContaining({ code: 'BAD_VISIBILITY' }))
    expect(() => resolveConfig({}, { share: ['../x'] })).toThrow(expect.objectContaining({ code: 'BAD_PROJECT' }))
  })

  it('parses durations with vmgit\'s one grammar (s, m, h, d, w, or 0; a bare number needs its unit)', () => {
    expect([parseDuration('90s', 'g'), parseDuration('15m', 'g'), parseDuration('2h', 'g'), parseDuration('7d', 'g'), parseDuration('1w', 'g'), parseDuration('0', 'g')]).toEqual([90_000, 900_000, 7_200_000, 604_800_000, 604_800_000, 0])
    expect(() => parseDuration('soon', 'grace')).toThrow(expect.objectContaining({ code: 'BAD_DURATION' }))
    expect(() => parseDuration('90', 'grace')).toThrow(expect.objectContaining({ code: 'BAD_DURATION' }))
  })
})

describe('Glance properties of an endorsed image', () => {
  it("maps HEPiX OS and architecture to Glance's vocabulary", () => {
    expect(osDistro({ 'sl:os': 'Linux', 'sl:osname': 'Ubuntu' })).toBe('ubuntu')
    expect(osDistro({ 'sl:os': 'CentOS' })).toBe('centos')
    expect(osDistro({ 'sl:os': 'Linux' })).toBeUndefined()
    expect(['amd64', 'x86_64', 'i386', 'arm64'].map(architecture)).toEqual(['x86_64', 'x86_64', 'i686', 'aarch64'])
  })

  it('ties the image to its list entry and caps values at 255 characters', () => {
    const img = endorsedFromEntry('list-1', { 'dc:identifier': 'img-1', 'sl:checksum:sha512': 'A'.repeat(128), 'hv:version': '2', 'dc:title': 't'.repeat(300) }, { vo: 'vo.example', endorser: '/CN=Endorser' })
    const p = imageProperties(img)
    expect(p).toMatchObject({ 'vmgit:managed': 'true', 'il:dc:identifier': 'list-1', 'dc:identifier': 'img-1', 'hv:version': '2', 'sl:checksum:sha512': 'a'.repeat(128), 'ad:vo': 'vo.example', 'vmgit:endorser': '/CN=Endorser' })
    expect(p['dc:title']).toHaveLength(255)
  })

  it('names the OCI reference and manifest digest of an image pinned in a registry (issue 17)', () => {
    const digest = `sha256:${'b'.repeat(64)}`
    const img = endorsedFromEntry('list-1', { 'dc:identifier': 'img-1', 'sl:checksum:sha512': 'a'.repeat(128), 'vmgit:oci:reference': `127.0.0.1:5000/vm/img-1@${digest}`, 'vmgit:oci:digest': digest })
    expect(imageProperties(img)).toMatchObject({ 'vmgit:oci:reference': `127.0.0.1:5000/vm/img-1@${digest}`, 'vmgit:oci:digest': digest })
    expect(imageProperties(endorsedFromEntry('l', { 'dc:identifier': 'x', 'sl:checksum:sha512': 'a'.repeat(128) }))['vmgit:oci:digest']).toBeUndefined()
  })

  it('refuses an entry without a valid sha512 (GLANCE_IMAGE_INCOMPLETE): only verified images are imported', () => {
    expect(() => endorsedFromEntry('l', { 'dc:identifier': 'x', 'sl:checksum:sha512': 'abc' })).toThrow(expect.objectContaining({ code: 'GLANCE_IMAGE_INCOMPLETE' }))
  })
})
