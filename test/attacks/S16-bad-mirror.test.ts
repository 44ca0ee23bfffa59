import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ImageFile, makeWorld, sharedPki, snapshot, type World } from '../subscriber/world.js'

describe('S16 bad mirror: mirror A stale or forged, mirror B good', () => {
  let w: World
  let img: ImageFile
  const A = '/a/list.smime'
  const B = '/b/list.smime'
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    img = w.image('i.qcow2', 10_000)
    const v1 = await w.signed({ id: w.listId, version: '1.0', images: [img] })
    w.server.set(A, { body: v1 })
    w.server.set(B, { body: v1 })
    for (const r of [await w.trust(), await w.add(w.server.url(A), ['--mirror', w.server.url(B)])]) expect(r.code).toBe(0)
    expect((await w.sync()).code).toBe(0)
  })
  afterAll(async () => w.close())

  it('takes the good list from B when A replays an older version, and reports A', async () => {
    w.server.set(A, { body: await w.signed({ id: w.listId, version: '0.9', images: [img] }) })
    w.server.set(B, { body: await w.signed({ id: w.listId, version: '2.0', images: [img] }) })
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`warning [ROLLBACK]: list ${w.listId} from ${w.server.url(A)}`)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
  })

  it('takes B when A serves a forged list or is down', async () => {
    const good = await w.signed({ id: w.listId, version: '3.0', images: [img] })
    w.server.set(A, { body: Buffer.from(good.toString('latin1').replace('"3.0"', '"4.0"'), 'latin1') })
    w.server.set(B, { body: good })
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('warning [DIGEST_MISMATCH]')
    w.server.set(A, { status: 503 })
    w.server.set(B, { body: await w.signed({ id: w.listId, version: '3.1', images: [img] }) })
    const r2 = await w.sync()
    expect(r2.code).toBe(0)
    expect(r2.stderr).toContain('warning [HTTP_STATUS]')
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '3.1' }])
  })

  it('keeps state when both mirrors are bad, and says so per mirror', async () => {
    w.server.set(A, { body: await w.signed({ id: w.listId, version: '0.1', images: [img] }) })
    w.server.set(B, { body: await w.signed({ id: w.listId, version: '5.0', images: [img] }, w.pki.signer2) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`error [ROLLBACK]: list ${w.listId} from ${w.server.url(A)}`)
    expect(r.stderr).toContain(`error [UNTRUSTED_SIGNER]: list ${w.listId} from ${w.server.url(B)}`)
    expect(snapshot(w)).toEqual(before)
  })
})
