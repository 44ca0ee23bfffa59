import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ImageFile, makeWorld, sharedPki, snapshot, type World } from '../subscriber/world.js'

/**
 * The primary mirror keeps answering 304 (or serving the stored version) while another mirror has
 * a newer one: "unchanged" is no news. Every mirror is asked on every run, the highest verified
 * version is applied once, the laggard is reported (a warning: the run still exits 0), and a mirror
 * that is current costs one 304.
 */
describe('S25 freeze by mirror', () => {
  let w: World
  let img: ImageFile
  const A = '/a/list.smime'
  const B = '/b/list.smime'
  const C = '/c/list.smime'
  const version = (): string => w.query<{ version: string }>('SELECT version FROM subscription')[0]!.version
  const statusOf = (p: string): (number | undefined)[] => w.server.requests.filter((q) => q.path === p).map((q) => q.status)
  const list = (v: string, extra: { created?: Date } = {}): Promise<Buffer> => w.signed({ id: w.listId, version: v, images: [img], ...extra })

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    img = w.image('i.qcow2', 10_000)
    const v1 = await list('1.0')
    for (const p of [A, B, C]) w.server.set(p, { body: v1 })
    const steps = [await w.trust(), await w.add(w.server.url(A), ['--mirror', w.server.url(B), '--mirror', w.server.url(C)]), await w.cli(['sub', 'select', img.id])]
    for (const s of steps) expect(s.code, s.stderr).toBe(0)
    expect((await w.sync()).code).toBe(0)
    // every mirror now has validators for the stored version: an unchanged run costs one 304 each
    w.server.reset()
    expect((await w.sync()).code).toBe(0)
    expect([statusOf(A), statusOf(B), statusOf(C)]).toEqual([[304], [304], [304]])
  })
  afterAll(async () => w.close())

  describe('when the primary answers 304 while another mirror serves a newer version', () => {
    it('takes the newer version and warns about the laggard', async () => {
      w.server.set(C, { body: await list('2.0') })
      w.server.reset()
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(version()).toBe('2.0')
      expect([statusOf(A), statusOf(B), statusOf(C)]).toEqual([[304], [304], [200]])
      expect(r.stderr).toContain(`warning [MIRROR_LAGGING]: list ${w.listId} from ${w.server.url(A)}`)
      expect(r.stderr).toContain(`warning [MIRROR_LAGGING]: list ${w.listId} from ${w.server.url(B)}`)
      expect(r.stdout).toContain('hv:version 1.0 -> 2.0')
    })

    it('keeps reporting the laggard on later runs (its old validators no longer stand for the stored list)', async () => {
      w.server.reset()
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect([statusOf(A), statusOf(B), statusOf(C)]).toEqual([[200], [200], [304]])
      expect(r.stderr).toContain(`warning [ROLLBACK]: list ${w.listId} from ${w.server.url(A)}`)
      expect(version()).toBe('2.0')
    })

    it('and a mirror that caught up costs one 304 again', async () => {
      const v2 = await list('2.0')
      // the same signed content, signed again: equal for the subscriber
      w.server.set(A, { body: v2 })
      w.server.set(B, { body: v2 })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stderr).toBe('')
      w.server.reset()
      expect((await w.sync()).code).toBe(0)
      expect([statusOf(A), statusOf(B), statusOf(C)]).toEqual([[304], [304], [304]])
    })
  })

  describe('when several mirrors are ahead of the stored version', () => {
    it('applies only the highest verified version, once', async () => {
      w.server.set(B, { body: await list('3.0') })
      w.server.set(C, { body: await list('4.0') })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(version()).toBe('4.0')
      expect(r.stdout.match(/updated: hv:version/g)).toHaveLength(1)
      expect(r.stdout).toContain('hv:version 2.0 -> 4.0')
      expect(r.stderr).toContain(`warning [MIRROR_LAGGING]: list ${w.listId} from ${w.server.url(B)}`)
    })
  })

  describe('when the newer "version" on another mirror is bad', () => {
    it('keeps the stored list when it is forged, signed by an untrusted key, or a rollback in disguise', async () => {
      const v4 = await list('4.0')
      for (const p of [A, B, C]) w.server.set(p, { body: v4 })
      expect((await w.sync()).code).toBe(0)
      const good = await list('5.0')
      w.server.set(B, { body: Buffer.from(good.toString('latin1').replace('"5.0"', '"6.0"'), 'latin1') })
      w.server.set(C, { body: await w.signed({ id: w.listId, version: '7.0', images: [img] }, w.pki.signer2) })
      const before = snapshot(w)
      const r = await w.sync()
      // the primary proved the stored version current; the bad mirrors are reported
      expect(r.code).toBe(0)
      expect(r.stderr).toContain(`warning [DIGEST_MISMATCH]: list ${w.listId} from ${w.server.url(B)}`)
      expect(r.stderr).toContain(`warning [UNTRUSTED_SIGNER]: list ${w.listId} from ${w.server.url(C)}`)
      expect(snapshot(w)).toEqual(before)
      // a higher version created before the stored one
      w.server.set(C, { body: await list('8.0', { created: w.hours(-48) }) })
      const r2 = await w.sync()
      expect(r2.stderr).toContain(`warning [ROLLBACK]: list ${w.listId} from ${w.server.url(C)}`)
      expect(snapshot(w)).toEqual(before)
    })
  })
})
