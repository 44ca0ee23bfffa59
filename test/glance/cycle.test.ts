import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient, type GlanceImage } from '../../src/glance/client.js'
import { BIN } from '../helpers/cli.js'
import { glanceNeeds, makeDisk, makeOva, startGlance, type GlanceServer } from '../helpers/glance.js'
import { imageEntry, makeWorld, sharedPki, type ImageFile, type World } from '../subscriber/world.js'

/**
 * The whole path on one host: a signed list served over HTTP (openssl PKI), `vmgit sync` with
 * `--event "vmgit glance event"`, and a real Glance. Run `npm run build` first.
 */
describe.skipIf(glanceNeeds.skip)(`sync → event → Glance, for the life of an image (${glanceNeeds.reason})`, () => {
  let w: World
  let glance: GlanceServer
  let client: GlanceClient
  let a1: ImageFile
  let a2: ImageFile
  let b: ImageFile
  const handler = (): string => `'${process.execPath}' '${BIN}' glance event --grace 1h --visibility community`
  const env = (): Record<string, string | undefined> => ({ OS_TOKEN: 'test', OS_IMAGE_URL: glance.url, OS_CLOUD: undefined, OS_AUTH_URL: undefined, HOME: w.dir })
  const sync = () => w.sync(['--event', handler(), '--event-timeout', '120'], { env: env() })
  const entry = (f: ImageFile, version: string, format: string) => imageEntry(f, { 'hv:version': version, 'hv:format': format, 'sl:osname': 'AlmaLinux', 'sl:osversion': '9.3' })
  const managed = async (id: string): Promise<GlanceImage[]> =>
    (await client.listImages({ 'vmgit:managed': 'true', 'dc:identifier': id })).sort((x, y) => String(x['hv:version']).localeCompare(String(y['hv:version'])))

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    glance = await startGlance()
    client = new GlanceClient({ endpoint: glance.url, token: 'test' })
    const disks = path.join(w.dir, 'disks')
    mkdirSync(disks)
    a1 = w.image('a-1.vmdk', readFileSync(await makeDisk(disks, 'a-1.vmdk', 'vmdk', 21)))
    const ova = await makeOva(disks, 'a-2', [await makeDisk(disks, 'a-2-disk1.vmdk', 'vmdk', 22)])
    a2 = w.image('a-2.ova', readFileSync(ova), a1.id)
    b = w.image('b.qcow2', readFileSync(await makeDisk(disks, 'b.qcow2', 'qcow2', 23)))
    await w.publish({ id: w.listId, version: '1', images: [entry(a1, '1.0', 'VMDK'), entry(b, '1.0', 'QCOW2')] })
    expect((await w.trust()).code).toBe(0)
    expect((await w.add(w.listUrl, ['--id', w.listId])).code).toBe(0)
    expect((await w.cli(['sub', 'select', a1.id])).code).toBe(0)
  })
  afterAll(async () => {
    await glance?.stop()
    await w?.close()
  })

  it('imports a newly cached image: active, converted to qcow2, with its list entry and endorser as properties', async () => {
    const r = await sync()
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(await managed(a1.id)).toEqual([
      expect.objectContaining({
        status: 'active',
        visibility: 'community',
        disk_format: 'qcow2',
        'vmgit:state': 'current',
        'dc:identifier': a1.id,
        'hv:version': '1.0',
        'sl:checksum:sha512': a1.sha512,
        'il:dc:identifier': w.listId,
        'vmgit:endorser': w.pki.signer.subject,
        os_distro: 'almalinux',
        os_version: '9.3',
        architecture: 'x86_64',
      }),
    ])
  })

  it('replaces it with a new version: the old one stays active until the new one (an OVA) is uploaded, then retires', async () => {
    await w.publish({ id: w.listId, version: '2', images: [entry(a2, '2.0', 'OVA'), entry(b, '1.0', 'QCOW2')] })
    const r = await sync()
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const [old, neu] = await managed(a1.id)
    expect(neu).toMatchObject({ 'hv:version': '2.0', status: 'active', 'vmgit:state': 'current', 'vmgit:source_format': 'ova/vmdk', 'sl:checksum:sha512': a2.sha512 })
    // ExpirePostfix of 1.0 came first (vmcatcher's order) but did not expire it: a successor was listed
    expect(old).toMatchObject({ 'hv:version': '1.0', status: 'deactivated', 'vmgit:state': 'retiring' })
  })

  it('retires the image when the endorser withdraws it', async () => {
    await w.publish({ id: w.listId, version: '3', images: [entry(b, '1.0', 'QCOW2')] })
    const r = await sync()
    expect(r.code).toBe(0)
    const states = (await managed(a1.id)).map((i) => [i['hv:version'], i.status, i['vmgit:state']])
    expect(states).toEqual([
      ['1.0', 'deactivated', 'retiring'],
      ['2.0', 'deactivated', 'expired'],
    ])
  })

  describe('vmgit glance reconcile', () => {
    it('repairs a Glance that missed events: uploads what the cache holds, expires what it no longer holds', async () => {
      // b enters the cache by a sync without the Glance handler: Glance never hears of it
      expect((await w.cli(['sub', 'select', b.id])).code).toBe(0)
      expect((await w.sync([], { env: env() })).code).toBe(0)
      expect(await managed(b.id)).toEqual([])
      // two hours on, a's retired 1.0 is past its grace period; a's expired 2.0 stays deactivated
      const later = new Date(Date.now() + 2 * 3600_000).toISOString()
      const r = await w.cli(['glance', 'reconcile', '--visibility', 'community', '--now', later], { env: env() })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(await managed(b.id)).toEqual([expect.objectContaining({ status: 'active', 'vmgit:state': 'current', 'sl:checksum:sha512': b.sha512 })])
      expect((await managed(a1.id)).map((i) => [i['hv:version'], i['vmgit:state']])).toEqual([['2.0', 'expired']])
      expect(r.stdout).toContain(`uploaded ${b.id}`)
    })

    it('changes nothing when run again (idempotent)', async () => {
      const before = JSON.stringify(await client.listImages({ 'vmgit:managed': 'true' }))
      const r = await w.cli(['glance', 'reconcile', '--visibility', 'community', '--json'], { env: env() })
      expect(r.code).toBe(0)
      const out = JSON.parse(r.stdout) as { ok: boolean; images: number; actions: { action: string }[] }
      expect(out).toMatchObject({ ok: true, images: 1 })
      expect(out.actions.map((a) => a.action)).toEqual(['unchanged'])
      expect(JSON.stringify(await client.listImages({ 'vmgit:managed': 'true' }))).toBe(before)
    })

    it('recreates an image someone deleted from Glance, and refuses to touch images vmgit did not make', async () => {
      const foreign = await client.createImage({ name: 'hand-made', disk_format: 'raw', container_format: 'bare', 'dc:identifier': b.id, 'il:dc:identifier': w.listId })
      const [mine] = await managed(b.id)
      await client.deleteImage(mine!.id)
      const r = await w.cli(['glance', 'reconcile', '--visibility', 'community'], { env: env() })
      expect(r.code).toBe(0)
      expect(await managed(b.id)).toEqual([expect.objectContaining({ status: 'active', 'vmgit:state': 'current' })])
      expect(await client.getImage(foreign.id)).toMatchObject({ status: 'queued', name: 'hand-made' })
    })
  })
})
