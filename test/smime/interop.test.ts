/**
 * Interop both ways with a PKI made by openssl at test time (issue 4 acceptance): vmgit-signed lists
 * pass `openssl smime -verify -CApath DIR -crl_check`, openssl-signed lists pass vmgit, and every
 * negative case fails in both, with the matching vmgit code.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCredentials } from '../../src/smime/credentials.js'
import { verifyImageList } from '../../src/smime/imagelist.js'
import { parseSmime, writeSmime } from '../../src/smime/mime.js'
import { signContent, type Digest } from '../../src/smime/sign.js'
import { loadTrustStore } from '../../src/smime/trust.js'
import { verifySmime } from '../../src/smime/verify.js'
import { makePki, openssl, opensslSign, opensslVerify, type Pki, type PkiCert, outcomeCode as code } from '../helpers/pki.js'

/** A vmcaster-layout list whose endorser is `who`. */
const listFor = (who: Pick<PkiCert, 'subject' | 'issuer'>): Buffer => Buffer.from(JSON.stringify({
  'hv:imagelist': {
    'dc:date:created': '2025-01-01T00:00:00Z', 'dc:date:expires': '2099-01-01T00:00:00Z', 'dc:description': 'interop',
    'dc:identifier': '4e186b44-2c64-40ea-97d5-e9e5c0bce059', 'dc:source': 'example.org', 'dc:title': 'interop list',
    'hv:endorser': { 'hv:x509': { 'dc:creator': 'Test', 'hv:ca': who.issuer, 'hv:dn': who.subject, 'hv:email': 'a@b.c' } },
    'hv:images': [], 'hv:uri': 'https://example.org/list.smime', 'hv:version': '1',
  },
}, null, 4))

describe('interop with openssl', () => {
  let tmp: string
  let pki: Pki
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-interop-'))
    pki = await makePki(tmp)
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  const vmgitSign = async (who: PkiCert, content: Buffer, digest: Digest = 'sha256'): Promise<Buffer> =>
    signContent(content, await loadCredentials({ key: who.key, cert: who.cert }), { digest })
  const vmgitVerify = async (bytes: Buffer, dir: string, o: { at?: Date; crlCheck?: boolean } = {}): Promise<string> =>
    code(verifyImageList(bytes, { trust: await loadTrustStore(dir), at: o.at ?? new Date(), crlCheck: o.crlCheck ?? true, timeRules: 'skip' })) // the signature, as openssl judges it

  describe('when a good signer signs', () => {
    for (const digest of ['sha256', 'sha1'] as const) {
      it(`a vmgit ${digest} signature passes openssl -crl_check and vmgit`, async () => {
        const signed = await vmgitSign(pki.signer, listFor(pki.signer), digest)
        const o = await opensslVerify(signed, pki.caDir, { crlCheck: true })
        expect(o.stderr).toContain('Verification successful')
        expect(o.content).toEqual(parseSmime(signed).content)
        expect(await vmgitVerify(signed, pki.caDir)).toBe('OK')
      })
      it(`an openssl ${digest} signature passes vmgit with CRL checks`, async () => {
        const signed = await opensslSign(listFor(pki.signer), pki.signer, digest)
        const r = await verifyImageList(signed, { trust: await loadTrustStore(pki.caDir), at: new Date(), crlCheck: true })
        expect(r.signer).toMatchObject({ subject: pki.signer.subject, issuer: pki.signer.issuer, serial: pki.signer.serial, digest })
        expect(r.signer.chain).toEqual([pki.signer.subject, pki.ca.subject])
      })
    }
    it('a signer under an intermediate CA from the trust directory passes both', async () => {
      const signed = await vmgitSign(pki.subSigner, listFor(pki.subSigner))
      expect((await opensslVerify(signed, pki.caDir, { crlCheck: true })).ok).toBe(true)
      const r = await verifySmime(signed, { trust: await loadTrustStore(pki.caDir), at: new Date(), crlCheck: true })
      expect(r.signer.chain).toEqual([pki.subSigner.subject, pki.intermediate.subject, pki.ca.subject])
    })
    it('an `openssl cms -sign -keyid` signature (SignerInfo by subjectKeyIdentifier, pkcs7-signature spelling) passes vmgit', async () => {
      const signed = (await openssl(['cms', '-sign', '-keyid', '-md', 'sha256', '-signer', pki.signer.cert, '-inkey', pki.signer.key], listFor(pki.signer))).stdout
      expect(signed.toString()).toContain('protocol="application/pkcs7-signature"')
      expect(await vmgitVerify(signed, pki.caDir)).toBe('OK')
    })
    it('an LF-saved copy of a signed file still verifies in both (CRLF is restored before digesting)', async () => {
      const signed = await opensslSign(listFor(pki.signer), pki.signer)
      const lf = Buffer.from(signed.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')
      expect(lf.includes('\r')).toBe(false)
      expect((await opensslVerify(lf, pki.caDir, { crlCheck: true })).ok).toBe(true)
      expect(await vmgitVerify(lf, pki.caDir)).toBe('OK')
    })
  })

  describe('every negative case fails in both, with its vmgit code', () => {
    const both = async (make: (who: PkiCert) => Promise<Buffer>, who: PkiCert, dir: string, expected: string, re: RegExp,
      o: { at?: Date } = {}): Promise<void> => {
      const signed = await make(who)
      const ossl = await opensslVerify(signed, dir, { crlCheck: true, attime: o.at })
      expect(ossl.ok).toBe(false)
      expect(ossl.stderr).toMatch(re)
      expect(await vmgitVerify(signed, dir, o)).toBe(expected)
    }
    const makers = {
      'vmgit-signed': (who: PkiCert) => vmgitSign(who, listFor(who)),
      'openssl-signed': (who: PkiCert) => opensslSign(listFor(who), who),
    }
    for (const [how, make] of Object.entries(makers)) {
      describe(`(${how})`, () => {
        it('expired signer → SIGNER_EXPIRED', () => both(make, pki.expired, pki.caDir, 'SIGNER_EXPIRED', /certificate has expired/))
        it('revoked signer → SIGNER_REVOKED', () => both(make, pki.revoked, pki.caDir, 'SIGNER_REVOKED', /certificate revoked/))
        it('expired CRL → CRL_EXPIRED', () => both(make, pki.signer, pki.expiredCrlDir, 'CRL_EXPIRED', /CRL has expired/))
        it('missing CRL → CRL_MISSING', () => both(make, pki.signer, pki.noCrlDir, 'CRL_MISSING', /unable to get certificate CRL/))
        it('signer of a second, untrusted CA → UNTRUSTED_SIGNER', () => both(make, pki.signer2, pki.caDir, 'UNTRUSTED_SIGNER', /unable to get local issuer certificate/))
        it('not yet valid at --at → SIGNER_NOT_YET_VALID', () =>
          both(make, pki.signer, pki.caDir, 'SIGNER_NOT_YET_VALID', /not yet valid/, { at: new Date(pki.signer.notBefore.getTime() - 3600_000) }))
        it('content tampered after signing → DIGEST_MISMATCH', async () => {
          const tamper = async (who: PkiCert): Promise<Buffer> =>
            Buffer.from((await make(who)).toString('latin1').replace('interop list', 'interop lisT'), 'latin1')
          await both(tamper, pki.signer, pki.caDir, 'DIGEST_MISMATCH', /digest failure/)
        })
        it('signature bytes damaged → BAD_SIGNATURE', async () => {
          const damage = async (who: PkiCert): Promise<Buffer> => {
            const p = parseSmime(await make(who))
            const der = Buffer.from(p.signature)
            der[der.length - 1] = der[der.length - 1]! ^ 0x01 // the SignerInfo signature is the last element of the DER
            return writeSmime(p.content, der, 'sha256', p.boundary.replace(/^----/, ''))
          }
          await both(damage, pki.signer, pki.caDir, 'BAD_SIGNATURE', /signature failure/)
        })
      })
    }
    it('a CA certificate (keyUsage keyCertSign, cRLSign only) as signer → SIGNER_KEY_USAGE', async () => {
      await both((who) => opensslSign(listFor(who), who), pki.ca, pki.caDir, 'SIGNER_KEY_USAGE', /unsuitable certificate purpose/)
    })
    it('two signers (one untrusted) → MULTIPLE_SIGNERS', async () => {
      const twice = (who: PkiCert): Promise<Buffer> => opensslSign(listFor(who), [who, pki.signer2])
      await both(twice, pki.signer, pki.caDir, 'MULTIPLE_SIGNERS', /unable to get local issuer certificate/)
    })
    it('two trusted signers → MULTIPLE_SIGNERS in vmgit (openssl accepts several signers; HEPiX lists have one endorser)', async () => {
      const signed = await opensslSign(listFor(pki.signer), [pki.signer, pki.subSigner])
      expect((await opensslVerify(signed, pki.caDir, { crlCheck: true })).ok).toBe(true)
      expect(await vmgitVerify(signed, pki.caDir)).toBe('MULTIPLE_SIGNERS')
    })
    it('endorser naming someone else → ENDORSER_MISMATCH (openssl cannot see the endorser and accepts the signature)', async () => {
      const signed = await vmgitSign(pki.signer, listFor(pki.subSigner))
      expect((await opensslVerify(signed, pki.caDir, { crlCheck: true })).ok).toBe(true)
      expect(await vmgitVerify(signed, pki.caDir)).toBe('ENDORSER_MISMATCH')
    })
  })

  describe('historical checks with --at', () => {
    it('an expired signer passes at a time inside its validity when CRL checks are off, in both', async () => {
      const signed = await vmgitSign(pki.expired, listFor(pki.expired))
      const when = new Date('2020-06-01T00:00:00Z')
      expect((await opensslVerify(signed, pki.caDir, { attime: when })).ok).toBe(true)
      expect(await vmgitVerify(signed, pki.caDir, { at: when, crlCheck: false })).toBe('OK')
    })
    it('an anchor expired at --at is reported as TRUST_ANCHOR_EXPIRED with its date', async () => {
      const signed = await vmgitSign(pki.signer, listFor(pki.signer))
      const later = new Date(pki.ca.notAfter.getTime() + 86_400_000)
      try {
        await verifySmime(signed, { trust: await loadTrustStore(pki.caDir), at: later, crlCheck: false })
        expect.unreachable()
      } catch (e) {
        expect((e as { code: string }).code).toBe('TRUST_ANCHOR_EXPIRED')
        expect((e as Error).message).toContain(`expired on ${pki.ca.notAfter.toISOString().replace(/\.\d+Z$/, 'Z')}`)
      }
    })
  })
})
