import { appendFile, copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWith } from '../../src/smime/algorithms.js'
import { readBer, toDefinite } from '../../src/smime/der.js'
import { loadTrustStore } from '../../src/smime/trust.js'
import { verifySmime } from '../../src/smime/verify.js'
import { isVmgitError, type VmgitError } from '../../src/util/errors.js'
import { makePki, openssl, opensslSign, opensslVerify, type Pki } from '../helpers/pki.js'

const failure = async (p: Promise<unknown>): Promise<VmgitError> => {
  try {
    await p
  } catch (e) {
    if (isVmgitError(e)) return e
    throw e
  }
  throw new Error('expected a VmgitError')
}

describe('S22 BER reading (der.ts)', () => {
  const ber = Buffer.from('3080' + '0201' + '05' + 'a080' + '0400' + '0000' + '0000', 'hex')
  it('rewrites indefinite lengths as definite ones and leaves definite TLVs byte for byte', () => {
    expect(toDefinite(ber).toString('hex')).toBe('3007' + '020105' + 'a002' + '0400')
    const der = Buffer.from('3003020105', 'hex')
    expect(toDefinite(der)).toEqual(der)
  })
  it('reports where the first TLV ends, so trailing bytes are visible', () => {
    expect(readBer(Buffer.concat([ber, Buffer.from('00')]), 0).end).toBe(ber.length)
  })
  it('refuses an indefinite length on a primitive value and a missing end-of-contents', () => {
    expect(() => readBer(Buffer.from('0480', 'hex'), 0)).toThrow(/primitive/)
    expect(() => readBer(Buffer.from('30800201050000', 'hex').subarray(0, 5), 0)).toThrow()
  })
  it('refuses nesting deep enough to exhaust the stack', () => {
    const deep = Buffer.concat([Buffer.from('3080'.repeat(200), 'hex'), Buffer.from('0000'.repeat(200), 'hex')])
    expect(() => readBer(deep, 0)).toThrow(/deeply/)
  })
})

describe('S22 an unknown signature algorithm', () => {
  it('is UNSUPPORTED_ALGORITHM, not a failed signature', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    let err: unknown
    try {
      verifyWith({ oid: '1.2.840.113549.1.1.99' }, 'sha256', Buffer.from('x'), Buffer.from('y'), publicKey)
    } catch (e) {
      err = e
    }
    expect((err as VmgitError).code).toBe('UNSUPPORTED_ALGORITHM')
  })
  it('is UNSUPPORTED_ALGORITHM for RSA-PSS whose MGF1 hash differs from the message hash', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    // RSASSA-PSS-params { [0] sha256, [1] mgf1(sha1) }
    const params = Buffer.from('3029' + 'a00f300d06096086480165030402010500' + 'a1163014' + '06092a864886f70d010108' + '3007' + '06052b0e03021a', 'hex')
    let err: unknown
    try {
      verifyWith({ oid: '1.2.840.113549.1.1.10', params }, undefined, Buffer.from('x'), Buffer.from('y'), publicKey)
    } catch (e) {
      err = e
    }
    expect((err as VmgitError).code).toBe('UNSUPPORTED_ALGORITHM')
  })
})

describe('S21 CRLs vmgit cannot fully interpret (rules.ts CRL_CRITICAL_EXTENSION)', () => {
  let tmp: string
  let pki: Pki
  let trust: string
  let signed: Buffer
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-chain-'))
    pki = await makePki(path.join(tmp, 'pki'))
    signed = await opensslSign('{}', pki.signer)
    // CA 1 re-issues its CRL as a partitioned one: issuingDistributionPoint (critical), user certificates only
    const d1 = path.join(tmp, 'pki', 'ca1')
    await appendFile(path.join(d1, 'ca.cnf'), '\n[ idp_crl ]\nissuingDistributionPoint = critical, @idp\n[ idp ]\nonlyuser = TRUE\n')
    trust = path.join(tmp, 'trust-idp')
    await mkdir(trust)
    await copyFile(pki.ca.cert, path.join(trust, `${pki.hashes.ca}.0`))
    await openssl(['ca', '-gencrl', '-batch', '-config', path.join(d1, 'ca.cnf'), '-cert', pki.ca.cert, '-keyfile', pki.ca.key,
      '-crlexts', 'idp_crl', '-out', path.join(trust, `${pki.hashes.ca}.r0`)])
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  describe('when the only CRL of the issuer carries a critical issuingDistributionPoint', () => {
    it('does not count it: CRL_MISSING, naming the extension (OpenSSL accepts the partition)', async () => {
      const e = await failure(verifySmime(signed, { trust: await loadTrustStore(trust), at: new Date(), crlCheck: true }))
      expect(e.code).toBe('CRL_MISSING')
      expect(e.message).toMatch(/2\.5\.29\.28.*full CRL/)
      // the stricter rule is documented because OpenSSL would take this CRL
      expect((await opensslVerify(signed, trust, { crlCheck: true })).ok).toBe(true)
    })
  })
})

describe('S22 signed attributes (OpenSSL cms_att.c rules)', () => {
  let tmp: string
  let pki: Pki
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-attrs-'))
    pki = await makePki(path.join(tmp, 'pki'))
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  /** Re-sign an openssl signature whose signed attributes get a second messageDigest (for other content). */
  async function withSecondDigest(content: Buffer, other: Buffer): Promise<Buffer> {
    const asn1js = await import('asn1js')
    const pkijs = await import('pkijs')
    const { createHash, createPrivateKey, sign } = await import('node:crypto')
    const { readFile } = await import('node:fs/promises')
    const { parseSmime } = await import('../../src/smime/mime.js')
    const der = parseSmime(await opensslSign(content, pki.signer)).signature
    const ci = pkijs.ContentInfo.fromBER(der)
    const sd = new pkijs.SignedData({ schema: ci.content })
    const si = sd.signerInfos[0]!
    si.signedAttrs!.attributes.push(new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: createHash('sha256').update(other).digest() })] }))
    const attrs = new asn1js.Set({ value: si.signedAttrs!.attributes.map((a) => a.toSchema()) })
    const key = createPrivateKey(await readFile(pki.signer.key))
    si.signature = new asn1js.OctetString({ valueHex: sign('sha256', Buffer.from(attrs.toBER()), key) })
    si.signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: si.signedAttrs!.attributes })
    const out = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) })
    return Buffer.from(out.toSchema().toBER())
  }

  describe('when the signed attributes hold two messageDigest attributes', () => {
    it('rejects with CMS_MALFORMED, whichever content is offered', async () => {
      const { verifyDetached } = await import('../../src/smime/verify.js')
      const a = Buffer.from('{"a":1}')
      const b = Buffer.from('{"b":2}')
      const sig = await withSecondDigest(a, b)
      for (const c of [a, b]) {
        const e = await failure(verifyDetached(c, sig, { trust: null, at: new Date(), crlCheck: false }))
        expect(e.code).toBe('CMS_MALFORMED')
      }
    })
  })
})
