import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, type ImageFile, makeWorld, sharedPki, snapshot, subscribed, type World } from '../subscriber/world.js'

/**
 * The certificate that signed the stored list is revoked. S10 then lets another credential replace
 * the stored version even with a lower hv:version (the revoked key may have fast-forwarded it) —
 * but that recovery must never go back in time: a list created before the stored one, or not above
 * the highest version this site accepted from a certificate that still stands, is a ROLLBACK, and
 * the state stays as it is (the stored list withdrawn, its images not offered).
 */
describe('S24 rollback after revocation', () => {
  let b: Baseline
  let w: World
  let original: Buffer
  const noCrl = (): Record<string, string> => ({ VMGIT_CA_DIR: w.pki.noCrlDir })

  beforeAll(async () => {
    b = await subscribed()
    w = b.w
    // the list the site accepted first: hv:version 1.0, created an hour ago, signed by the good signer
    original = await w.signed({ id: w.listId, version: '1.0', images: b.images })
    // a second credential of the same endorser signs 2.0, accepted while the site had no CRL
    expect((await w.trust(w.pki.revoked, 'test-endorser')).code).toBe(0)
    expect((await w.trust(w.pki.subSigner, 'test-endorser')).code).toBe(0)
    await w.publish({ id: w.listId, version: '2.0', images: b.images, created: w.hours(-0.5) }, { signer: w.pki.revoked })
    expect((await w.sync(['--no-crl-check'], { env: noCrl() })).code).toBe(0)
    // fetch-crl brings the CRL that revokes it: the stored 2.0 is withdrawn (S10/S17)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '2.0', status: 'expired' }])
  })
  afterAll(async () => w.close())

  async function expectRollback(bytes: Buffer, why: RegExp): Promise<void> {
    w.server.set('/list.smime', { body: bytes })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(r.stderr).toMatch(why)
    expect(r.stderr).not.toContain('FAST_FORWARD_RECOVERY')
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('cache')).toEqual([])
  }

  describe('when an older list signed by another valid credential is replayed', () => {
    it('refuses the very list the site held before the revoked key signed (same bytes, created earlier)', async () => {
      await expectRollback(original, /created .* before the stored one/)
    })

    it('refuses an old list with a higher hv:version created before the stored one', async () => {
      await expectRollback(await w.signed({ id: w.listId, version: '7.0', images: b.images, created: w.hours(-3) }), /before the stored one/)
    })

    it('refuses a list not above the highest version accepted from a certificate that still stands, however recent', async () => {
      await expectRollback(await w.signed({ id: w.listId, version: '0.9', images: b.images, created: w.hours(-0.1) }), /not newer than version 1\.0/)
      await expectRollback(await w.signed({ id: w.listId, version: '1.0', images: [], created: w.hours(-0.1) }), /not newer than version 1\.0/)
    })

    it('refuses it whichever valid credential signs (a certificate of an intermediate CA too)', async () => {
      await expectRollback(await w.signed({ id: w.listId, version: '0.5', images: b.images, created: w.hours(-0.1) }, w.pki.subSigner), /not newer than version 1\.0/)
      await expectRollback(await w.signed({ id: w.listId, version: '9.0', images: b.images, created: w.hours(-2) }, w.pki.subSigner), /before the stored one/)
    })
  })

  describe('when the publisher signs a new list with a valid credential', () => {
    it('recovers (logged), even below the revoked key\'s hv:version', async () => {
      await w.publish({ id: w.listId, version: '1.5', images: b.images, created: w.hours(-0.1) })
      const r = await w.sync()
      expect(r.stderr).toContain('[FAST_FORWARD_RECOVERY]')
      expect(r.code).toBe(0)
      expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '1.5', status: 'ok' }])
      expect(w.filesIn('cache')).toHaveLength(2)
      expect(w.query("SELECT action FROM log WHERE action = 'fast-forward-recovery'")).toHaveLength(1)
    })

    it('and afterwards the ordinary rollback rules hold again', async () => {
      w.server.set('/list.smime', { body: original })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ROLLBACK]')
      expect(snapshot(w)).toEqual(before)
    })
  })
})

describe('S24 when the only list the site ever accepted was signed by the revoked key', () => {
  let w: World
  let img: ImageFile
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    img = w.image('i.qcow2', 20_000)
    const noCrl = { env: { VMGIT_CA_DIR: w.pki.noCrlDir } }
    await w.publish({ id: w.listId, version: '2.0', images: [img] }, { signer: w.pki.revoked })
    const steps = [
      await w.trust(w.pki.revoked), await w.trust(w.pki.signer),
      await w.cli(['sub', 'add', w.listUrl, '--now', w.nowIso, '--no-crl-check'], noCrl),
      await w.cli(['sub', 'select', img.id]),
      await w.sync(['--no-crl-check'], noCrl),
    ]
    for (const s of steps) expect(s.code, s.stderr).toBe(0)
    expect(w.filesIn('cache')).toHaveLength(2)
    expect((await w.sync()).code).toBe(1) // the CRL arrives: withdrawn
  })
  afterAll(async () => w.close())

  it('refuses a lower version from another credential that is not strictly newer than the stored list', async () => {
    // same dc:date:created as the stored list (both "an hour ago")
    await w.publish({ id: w.listId, version: '1.0', images: [img] })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ROLLBACK]')
    expect(r.stderr).toContain('was not created after the stored one')
    expect(snapshot(w)).toEqual(before)
  })

  it('recovers with a list created after it', async () => {
    await w.publish({ id: w.listId, version: '1.0', images: [img], created: w.hours(-0.5) })
    const r = await w.sync()
    expect(r.stderr).toContain('[FAST_FORWARD_RECOVERY]')
    expect(r.code).toBe(0)
    expect(w.query<{ version: string; status: string }>('SELECT version, status FROM subscription')).toEqual([{ version: '1.0', status: 'ok' }])
  })
})
