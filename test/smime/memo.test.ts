/**
 * Issue 6: a sync verifies many lists of one endorser in one process, so what depends only on
 * exact bytes (a parsed certificate, the SignedData fields before the SignerInfos, a signature
 * checked with a key) is computed once (src/smime/memo.ts). These tests verify a good list first,
 * then near-misses in the same process: each must still fail exactly as it fails on its own.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCert, pemBlocks, CERT_LABELS } from '../../src/smime/cert.js'
import { children, int, readTlv, seq, tlv, toDefinite, whole } from '../../src/smime/der.js'
import { parseSmime } from '../../src/smime/mime.js'
import { loadTrustStore } from '../../src/smime/trust.js'
import { verifyDetached } from '../../src/smime/verify.js'
import { makePki, opensslSign, type Pki, outcomeCode as code } from '../helpers/pki.js'
import { readFileSync } from 'node:fs'

/** The SignedData fields of a ContentInfo, and a way to put changed fields back. */
function fieldsOf(der: Buffer): { fields: Buffer[]; rebuild: (f: Buffer[]) => Buffer } {
  const [type, explicit] = children(der, readTlv(der, 0))
  const fields = children(der, readTlv(der, explicit!.body)).map((t) => Buffer.from(whole(der, t)))
  return { fields, rebuild: (f) => seq(Buffer.from(whole(der, type!)), tlv(0xa0, seq(...f))) }
}

describe('issue 6: what one process remembers between verifications (src/smime/memo.ts)', () => {
  let tmp: string
  let pki: Pki
  let good: { content: Buffer; signature: Buffer }
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-memo-'))
    pki = await makePki(tmp)
    const s = parseSmime(await opensslSign('{"a": 1}\r\n', pki.signer))
    good = { content: s.content, signature: toDefinite(s.signature) }
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  const verify = async (sig: Buffer, o: { dir?: string; at?: Date; content?: Buffer } = {}): Promise<string> =>
    code(verifyDetached(o.content ?? good.content, sig, { trust: await loadTrustStore(o.dir ?? pki.caDir), at: o.at ?? new Date(), crlCheck: true }))

  describe('when the same certificate is parsed again', () => {
    it('gives its own CertInfo with the same content, and parses bytes the caller changed since anew', () => {
      const der = pemBlocks(readFileSync(pki.signer.cert), CERT_LABELS)[0]!
      const a = parseCert(der, 'a.pem')
      const b = parseCert(der)
      expect(b).not.toBe(a)
      expect({ ...b, file: 'a.pem' }).toEqual(a)
      expect(b.file).toBeUndefined()
      const subject = a.subject
      der[der.length - 1] = der[der.length - 1]! ^ 0xff // the caller reuses its buffer
      expect(a.der.equals(der)).toBe(false)
      expect(a.subject).toBe(subject)
      expect(parseCert(der).der.equals(der)).toBe(true)
    })
  })

  describe('when a good list of the same signer was verified first', () => {
    beforeAll(async () => {
      expect(await verify(good.signature)).toBe('OK')
    })

    it('still refuses a certificates field pkijs cannot read, with CMS_MALFORMED', async () => {
      const { fields, rebuild } = fieldsOf(good.signature)
      const i = fields.findIndex((f) => f[0] === 0xa0)
      expect(i).toBeGreaterThan(0)
      fields[i] = tlv(0xa0, int(5))
      expect(await verify(rebuild(fields))).toBe('CMS_MALFORMED')
    })

    it('still refuses a SignerInfo whose signature was damaged, with BAD_SIGNATURE', async () => {
      const sig = Buffer.from(good.signature)
      sig[sig.length - 3] = sig[sig.length - 3]! ^ 0x01 // inside the last field: the SignerInfo's signature value
      expect(await verify(sig)).toBe('BAD_SIGNATURE')
    })

    it('still refuses other content under the same signature, with DIGEST_MISMATCH', async () => {
      expect(await verify(good.signature, { content: Buffer.from('{"a": 2}\r\n') })).toBe('DIGEST_MISMATCH')
    })

    it('still judges the time and the trust directory of each call (SIGNER_EXPIRED, CRL_MISSING, CRL_EXPIRED, UNTRUSTED_SIGNER)', async () => {
      expect(await verify(good.signature, { at: new Date(pki.signer.notAfter.getTime() + 86400_000) })).toBe('SIGNER_EXPIRED')
      expect(await verify(good.signature, { dir: pki.noCrlDir })).toBe('CRL_MISSING')
      expect(await verify(good.signature, { dir: pki.expiredCrlDir })).toBe('CRL_EXPIRED')
      expect(await verify(good.signature, { dir: pki.ca2Dir })).toBe('UNTRUSTED_SIGNER')
      expect(await verify(good.signature)).toBe('OK')
    })

    it('still refuses a revoked signer of the same CA, with SIGNER_REVOKED', async () => {
      const s = parseSmime(await opensslSign('{"a": 1}\r\n', pki.revoked))
      expect(await verify(toDefinite(s.signature), { content: s.content })).toBe('SIGNER_REVOKED')
    })
  })
})
