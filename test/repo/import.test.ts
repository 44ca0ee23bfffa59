import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { renderList } from '../../src/imagelist/render.js'
import { findList, layoutOf, toHepix } from '../../src/model/hepix.js'
import { importList } from '../../src/repo/import.js'
import { loadRepository } from '../../src/model/load.js'
import { FIXTURES, tempDir, writeFiles } from '../model/repo-helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => ({ dir, cleanup } = tempDir('vmgit-import-')))
afterEach(() => cleanup())

const fixture = (rel: string) => path.join(FIXTURES, rel)
const NOW = new Date('2030-01-01T00:00:00Z')

/** Render a list of the repository in its recorded layout, straight from the model. */
async function renderBack(name: string): Promise<string> {
  const repo = await loadRepository(dir, { now: NOW })
  return renderList(toHepix(repo, name, { now: NOW }), layoutOf(repo, findList(repo, name)))
}

describe('importList', () => {
  describe('round trip: import, then render in the list\'s own layout', () => {
    it('reproduces cloudkeeper imagelist01.unsigned byte for byte (appdb layout)', async () => {
      const r = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      expect(r.layout).toBe('appdb')
      expect(await renderBack(r.list.name)).toBe(readFileSync(fixture('cloudkeeper/imagelist01.unsigned'), 'utf8'))
    })

    it('reproduces the hepixvmitrust README list byte for byte (vmcaster layout, CRLF stripped)', async () => {
      const r = await importList(dir, fixture('hepixvmitrust/readme_example.signed-content.json'))
      expect(r.layout).toBe('vmcaster')
      const want = readFileSync(fixture('hepixvmitrust/readme_example.signed-content.json'), 'utf8').replace(/\r\n/g, '\n')
      expect(await renderBack(r.list.name)).toBe(want)
    })

    it('reads the signed content out of the README S/MIME file and reproduces it', async () => {
      const r = await importList(dir, fixture('hepixvmitrust/readme_example.smime'))
      expect(r.signature).toBe('unverified')
      const want = readFileSync(fixture('hepixvmitrust/readme_example.signed-content.json'), 'utf8').replace(/\r\n/g, '\n')
      expect(await renderBack(r.list.name)).toBe(want)
    })

    it.each([
      'cloudkeeper/structures/image_list07.json',
      'cloudkeeper/structures/image_list10.json',
      'snf-vmcatcher/ImageListConfigTest.imagelist.json',
      'hepixvmitrust/imagelist.json',
    ])('renders %s to JSON that parses equal to the source', async (rel) => {
      const r = await importList(dir, fixture(rel))
      const src = JSON.parse(readFileSync(fixture(rel), 'utf8')) as Record<string, unknown>
      const inner = (src['hv:imagelist'] ?? src) as unknown
      expect((JSON.parse(await renderBack(r.list.name)) as Record<string, unknown>)['hv:imagelist']).toEqual(inner)
    })
  })

  describe('what it writes', () => {
    it('writes friendly YAML with the schema modeline, safe file names and the recorded version and dates', async () => {
      const r = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      expect(r.list.file).toBe('imagelists/dummy-image-list-number-1.yaml')
      expect(r.endorser.file).toBe('endorsers/some.unknown.source.yaml')
      expect(r.images.map((i) => i.file)).toEqual([
        'images/image-for-cernvm-scientific-linux-6.0-kvm.yaml',
        'images/image-for-centos-6-minimal-centos-6.x-kvm.yaml',
      ])
      const list = readFileSync(path.join(dir, r.list.file), 'utf8')
      expect(list.split('\n')[0]).toBe('# yaml-language-server: $schema=https://vmgit.dev/schemas/imagelist.schema.json')
      expect(list).toContain('version: "20150618211400"\ncreated: 2015-06-18T21:14:00Z\nexpires: 2499-12-31T22:00:00Z\n')
      expect(list).toContain('layout: appdb\nendorser: some.unknown.source\nimages:\n  - image-for-cernvm')
      const img = readFileSync(path.join(dir, r.images[0]!.file), 'utf8')
      expect(img).toContain('size: 121243136\n')
      expect(img).toContain('hv:ram_minimum: "512"\n')
      expect(readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')).toContain('version: 1')
    })

    it('produces a repository whose only error is the README list\'s own lapsed expiry (LIST_EXPIRED: publish would refuse it)', async () => {
      await importList(dir, fixture('hepixvmitrust/readme_example.smime'))
      const repo = await loadRepository(dir, { now: NOW })
      expect(repo.problems.filter((p) => p.severity === 'error').map((p) => p.code)).toEqual(['LIST_EXPIRED'])
    })

    it('never derives a path from list text', async () => {
      const evil = JSON.parse(readFileSync(fixture('hepixvmitrust/imagelist.json'), 'utf8')) as { 'hv:imagelist': Record<string, unknown> }
      evil['hv:imagelist']['dc:title'] = '../../../etc/passwd'
      const images = evil['hv:imagelist']['hv:images'] as { 'hv:image': Record<string, unknown> }[]
      images[0]!['hv:image']['dc:title'] = '/..'
      writeFileSync(path.join(dir, 'evil.json'), JSON.stringify(evil))
      const r = await importList(path.join(dir, 'repo'), path.join(dir, 'evil.json'))
      expect(r.list.file).toBe('imagelists/etc-passwd.yaml')
      expect(r.images[0]!.file).toBe('images/image-1.yaml')
    })

    it('rejects an unsafe --name', async () => {
      await expect(importList(dir, fixture('hepixvmitrust/imagelist.json'), { name: '../x' })).rejects.toMatchObject({ code: 'BAD_NAME' })
    })
  })

  describe('when the same list is imported again', () => {
    it('changes nothing when nothing changed', async () => {
      await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      const again = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      expect([again.list.action, again.endorser.action, ...again.images.map((i) => i.action)]).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged'])
    })

    it('updates the files in place, keeping comments and each image\'s source:', async () => {
      const first = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      const imgFile = path.join(dir, first.images[0]!.file)
      writeFileSync(imgFile, readFileSync(imgFile, 'utf8').replace('title:', '# kept comment\ntitle:') + 'source: files/cernvm.ova\n')
      const newer = readFileSync(fixture('cloudkeeper/imagelist01.unsigned'), 'utf8')
        .replace('"hv:version": "3.3.0-1"', '"hv:version": "3.3.0-2"')
        .replace('"hv:version": "20150618211400"', '"hv:version": "20150619000000"')
      writeFileSync(path.join(dir, 'newer.json'), newer)
      const again = await importList(dir, path.join(dir, 'newer.json'))
      expect(again.list.action).toBe('updated')
      expect(again.images.map((i) => i.action)).toEqual(['updated', 'unchanged'])
      const text = readFileSync(imgFile, 'utf8')
      expect(text).toContain('# kept comment\ntitle:')
      expect(text).toContain('version: 3.3.0-2')
      expect(text).toContain('source: files/cernvm.ova')
      expect(await renderBack(again.list.name)).toBe(newer)
    })

    it('reuses an image present under another file name instead of duplicating it', async () => {
      const first = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      const { renameSync } = await import('node:fs')
      renameSync(path.join(dir, first.images[0]!.file), path.join(dir, 'images/cernvm.yaml'))
      const yaml = path.join(dir, first.list.file)
      writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('- image-for-cernvm-scientific-linux-6.0-kvm', '- cernvm'))
      // the same two images arrive in another list
      const otherList = readFileSync(fixture('cloudkeeper/structures/image_list10.json'), 'utf8')
        .replace('76fdee70-8119-5d33-aaaa-3c57e1c60df1', '5a4e0f0e-0000-4000-8000-000000000002')
        .replace('Dummy image list number 1.', 'Another list')
      writeFileSync(path.join(dir, 'other.json'), otherList)
      const other = await importList(dir, path.join(dir, 'other.json'))
      expect(other.list.file).toBe('imagelists/another-list.yaml')
      expect(other.images.map((i) => i.name)).toEqual(['cernvm', 'image-for-centos-6-minimal-centos-6.x-kvm'])
      const repo = await loadRepository(dir, { now: NOW })
      expect([...repo.images.keys()].sort()).toEqual(['cernvm', 'image-for-centos-6-minimal-centos-6.x-kvm'])
      expect([...repo.lists.keys()].sort()).toEqual(['another-list', 'dummy-image-list-number-1'])
    })

    it('keeps an image at a newer version than the imported list has', async () => {
      const first = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      const imgFile = path.join(dir, first.images[0]!.file)
      writeFileSync(imgFile, readFileSync(imgFile, 'utf8').replace('version: 3.3.0-1', 'version: 3.3.0-9'))
      const again = await importList(dir, fixture('cloudkeeper/imagelist01.unsigned'))
      expect(again.images[0]!.action).toBe('kept')
      expect(again.notes.join('\n')).toContain('kept images/image-for-cernvm-scientific-linux-6.0-kvm.yaml at version 3.3.0-9')
    })

    it('refuses a --name that differs from the file the list was imported as', async () => {
      await importList(dir, fixture('hepixvmitrust/imagelist.json'))
      await expect(importList(dir, fixture('hepixvmitrust/imagelist.json'), { name: 'other' })).rejects.toMatchObject({ code: 'LIST_ALREADY_IMPORTED' })
    })

    it('refuses a --name already used by another list', async () => {
      writeFiles(dir, { 'imagelists/prod.yaml': 'identifier: something-else\nendorser: x\nimages: []\n' })
      await expect(importList(dir, fixture('hepixvmitrust/imagelist.json'), { name: 'prod' })).rejects.toMatchObject({ code: 'NAME_TAKEN' })
    })
  })

  describe('when the source is not an image list', () => {
    it('fails with the parser\'s code and writes nothing', async () => {
      writeFileSync(path.join(dir, 'x.json'), '{"hello": 1}')
      await expect(importList(path.join(dir, 'repo'), path.join(dir, 'x.json'))).rejects.toMatchObject({ code: 'NOT_AN_IMAGELIST' })
    })
    it('fails with SOURCE_NOT_FOUND for a missing file', async () => {
      await expect(importList(dir, path.join(dir, 'nope.json'))).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND', exit: 2 })
    })
  })
})
