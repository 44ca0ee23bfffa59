import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient } from '../../src/glance/client.js'
import { BIN } from '../helpers/cli.js'
import { glanceNeeds, makeDisk, startGlance, type GlanceServer } from '../helpers/glance.js'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { makeOciWorld, type OciWorld } from '../subscriber/oci-world.js'

const reg = needsRegistry(SKOPEO)

/**
 * Issue 17: an image that came from a registry goes to Glance as any other (sync → event → Glance),
 * and its Glance image names the signed OCI reference and manifest digest. Run `npm run build` first.
 */
describe.skipIf(glanceNeeds.skip || reg.skip)(`a registry list's image in Glance (${glanceNeeds.reason}${reg.reason ? `; ${reg.reason}` : ''})`, () => {
  let ow: OciWorld
  let glance: GlanceServer

  beforeAll(async () => {
    ow = await makeOciWorld()
    glance = await startGlance()
  }, 120_000)
  afterAll(async () => {
    await glance?.stop()
    await ow?.close()
  })

  it('imports it, active, with vmgit:oci:reference and vmgit:oci:digest as properties', async () => {
    const { w } = ow
    const disks = path.join(w.dir, 'disks')
    mkdirSync(disks)
    const img = w.image('gl.qcow2', readFileSync(await makeDisk(disks, 'gl.qcow2', 'qcow2', 24)))
    const p = ow.pushImage(img)
    w.server.remove(img.route)
    ow.pushList(await w.signed({ id: w.listId, version: '1', images: [ow.entry(img, p, { 'hv:format': 'QCOW2' })] }), ['1', 'latest'])
    expect((await w.trust()).code).toBe(0)
    expect((await w.add(ow.listLocation())).code).toBe(0)
    expect((await w.cli(['sub', 'select', img.id])).code).toBe(0)
    const handler = `'${process.execPath}' '${BIN}' glance event --visibility community`
    const r = await w.sync(['--event', handler, '--event-timeout', '120'], { env: { OS_TOKEN: 'test', OS_IMAGE_URL: glance.url, OS_CLOUD: undefined, OS_AUTH_URL: undefined, HOME: w.dir } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const client = new GlanceClient({ endpoint: glance.url, token: 'test' })
    const found = await client.listImages({ 'vmgit:managed': 'true', 'dc:identifier': img.id })
    expect(found).toEqual([
      expect.objectContaining({
        status: 'active',
        'sl:checksum:sha512': img.sha512,
        'vmgit:oci:reference': `${ow.host}/${p.repository}@${p.digest}`,
        'vmgit:oci:digest': p.digest,
      }),
    ])
  }, 240_000)
})
