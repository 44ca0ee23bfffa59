import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient, type GlanceImage } from '../../src/glance/client.js'
import { hashFile } from '../../src/util/hash.js'
import { BIN, runCli } from '../helpers/cli.js'
import { diskFormat, glanceNeeds, makeDisk, makeOva, startGlance, type GlanceServer } from '../helpers/glance.js'

/**
 * `vmgit glance event` as `vmgit sync --event` runs it: one process per event, the image's data
 * in VMCATCHER_EVENT_* variables, a real Glance (noauth: any token is accepted) on 127.0.0.1.
 * Run `npm run build` first.
 */
describe.skipIf(glanceNeeds.skip)(`vmgit glance event against a real Glance (${glanceNeeds.reason})`, () => {
  let glance: GlanceServer
  let glanceClient: GlanceClient
  let dir: string
  let cache: string
  const LIST = 'c3a1d2e4-0000-4000-8000-000000000001'

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-glance-event-'))
    cache = path.join(dir, 'cache')
    mkdirSync(cache)
    glance = await startGlance()
    glanceClient = new GlanceClient({ endpoint: glance.url, token: 'test' })
  })
  afterAll(async () => {
    await glance?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Put a file into the cache as sync would (named by its sha512) and describe it. */
  async function cached(src: string, meta: { id: string; version: string; format: string }): Promise<Record<string, string>> {
    const { sha512, size } = await hashFile(src)
    writeFileSync(path.join(cache, sha512), readFileSync(src))
    return {
      VMCATCHER_EVENT_DC_IDENTIFIER: meta.id,
      VMCATCHER_EVENT_DC_TITLE: `Test image ${meta.id}`,
      VMCATCHER_EVENT_HV_VERSION: meta.version,
      VMCATCHER_EVENT_HV_FORMAT: meta.format,
      VMCATCHER_EVENT_HV_SIZE: String(size),
      VMCATCHER_EVENT_HV_HYPERVISOR: 'QEMU-KVM',
      VMCATCHER_EVENT_SL_CHECKSUM_SHA512: sha512,
      VMCATCHER_EVENT_SL_OS: 'Ubuntu',
      VMCATCHER_EVENT_SL_OSVERSION: '22.04',
      VMCATCHER_EVENT_SL_ARCH: 'amd64',
      VMCATCHER_EVENT_IL_DC_IDENTIFIER: LIST,
      VMCATCHER_EVENT_VO: 'vo.example.org',
      VMCATCHER_EVENT_FILENAME: sha512,
    }
  }

  const baseEnv = (): Record<string, string | undefined> => ({
    HOME: dir,
    OS_CLOUD: undefined,
    OS_AUTH_URL: undefined,
    OS_TOKEN: 'test',
    OS_IMAGE_URL: glance.url,
    VMGIT_DB: path.join(dir, 'no-subscriber.db'),
    VMCATCHER_CACHE_DIR_CACHE: cache,
    VMGIT_GLANCE_CONFIG: undefined,
  })

  const event = (type: string, vars: Record<string, string>, flags: string[] = []) =>
    runCli(['glance', 'event', ...flags], { env: { ...baseEnv(), ...vars, VMCATCHER_EVENT_TYPE: type, VMCATCHER_EVENT_UUID_SESSION: 'session-1' } })

  const images = async (identifier: string): Promise<GlanceImage[]> =>
    (await glanceClient.listImages({ 'dc:identifier': identifier })).sort((a, b) => a.created_at.localeCompare(b.created_at) || String(a['hv:version']).localeCompare(String(b['hv:version'])))

  describe('when an image becomes available (AvailablePostfix)', () => {
    let v1: Record<string, string>
    beforeAll(async () => {
      v1 = await cached(await makeDisk(dir, 'app-1.vmdk', 'vmdk', 1), { id: 'app', version: '1.0', format: 'VMDK' })
    })

    it('converts it to qcow2, uploads it, and publishes it with the properties that tie it to its list entry', async () => {
      const r = await event('AvailablePostfix', v1, ['--visibility', 'community'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const [img, ...more] = await images('app')
      expect(more).toEqual([])
      expect(img).toMatchObject({
        status: 'active',
        visibility: 'community',
        disk_format: 'qcow2',
        container_format: 'bare',
        name: 'Test image app',
        'vmgit:managed': 'true',
        'vmgit:state': 'current',
        'vmgit:source_format': 'vmdk',
        'dc:identifier': 'app',
        'hv:version': '1.0',
        'sl:checksum:sha512': v1.VMCATCHER_EVENT_SL_CHECKSUM_SHA512,
        'il:dc:identifier': LIST,
        'ad:vo': 'vo.example.org',
        os_distro: 'ubuntu',
        os_version: '22.04',
        architecture: 'x86_64',
      })
      expect(await diskFormat(path.join(glance.storeDir, img!.id))).toBe('qcow2')
      expect(img!.os_hash_value).toBe((await hashFile(path.join(glance.storeDir, img!.id))).sha512)
      expect(r.stdout).toContain(img!.id)
    })

    it('does nothing new when the same event comes again (idempotent)', async () => {
      const before = await images('app')
      const r = await event('AvailablePostfix', v1, ['--visibility', 'community'])
      expect(r.code).toBe(0)
      expect((await images('app')).map((i) => [i.id, i.status, i.updated_at])).toEqual(before.map((i) => [i.id, i.status, i.updated_at]))
    })

    describe('and a new version of it arrives', () => {
      let v2: Record<string, string>
      beforeAll(async () => {
        v2 = await cached(await makeDisk(dir, 'app-2.vmdk', 'vmdk', 2), { id: 'app', version: '2.0', format: 'VMDK' })
      })

      it('uploads the new one first, then deactivates the old one until the grace period ends', async () => {
        const r = await event('AvailablePostfix', v2, ['--visibility', 'community', '--grace', '2h', '--now', '2030-01-01T00:00:00Z'])
        expect(r.code).toBe(0)
        const [old, neu] = await images('app')
        expect(neu).toMatchObject({ 'hv:version': '2.0', status: 'active', visibility: 'community', 'vmgit:state': 'current' })
        expect(old).toMatchObject({ 'hv:version': '1.0', status: 'deactivated', 'vmgit:state': 'retiring', 'vmgit:retire_after': '2030-01-01T02:00:00.000Z' })
        expect(Date.parse(neu!.created_at)).toBeGreaterThanOrEqual(Date.parse(old!.created_at))
      })

      it('keeps the retired version while the grace period runs, and deletes it after (ProcessPostfix)', async () => {
        expect((await event('ProcessPostfix', {}, ['--now', '2030-01-01T01:59:00Z'])).code).toBe(0)
        expect(await images('app')).toHaveLength(2)
        const r = await event('ProcessPostfix', {}, ['--now', '2030-01-01T02:00:01Z'])
        expect(r.code).toBe(0)
        expect((await images('app')).map((i) => i['hv:version'])).toEqual(['2.0'])
      })

      describe('and the endorser withdraws it (ExpirePostfix)', () => {
        it('deactivates it by default', async () => {
          const r = await event('ExpirePostfix', { ...v2, VMCATCHER_EVENT_FILENAME: 'app.2030-01-02_00-00-00' })
          expect(r.code).toBe(0)
          expect(await images('app')).toEqual([expect.objectContaining({ 'hv:version': '2.0', status: 'deactivated', 'vmgit:state': 'expired' })])
        })

        it('brings the same image back (reactivated, not uploaded again) when it is endorsed again', async () => {
          const [before] = await images('app')
          expect((await event('AvailablePostfix', v2, ['--visibility', 'community'])).code).toBe(0)
          expect(await images('app')).toEqual([expect.objectContaining({ id: before!.id, status: 'active', 'vmgit:state': 'current' })])
        })

        it('deletes it with --on-expiry delete (also under the old spelling ExpirePosfix)', async () => {
          expect((await event('ExpirePosfix', v2, ['--on-expiry', 'delete'])).code).toBe(0)
          expect(await images('app')).toEqual([])
        })
      })
    })
  })

  describe('when the image is an OVA and sharing is configured', () => {
    it('extracts the disk, converts it and shares it with each project', async () => {
      const ova = await makeOva(dir, 'appliance', [await makeDisk(dir, 'appliance-disk1.vmdk', 'vmdk', 5)])
      const vars = await cached(ova, { id: 'ova-app', version: '3', format: 'OVA' })
      const r = await event('AvailablePostfix', vars, ['--share', 'proj-a', '--share', 'proj-b'])
      expect(r.code).toBe(0)
      const [img] = await images('ova-app')
      expect(img).toMatchObject({ status: 'active', visibility: 'shared', disk_format: 'qcow2', 'vmgit:source_format': 'ova/vmdk' })
      expect((await glanceClient.listMembers(img!.id)).sort()).toEqual(['proj-a', 'proj-b'])
    })
  })

  describe('crash safety: never a half-uploaded image in use', () => {
    it('removes an image an interrupted run left queued, then uploads afresh', async () => {
      const vars = await cached(await makeDisk(dir, 'q.qcow2', 'qcow2', 11), { id: 'crash-q', version: '1', format: 'QCOW2' })
      const stale = await glanceClient.createImage({ name: 'x', disk_format: 'qcow2', container_format: 'bare', 'vmgit:managed': 'true', 'vmgit:state': 'uploading', 'dc:identifier': 'crash-q', 'il:dc:identifier': LIST, 'sl:checksum:sha512': vars.VMCATCHER_EVENT_SL_CHECKSUM_SHA512 })
      const r = await event('AvailablePostfix', vars)
      expect(r.code).toBe(0)
      const all = await images('crash-q')
      expect(all).toEqual([expect.objectContaining({ status: 'active', 'vmgit:state': 'current' })])
      expect(all[0]!.id).not.toBe(stale.id)
    })

    it('finishes an image whose upload completed before the crash, if Glance holds exactly the uploaded bytes', async () => {
      const file = await makeDisk(dir, 'f.qcow2', 'qcow2', 12)
      const vars = await cached(file, { id: 'crash-f', version: '1', format: 'QCOW2' })
      const sha = vars.VMCATCHER_EVENT_SL_CHECKSUM_SHA512!
      const half = await glanceClient.createImage({ name: 'x', disk_format: 'qcow2', container_format: 'bare', 'vmgit:managed': 'true', 'vmgit:state': 'uploading', 'vmgit:upload_sha512': sha, 'dc:identifier': 'crash-f', 'il:dc:identifier': LIST, 'sl:checksum:sha512': sha })
      await glanceClient.upload(half.id, file)
      expect((await event('AvailablePostfix', vars, ['--visibility', 'public'])).code).toBe(0)
      expect(await images('crash-f')).toEqual([expect.objectContaining({ id: half.id, visibility: 'public', 'vmgit:state': 'current' })])
    })

    it('deletes its own image when stopped by TERM during the upload (the event timeout)', async () => {
      const big = await makeDisk(dir, 'big.raw', 'raw', 13, 256 * 1024)
      const vars = await cached(big, { id: 'crash-term', version: '1', format: 'raw' })
      const child = spawn(process.execPath, [BIN, 'glance', 'event', '--target-format', 'raw'], {
        env: { ...process.env, ...baseEnv(), ...vars, VMCATCHER_EVENT_TYPE: 'AvailablePostfix' } as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      // wait until the image exists in Glance (created, data on its way), then stop the handler
      let seen: GlanceImage | undefined
      let done = false
      void exited.then(() => (done = true))
      while (!seen && !done) {
        seen = (await glanceClient.listImages({ 'dc:identifier': 'crash-term' }))[0]
        if (!seen) await new Promise((r) => setTimeout(r, 10))
      }
      child.kill('SIGTERM')
      const code = await exited
      const left = await images('crash-term')
      if (code === 0) {
        // the upload won the race: then the image is complete and published
        expect(left).toEqual([expect.objectContaining({ status: 'active', 'vmgit:state': 'current' })])
      } else {
        // stopped: nothing of it remains in Glance
        expect(stderr).toMatch(/GLANCE_ABORTED/)
        expect(left).toEqual([])
      }
    })

    it('deletes the image when Glance stores other bytes than the listed ones (GLANCE_UPLOAD_MISMATCH)', async () => {
      const vars = await cached(await makeDisk(dir, 'm.qcow2', 'qcow2', 14), { id: 'mismatch', version: '1', format: 'QCOW2' })
      // the cache file is damaged after verification; the upload is not converted, so Glance's hash tells
      writeFileSync(path.join(cache, vars.VMCATCHER_EVENT_FILENAME!), readFileSync(await makeDisk(dir, 'other.qcow2', 'qcow2', 15)))
      const r = await event('AvailablePostfix', vars)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('GLANCE_UPLOAD_MISMATCH')
      expect(await images('mismatch')).toEqual([])
    })
  })

  describe('events the Glance handler has no work for', () => {
    it('exits 0 without contacting Glance (no credentials needed)', async () => {
      for (const t of ['ProcessPrefix', 'AvailablePrefix', 'ExpirePrefix', 'SubscriptionImageNew']) {
        const r = await runCli(['glance', 'event'], { env: { HOME: dir, OS_TOKEN: undefined, OS_IMAGE_URL: undefined, OS_CLOUD: undefined, VMCATCHER_EVENT_TYPE: t } })
        expect(r.code).toBe(0)
      }
    })

    it('refuses to run outside an event (NOT_AN_EVENT, exit 2)', async () => {
      const r = await runCli(['glance', 'event'], { env: { VMCATCHER_EVENT_TYPE: undefined, VMILS_EVENT_TYPE: undefined } })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('NOT_AN_EVENT')
    })
  })
})
