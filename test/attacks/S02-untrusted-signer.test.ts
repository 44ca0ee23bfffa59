import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCredentials } from '../../src/smime/credentials.js'
import { signContent } from '../../src/smime/sign.js'
import { ROOT } from '../helpers/cli.js'
import { type Baseline, makeWorld, sharedPki, snapshot, subscribed } from '../subscriber/world.js'

describe('S02 a signer that does not chain, has expired, is revoked, or is not alone', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  const cases = [
    ['signed under a CA outside --ca-dir', 'signer2', 'UNTRUSTED_SIGNER'],
    ['signed by a certificate that expired before now', 'expired', 'SIGNER_EXPIRED'],
    ['signed by a certificate in the CA\'s CRL', 'revoked', 'SIGNER_REVOKED'],
  ] as const

  it.each(cases)('refuses a list %s, keeping state', async (_what, who, code) => {
    const { w } = b
    const signer = w.pki[who]
    // the endorser claim names the signer, so only the certificate check can stop it
    await w.publish({ id: w.listId, version: '2.0', images: b.images }, { signer })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`[${code}]`)
    expect(snapshot(w)).toEqual(before)
  })

  it('refuses a list with two SignerInfos, even when both signers are good', async () => {
    const { w } = b
    const { opensslSign } = await import('../helpers/pki.js')
    w.server.set('/list.smime', { body: await opensslSign(w.listJson({ id: w.listId, version: '2.0', images: b.images }), [w.pki.signer, w.pki.subSigner]) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[MULTIPLE_SIGNERS]')
    expect(snapshot(w)).toEqual(before)
  })

  it('never lets the signer-asserted signingTime rescue an expired certificate', async () => {
    const { w } = b
    const creds = await loadCredentials({ cert: w.pki.expired.cert, key: w.pki.expired.key })
    // signingTime inside the certificate's validity (2020): verification still happens at now
    const body = await signContent(Buffer.from(w.listJson({ id: w.listId, version: '2.0', images: b.images }, w.pki.expired)), creds, { signingTime: new Date('2020-06-01T00:00:00Z') })
    w.server.set('/list.smime', { body })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[SIGNER_EXPIRED]')
    expect(snapshot(w)).toEqual(before)
  })
})

describe('S02 cloudkeeper history lists (CA expired 2018-01-13)', () => {
  it('verify at now=2018-01-01 and are refused at the real now', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const hist = path.join(ROOT, 'test/fixtures/cloudkeeper/history')
      const ca = path.join(w.dir, 'hist-ca')
      const { mkdirSync, copyFileSync } = await import('node:fs')
      mkdirSync(ca)
      copyFileSync(path.join(hist, 'e699ea3-ca-9da13359.0'), path.join(ca, '9da13359.0'))
      w.server.set('/list.smime', { body: readFileSync(path.join(hist, 'e699ea3-imagelist01.signed')) })
      const env = { VMGIT_CA_DIR: ca }
      const add = await w.cli(['sub', 'add', w.listUrl, '--auto-endorse', '--no-crl-check', '--now', '2018-01-01T00:00:00Z'], { env })
      expect(add.stderr).toContain('ENDORSER_MISMATCH')
      expect(add.code).toBe(0)
      const before = snapshot(w)
      // the same file, fetched again today: the certificates have expired
      w.server.set('/list.smime', { body: readFileSync(path.join(hist, 'e699ea3-imagelist02.signed')) })
      const r = await w.cli(['sync', '--no-crl-check'], { env })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/\[(TRUST_ANCHOR_EXPIRED|SIGNER_EXPIRED)\]/)
      // the refused list changed nothing; the stored one is no longer offered since its signer expired (S17)
      const [after] = snapshot(w).db.subscription as Record<string, unknown>[]
      expect({ ...after, status: 'ok' }).toEqual((before.db.subscription as unknown[])[0])
      expect(after!.status).toBe('expired')
    } finally {
      await w.close()
    }
  })
})
