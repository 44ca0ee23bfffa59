import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCredentials } from '../../src/smime/credentials.js'
import { parseSmime } from '../../src/smime/mime.js'
import { signContent } from '../../src/smime/sign.js'
import type { SigningCredentials } from '../../src/smime/sign.js'
import { verifySmime } from '../../src/smime/verify.js'
import { makePki, openssl, opensslSign, type Pki } from '../helpers/pki.js'

const F = path.resolve(__dirname, '../fixtures')
const TIME = new Date('2025-03-04T05:06:07Z')
const BOUNDARY = '0123456789ABCDEF0123456789ABCDEF'

/** signingTime and boundary of an OpenSSL-made file, to sign the same bytes with vmgit. */
async function stampsOf(smime: Buffer): Promise<{ signingTime: Date; boundary: string }> {
  const r = await verifySmime(smime, { trust: null, at: new Date(), crlCheck: false })
  return { signingTime: r.signer.signingTime!, boundary: parseSmime(smime).boundary.replace(/^----/, '') }
}

describe('sign: OpenSSL-compatible detached S/MIME', () => {
  let tmp: string
  let pki: Pki
  let creds: SigningCredentials
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-sign-'))
    pki = await makePki(tmp)
    creds = await loadCredentials({ key: pki.signer.key, cert: pki.signer.cert })
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  describe('with the signingTime and boundary of an openssl signature over the same content', () => {
    for (const digest of ['sha1', 'sha256'] as const) {
      it(`reproduces the synthetic ${digest} golden vector byte for byte`, async () => {
        const golden = await readFile(path.join(F, `synthetic/vmcaster-style.${digest}.smime`))
        const ck = await loadCredentials({ key: path.join(F, 'cloudkeeper/auth/key.pem'), cert: path.join(F, 'cloudkeeper/auth/cert.pem') })
        const out = await signContent(await readFile(path.join(F, 'synthetic/vmcaster-style.json')), ck, { digest, ...(await stampsOf(golden)) })
        expect(out.toString('latin1')).toBe(golden.toString('latin1'))
      })
      it(`equals \`openssl smime -sign -md ${digest}\` line for line (RSA PKCS#1 v1.5 is deterministic, so the signature too)`, async () => {
        const content = Buffer.from('{\n    "hv:imagelist": {\n        "dc:title": "x", \n        "hv:images": []\n    }\n}')
        const ossl = await opensslSign(content, pki.signer, digest)
        const ours = await signContent(content, creds, { digest, ...(await stampsOf(ossl)) })
        expect(ours.toString('latin1').split('\n')).toEqual(ossl.toString('latin1').split('\n'))
      })
    }
    it('matches openssl for content with a final newline and for LF/CRLF mixtures', async () => {
      for (const text of ['{}\n', '{\r\n}\r\n', 'a\nb\r\nc', 'x\r\r\ny\n\n']) {
        const ossl = await opensslSign(Buffer.from(text), pki.signer)
        expect((await signContent(Buffer.from(text), creds, await stampsOf(ossl))).equals(ossl)).toBe(true)
      }
    })
  })

  describe('output for fixed inputs', () => {
    it('is stable: same content, key, signingTime and boundary give identical bytes', async () => {
      const a = await signContent(Buffer.from('{"a": 1}'), creds, { signingTime: TIME, boundary: BOUNDARY })
      const b = await signContent(Buffer.from('{"a": 1}'), creds, { signingTime: TIME, boundary: BOUNDARY })
      expect(a.equals(b)).toBe(true)
      expect(a.toString()).toContain(`boundary="----${BOUNDARY}"`)
    })
    it('carries SignedData v1, one SignerInfo, only the signer certificate and the four signed attributes', async () => {
      const out = await signContent(Buffer.from('{}'), creds, { signingTime: TIME, boundary: BOUNDARY })
      const der = parseSmime(out).signature
      const text = (await openssl(['asn1parse', '-inform', 'DER'], der)).stdout.toString()
      expect(text.match(/OBJECT\s+:(contentType|signingTime|messageDigest|S\/MIME Capabilities)/g)).toEqual([
        'OBJECT            :contentType', 'OBJECT            :signingTime', 'OBJECT            :messageDigest', 'OBJECT            :S/MIME Capabilities'])
      expect(text).toContain('UTCTIME           :250304050607Z')
      expect(text).toMatch(/OBJECT\s+:rsaEncryption/)
      const certs = (await openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], der)).stdout.toString()
      expect(certs.match(/^subject=/gm)).toHaveLength(1)
      const r = await verifySmime(out, { trust: null, at: new Date(), crlCheck: false })
      expect(r.signer.signingTime).toEqual(TIME)
    })
    it('uses GeneralizedTime for a signingTime from 2050 on, like OpenSSL', async () => {
      const out = await signContent(Buffer.from('{}'), creds, { signingTime: new Date('2051-01-01T00:00:00Z'), boundary: BOUNDARY })
      const text = (await openssl(['asn1parse', '-inform', 'DER'], parseSmime(out).signature)).stdout.toString()
      expect(text).toContain('GENERALIZEDTIME   :20510101000000Z')
    })
    it('refuses a boundary that is not 32 uppercase hex digits', async () => {
      await expect(signContent(Buffer.from('{}'), creds, { boundary: 'abc' })).rejects.toMatchObject({ code: 'BAD_BOUNDARY' })
    })
  })
})
