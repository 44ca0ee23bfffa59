/**
 * Every signed fixture gets the verdict written in test/fixtures/SOURCES.md (= shared fixtures README),
 * with openssl agreeing where it can judge.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { verifyImageList } from '../../src/smime/imagelist.js'
import { loadTrustStore, type TrustStore } from '../../src/smime/trust.js'
import { verifySmime, type VerifyOptions } from '../../src/smime/verify.js'
import { opensslVerify } from '../helpers/pki.js'

const F = path.resolve(__dirname, '../fixtures')
const at = (iso: string): Date => new Date(iso)
const NOW = new Date()
const read = (f: string): Promise<Buffer> => readFile(path.join(F, f))

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p
  } catch (e) {
    return e as { code: string; message: string }
  }
  throw new Error('expected a failure')
}

describe('fixture verdicts', () => {
  let ck: TrustStore
  let history: TrustStore
  beforeAll(async () => {
    ck = await loadTrustStore(path.join(F, 'cloudkeeper/ca'))
    history = await loadTrustStore(path.join(F, 'cloudkeeper/history'))
  })
  const opts = (trust: TrustStore | null, when = NOW, crlCheck = false): VerifyOptions => ({ trust, at: when, crlCheck })
  // these fixtures' verdicts are about the signature and the endorser; the lists' own dates lapsed
  // long ago (the rulebook's LIST_EXPIRED is tested in test/rules/)
  const sigOnly = (trust: TrustStore | null) => ({ ...opts(trust), timeRules: 'skip' as const })

  describe('cloudkeeper/imagelist01..04.signed (SHA-256, self-signed test CA valid to 2028-02-17)', () => {
    for (const n of ['01', '02', '03', '04']) {
      it(`imagelist${n}: signature valid against cloudkeeper/ca (its CA publishes no CRL)`, async () => {
        const r = await verifySmime(await read(`cloudkeeper/imagelist${n}.signed`), opts(ck))
        expect(r.signer.subject).toBe('/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd')
        expect(r.signer.digest).toBe('sha256')
        expect((await opensslVerify(path.join(F, `cloudkeeper/imagelist${n}.signed`), path.join(F, 'cloudkeeper/ca'))).ok).toBe(true)
      })
    }
    it('fails the strict endorser check (hv:dn/hv:ca do not name the signer)', async () => {
      const e = await failure(verifyImageList(await read('cloudkeeper/imagelist01.signed'), sigOnly(ck)))
      expect(e.code).toBe('ENDORSER_MISMATCH')
    })
    it('passes when the mismatch is explicitly allowed, and reports it', async () => {
      const r = await verifyImageList(await read('cloudkeeper/imagelist01.signed'), { ...sigOnly(ck), allowEndorserMismatch: true })
      expect(r.problems.map((p) => p.code)).toEqual(['ENDORSER_MISMATCH'])
      expect(r.list.images.length).toBeGreaterThan(0)
    })
    it('fails with CRL_MISSING when CRLs are required (openssl -crl_check agrees)', async () => {
      expect((await failure(verifySmime(await read('cloudkeeper/imagelist01.signed'), opts(ck, NOW, true)))).code).toBe('CRL_MISSING')
      const o = await opensslVerify(path.join(F, 'cloudkeeper/imagelist01.signed'), path.join(F, 'cloudkeeper/ca'), { crlCheck: true })
      expect(o.stderr).toMatch(/unable to get certificate CRL/)
    })
  })

  describe('cloudkeeper/imagelist_invalid.signed (tampered, expired "TEST" signer)', () => {
    it('fails with DIGEST_MISMATCH before any chain check (attacks S01)', async () => {
      expect((await failure(verifySmime(await read('cloudkeeper/imagelist_invalid.signed'), opts(ck)))).code).toBe('DIGEST_MISMATCH')
      expect((await failure(verifySmime(await read('cloudkeeper/imagelist_invalid.signed'), opts(null)))).code).toBe('DIGEST_MISMATCH')
      expect((await opensslVerify(path.join(F, 'cloudkeeper/imagelist_invalid.signed'), null)).ok).toBe(false)
    })
  })

  describe('cloudkeeper/history (2016 and Dec-2017 lists, CAs expired)', () => {
    for (const n of ['01', '02', '03', '04']) {
      it(`59d818b-imagelist${n} passes at 2018-01-01T00:00:00Z (no CRLs exist: crlCheck off) and fails today with SIGNER_EXPIRED`, async () => {
        const bytes = await read(`cloudkeeper/history/59d818b-imagelist${n}.signed`)
        const r = await verifySmime(bytes, opts(history, at('2018-01-01T00:00:00Z')))
        expect(r.signer.subject).toBe('/C=NA/ST=Narnia/L=Aver/O=TEST/OU=TEST/CN=TEST')
        const e = await failure(verifySmime(bytes, opts(history)))
        expect(e.code).toBe('SIGNER_EXPIRED')
        expect(e.message).toMatch(/expired on 2021-10-11; renew it and re-sign, or use --at for a historical check/)
      })
      it(`e699ea3-imagelist${n} passes at 2018-01-01 and fails today (expired 2018-01-13)`, async () => {
        const bytes = await read(`cloudkeeper/history/e699ea3-imagelist${n}.signed`)
        await verifySmime(bytes, opts(history, at('2018-01-01T00:00:00Z')))
        expect((await failure(verifySmime(bytes, opts(history)))).code).toBe('SIGNER_EXPIRED')
      })
    }
    it('never lets the signer-claimed signingTime rescue an expired certificate (attacks S02)', async () => {
      const r = await verifySmime(await read('cloudkeeper/history/59d818b-imagelist01.signed'), opts(history, at('2018-01-01T00:00:00Z')))
      expect(r.signer.signingTime && r.signer.signingTime < r.signer.notAfter).toBe(true)
      expect((await failure(verifySmime(await read('cloudkeeper/history/59d818b-imagelist01.signed'), opts(history)))).code).toBe('SIGNER_EXPIRED')
    })
    it('openssl agrees: fails today, passes with -attime 2018-01-01', async () => {
      const ca = path.join(F, 'cloudkeeper/history')
      const f = path.join(F, 'cloudkeeper/history/59d818b-imagelist01.signed')
      // openssl -CApath only finds hash-named files; the fixture's CA is "59d818b-ca-457f896a.0", so use -CAfile semantics via a hashed copy
      const { mkdtemp, copyFile } = await import('node:fs/promises')
      const tmp = await mkdtemp(path.join((await import('node:os')).tmpdir(), 'vmgit-hist-'))
      await copyFile(path.join(ca, '59d818b-ca-457f896a.0'), path.join(tmp, '457f896a.0'))
      try {
        expect((await opensslVerify(f, tmp)).stderr).toMatch(/certificate has expired/)
        expect((await opensslVerify(f, tmp, { attime: at('2018-01-01T00:00:00Z') })).ok).toBe(true)
      } finally {
        await (await import('node:fs/promises')).rm(tmp, { recursive: true, force: true })
      }
    })
  })

  describe('hepixvmitrust/readme_example.smime (real 2011 list, SHA-1, old protocol spelling)', () => {
    it('passes digest and signature with chain checks off, over the exact CRLF bytes', async () => {
      const r = await verifySmime(await read('hepixvmitrust/readme_example.smime'), opts(null))
      expect(r.content).toEqual(await read('hepixvmitrust/readme_example.signed-content.json'))
      expect(r.signer).toMatchObject({ subject: '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge', issuer: '/C=DE/O=GermanGrid/CN=GridKa-CA', digest: 'sha1' })
      expect(r.signer.notAfter.toISOString().slice(0, 10)).toBe('2011-02-04')
    })
    it('its endorser names the signer (dn and ca match)', async () => {
      const r = await verifyImageList(await read('hepixvmitrust/readme_example.smime'), sigOnly(null))
      expect(r.problems).toEqual([])
    })
    it('fails chain validation: the GridKa CA is not in the trust directory', async () => {
      const e = await failure(verifySmime(await read('hepixvmitrust/readme_example.smime'), opts(ck)))
      expect(e.code).toBe('UNTRUSTED_SIGNER')
      expect(e.message).toMatch(/GridKa-CA.*install the issuing CA/)
    })
  })

  describe('hepix-virtualisation-book/book_example.smime (hand-edited after signing)', () => {
    it('fails with DIGEST_MISMATCH, like openssl', async () => {
      expect((await failure(verifySmime(await read('hepix-virtualisation-book/book_example.smime'), opts(null)))).code).toBe('DIGEST_MISMATCH')
      expect((await opensslVerify(path.join(F, 'hepix-virtualisation-book/book_example.smime'), null)).ok).toBe(false)
    })
  })

  describe('synthetic/vmcaster-style.sha1|sha256.smime (golden vectors)', () => {
    for (const d of ['sha1', 'sha256']) {
      it(`${d}: valid against cloudkeeper/ca, and the endorser matches the signer`, async () => {
        const r = await verifyImageList(await read(`synthetic/vmcaster-style.${d}.smime`), sigOnly(ck))
        expect(r.signer.digest).toBe(d)
        expect(r.problems).toEqual([])
        expect(r.content.toString()).toBe((await read('synthetic/vmcaster-style.json')).toString().replace(/\n/g, '\r\n'))
      })
    }
  })

  describe('smimeX509validation/truststore (IGTF-style directory, all CAs expired 2020)', () => {
    it('skips the .signing_policy and .crl_url files and reports every anchor as expired', async () => {
      const store = await loadTrustStore(path.join(F, 'smimeX509validation/truststore'))
      const r = await store.report(NOW)
      expect(r.skipped).toEqual([
        'AddTrust_External_Root.crl_url', 'AddTrust_External_Root.signing_policy', 'TERENA_SSL_CA.crl_url',
        'TERENA_eScience_SSL_CA.crl_url', 'TERENA_eScience_SSL_CA.signing_policy', 'UTN-USERFirst-Hardware.signing_policy',
      ])
      expect(r.anchors.map((a) => [a.file, a.expired, a.notAfter])).toEqual([
        ['AddTrust_External_Root.pem', true, '2020-05-30T10:48:38Z'],
        ['TERENA_SSL_CA.pem', true, '2020-05-30T10:48:38Z'],
        ['TERENA_eScience_SSL_CA.pem', true, '2020-05-30T10:48:38Z'],
        ['UTN_USERFirst_Hardware_Root_CA.pem', true, '2020-05-30T10:48:38Z'],
      ])
      expect(r.unreadable).toEqual([])
    })
    it('describes each anchor by its one-line subject', async () => {
      const store = await loadTrustStore(path.join(F, 'smimeX509validation/truststore'))
      const terena = (await store.report(NOW)).anchors.find((a) => a.file === 'TERENA_SSL_CA.pem')
      expect(terena?.subject).toBe('/C=NL/O=TERENA/CN=TERENA SSL CA')
    })
  })
})
