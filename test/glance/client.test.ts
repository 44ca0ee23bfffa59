import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient } from '../../src/glance/client.js'
import { hashFile } from '../../src/util/hash.js'
import { glanceNeeds, makeDisk, projectHeaders, startGlance, type GlanceServer } from '../helpers/glance.js'

describe.skipIf(glanceNeeds.skip)(`Image API v2 client against a real Glance (${glanceNeeds.reason})`, () => {
  let dir: string
  let disk: string
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-glance-client-'))
    disk = await makeDisk(dir, 'disk.qcow2', 'qcow2', 7)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  describe('with Glance trusting keystonemiddleware identity headers (per-project policy)', () => {
    let glance: GlanceServer
    let admin: GlanceClient
    let other: GlanceClient
    beforeAll(async () => {
      glance = await startGlance({ mode: 'headers' })
      admin = new GlanceClient({ endpoint: glance.url, token: 'tok-admin', headers: projectHeaders('p-admin') })
      other = new GlanceClient({ endpoint: `${glance.url}/v2/`, token: 'tok-other', headers: projectHeaders('p-other', ['member', 'reader']) })
    })
    afterAll(async () => glance?.stop())

    it('creates a queued image, uploads the data, and Glance reports the same sha512', async () => {
      const img = await admin.createImage({ name: 'centos', disk_format: 'qcow2', container_format: 'bare', 'dc:identifier': 'abc', 'hv:version': '1' })
      expect(img).toMatchObject({ status: 'queued', owner: 'p-admin', 'dc:identifier': 'abc' })
      await admin.upload(img.id, disk)
      const got = await admin.getImage(img.id)
      expect(got).toMatchObject({ status: 'active', size: readFileSync(disk).length, os_hash_algo: 'sha512', os_hash_value: (await hashFile(disk)).sha512 })
      expect(readFileSync(path.join(glance.storeDir, img.id)).equals(readFileSync(disk))).toBe(true)
    })

    it('lists images by custom property values (all filters must match) and follows next links', async () => {
      for (let i = 0; i < 5; i++) await admin.createImage({ name: `f${i}`, disk_format: 'raw', container_format: 'bare', 'vmgit:managed': 'true', 'dc:identifier': i % 2 ? 'odd' : 'even', 'il:dc:identifier': 'list-1' })
      const even = await admin.listImages({ 'vmgit:managed': 'true', 'dc:identifier': 'even', 'il:dc:identifier': 'list-1' })
      expect(even.map((i) => i.name).sort()).toEqual(['f0', 'f2', 'f4'])
      expect(await admin.listImages({ 'dc:identifier': 'even', 'il:dc:identifier': 'list-2' })).toEqual([])
      const paged = await admin.listImages({ 'vmgit:managed': 'true', limit: '2' })
      expect(paged).toHaveLength(5)
    })

    it('sets, replaces and removes properties with JSON patch, sending only the differences', async () => {
      const img = await admin.createImage({ name: 'p', disk_format: 'raw', container_format: 'bare', a: '1', gone: 'x' })
      const after = await admin.setProperties(img, { a: '2', b: 'new', gone: undefined, 'sl:checksum:sha512': 'f'.repeat(128), 'odd/name~x': 'escaped' })
      expect(after).toMatchObject({ a: '2', b: 'new', 'sl:checksum:sha512': 'f'.repeat(128), 'odd/name~x': 'escaped' })
      expect(after).not.toHaveProperty('gone')
      expect(await admin.setProperties(after, { a: '2' })).toBe(after)
    })

    it('deactivates and reactivates (admin only), and another project may not', async () => {
      const img = await admin.createImage({ name: 'd', disk_format: 'qcow2', container_format: 'bare', visibility: 'public' })
      await admin.upload(img.id, disk)
      await expect(other.deactivate(img.id)).rejects.toMatchObject({ code: 'GLANCE_FORBIDDEN', exit: 2 })
      await admin.deactivate(img.id)
      expect((await admin.getImage(img.id))?.status).toBe('deactivated')
      await admin.reactivate(img.id)
      expect((await admin.getImage(img.id))?.status).toBe('active')
    })

    it('shares a private image with a project through membership', async () => {
      const img = await admin.createImage({ name: 's', disk_format: 'qcow2', container_format: 'bare', visibility: 'shared' })
      expect(await other.getImage(img.id)).toBeUndefined()
      await admin.addMember(img.id, 'p-other')
      await admin.addMember(img.id, 'p-other') // again: already a member is fine
      expect(await admin.listMembers(img.id)).toEqual(['p-other'])
      expect((await other.getImage(img.id))?.id).toBe(img.id)
    })

    it('deletes, and reports an image already gone as false', async () => {
      const img = await admin.createImage({ name: 'x', disk_format: 'raw', container_format: 'bare' })
      expect(await admin.deleteImage(img.id)).toBe(true)
      expect(await admin.deleteImage(img.id)).toBe(false)
      expect(await admin.getImage(img.id)).toBeUndefined()
    })

    it('addresses the API at <endpoint>/v2/... whether or not the endpoint ends in / or /v2 (Glance access log)', async () => {
      await admin.listImages()
      await other.listImages()
      const log = readFileSync(path.join(glance.dir, 'glance-api.log'), 'utf8')
      expect(log).toMatch(/"GET \/v2\/images\?/)
      expect(log).not.toMatch(/"[A-Z]+ \/\/|\/v2\/v2\//)
    })

    it('answers 401 without identity as GLANCE_UNAUTHORIZED (exit 2)', async () => {
      const anon = new GlanceClient({ endpoint: glance.url, token: 'bad' })
      await expect(anon.listImages()).rejects.toMatchObject({ code: 'GLANCE_UNAUTHORIZED', exit: 2 })
    })

    it('leaves an image queued when the upload is aborted half-way', async () => {
      const img = await admin.createImage({ name: 'half', disk_format: 'raw', container_format: 'bare' })
      const big = path.join(dir, 'big.raw')
      await makeDisk(dir, 'big.raw', 'raw', 9, 64 * 1024)
      const ac = new AbortController()
      const p = admin.upload(img.id, big, ac.signal)
      setTimeout(() => ac.abort(), 30)
      await expect(p).rejects.toMatchObject({ code: 'GLANCE_ABORTED' })
      // Glance resets an interrupted upload to queued once it notices the closed connection
      let status = ''
      for (let i = 0; i < 100 && status !== 'queued'; i++) {
        status = (await admin.getImage(img.id))?.status ?? ''
        if (status !== 'queued') await new Promise((r) => setTimeout(r, 100))
      }
      expect(status).toBe('queued')
    })
  })

  describe('when nothing listens at the endpoint', () => {
    it('fails with FETCH_CONNECTION_REFUSED (exit 3), the code every command uses', async () => {
      const c = new GlanceClient({ endpoint: 'http://127.0.0.1:9', token: 't' })
      await expect(c.listImages()).rejects.toMatchObject({ code: 'FETCH_CONNECTION_REFUSED', exit: 3 })
    })
  })
})
