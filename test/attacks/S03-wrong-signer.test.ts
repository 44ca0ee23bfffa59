import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { type Baseline, makeWorld, sharedPki, snapshot, subscribed } from '../subscriber/world.js'

describe('S03 wrong signer: the list does not name its signer, or the signer is not this subscription\'s', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it.each([
    ['hv:dn names someone else', { dn: '/DC=org/DC=vmgit-test/O=Test Grid/CN=Somebody Else' }],
    ['hv:ca names another CA', { ca: '/C=XX/O=Other Federation/CN=Other Root CA' }],
  ])('refuses a list whose %s (ENDORSER_MISMATCH, vmcatcher 12)', async (_what, claim) => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: b.images, ...claim })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ENDORSER_MISMATCH]')
    expect(snapshot(w)).toEqual(before)
  })

  it('refuses a validly chained signer that is not a credential of this subscription\'s endorser (vmcatcher 13)', async () => {
    const { w } = b
    // trusted on this host — but for another endorser name, not the one this list is bound to
    expect((await w.trust(w.pki.subSigner, 'other-endorser')).code).toBe(0)
    await w.publish({ id: w.listId, version: '2.0', images: b.images }, { signer: w.pki.subSigner })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[ENDORSER_NOT_AUTHORISED]')
    expect(snapshot(w)).toEqual(before)
  })
})

describe('S03 cloudkeeper imagelist01.signed (hv:dn/hv:ca do not name its signer)', () => {
  it('is refused in strict mode even with its signer trusted, and accepted only with --auto-endorse', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const ck = path.join(ROOT, 'test/fixtures/cloudkeeper')
      w.server.set('/list.smime', { body: readFileSync(path.join(ck, 'imagelist01.signed')) })
      const env = { VMGIT_CA_DIR: path.join(ck, 'ca') }
      const signer = '/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd'
      expect((await w.cli(['sub', 'trust', '--subject', signer, '--issuer', signer, '--name', 'ck'], { env })).code).toBe(0)
      const strict = await w.cli(['sub', 'add', w.listUrl, '--no-crl-check', '--now', w.nowIso], { env })
      expect(strict.code).toBe(1)
      expect(strict.stderr).toContain('[ENDORSER_MISMATCH]')
      expect(w.dump().subscription).toEqual([])
      const auto = await w.cli(['sub', 'add', w.listUrl, '--no-crl-check', '--auto-endorse', '--now', w.nowIso], { env })
      expect(auto.code).toBe(0)
      expect(w.query<{ endorser: string; endorser_check: string }>('SELECT endorser, endorser_check FROM subscription')).toEqual([{ endorser: 'ck', endorser_check: 'signer' }])
    } finally {
      await w.close()
    }
  })
})
