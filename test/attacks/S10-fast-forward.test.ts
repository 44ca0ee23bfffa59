import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

/**
 * A leaked key signs hv:version 99999999999999: every genuine list then looks like a rollback.
 * The stored version is tied to the certificate that signed it; it is forgotten only when that
 * certificate appears in its CA's CRL and another credential signs, or by a logged `sub reset`.
 */
describe('S10 fast-forward', () => {
  let b: Baseline
  const HUGE = '99999999999999'
  beforeAll(async () => {
    b = await subscribed()
    // the "leaked" certificate is a legitimate credential of the same endorser
    expect((await b.w.trust(b.w.pki.revoked, 'test-endorser')).code).toBe(0)
  })
  afterAll(async () => b.w.close())

  it('refuses the leaked key outright once its certificate is in the CRL', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: HUGE, images: b.images }, { signer: w.pki.revoked })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[SIGNER_REVOKED]')
    expect(snapshot(w)).toEqual(before)
  })

  describe('when the CRL did not list the key yet', () => {
    const noCrl = (): Record<string, string> => ({ VMGIT_CA_DIR: b.w.pki.noCrlDir })

    it('the fast-forwarded list is accepted (the key was valid as far as the site knew)', async () => {
      const { w } = b
      const r = await w.sync(['--no-crl-check'], { env: noCrl() })
      expect(r.code).toBe(0)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: HUGE }])
    })

    it('a genuine lower version signed by another certificate is still a rollback while the old one stands', async () => {
      const { w } = b
      await w.publish({ id: w.listId, version: '2.0', images: b.images })
      const before = snapshot(w)
      const r = await w.sync(['--no-crl-check'], { env: noCrl() })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ROLLBACK]')
      expect(snapshot(w)).toEqual(before)
    })

    it('recovers by itself once the old certificate is revoked and a new one signs (logged)', async () => {
      const { w } = b
      const r = await w.sync()
      expect(r.stderr).toContain('[FAST_FORWARD_RECOVERY]')
      expect(r.code).toBe(0)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
      expect(w.query<{ action: string }>("SELECT action FROM log WHERE action = 'fast-forward-recovery'")).toHaveLength(1)
    })
  })

  it('otherwise recovers only through an explicit, logged `vmgit sub reset`', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '3000', images: b.images })
    expect((await w.sync()).code).toBe(0)
    await w.publish({ id: w.listId, version: '3.0', images: b.images })
    const refused = await w.sync()
    expect(refused.stderr).toContain('[ROLLBACK]')
    const reset = await w.cli(['sub', 'reset', w.listId])
    expect(reset.code).toBe(0)
    expect(w.query<{ action: string; detail: string }>("SELECT action, detail FROM log WHERE action = 'reset'")).toEqual([
      { action: 'reset', detail: expect.stringContaining('stored version 3000') },
    ])
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '3.0' }])
  })
})
