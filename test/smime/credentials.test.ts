import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCert, pemBlocks, CERT_LABELS } from '../../src/smime/cert.js'
import { checkEndorser, checkSigningCert, expiryWarnings, fillEndorser, loadCredentials } from '../../src/smime/credentials.js'
import { makePki, openssl, type Pki } from '../helpers/pki.js'

const F = path.resolve(__dirname, '../fixtures')
const PASS = 'correct horse'
const noPrompt = async (): Promise<string> => { throw new Error('prompt must not be used') }

async function fails(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try { await p } catch (e) { return e as { code: string; message: string } }
  throw new Error('expected a failure')
}

describe('credentials', () => {
  let tmp: string
  let pki: Pki
  const k = (n: string): string => path.join(tmp, n)
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-cred-'))
    pki = await makePki(path.join(tmp, 'pki'))
    const key = pki.signer.key
    await Promise.all([
      openssl(['rsa', '-in', key, '-traditional', '-out', k('pkcs1.pem')]),
      openssl(['pkcs8', '-topk8', '-in', key, '-v2', 'aes-256-cbc', '-passout', `pass:${PASS}`, '-out', k('enc-pkcs8.pem')]),
      openssl(['rsa', '-in', key, '-traditional', '-aes256', '-passout', `pass:${PASS}`, '-out', k('enc-pkcs1.pem')]),
      openssl(['pkcs12', '-export', '-inkey', key, '-in', pki.signer.cert, '-certfile', pki.ca.cert, '-passout', `pass:${PASS}`, '-out', k('modern.p12')]),
      openssl(['pkcs12', '-export', '-legacy', '-inkey', key, '-in', pki.signer.cert, '-passout', `pass:${PASS}`, '-out', k('legacy.p12')]),
      openssl(['pkcs12', '-export', '-inkey', key, '-in', pki.signer.cert, '-passout', 'pass:', '-out', k('nopass.p12')]),
    ])
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  const certDer = async (): Promise<Buffer> => pemBlocks(await readFile(pki.signer.cert), CERT_LABELS)[0]!

  describe('loadCredentials', () => {
    it('reads a PKCS#8 key and its certificate from --key/--cert', async () => {
      const c = await loadCredentials({ key: pki.signer.key, cert: pki.signer.cert }, { env: {}, prompt: noPrompt })
      expect(c.cert.subject).toBe(pki.signer.subject)
      expect(c.cert.der).toEqual(await certDer())
    })
    it('reads a PKCS#1 "RSA PRIVATE KEY"', async () => {
      expect((await loadCredentials({ key: k('pkcs1.pem'), cert: pki.signer.cert }, { env: {}, prompt: noPrompt })).cert.subject).toBe(pki.signer.subject)
    })
    it('decrypts encrypted PKCS#8 and legacy PEM keys with VMGIT_KEY_PASSPHRASE', async () => {
      for (const f of ['enc-pkcs8.pem', 'enc-pkcs1.pem']) {
        const c = await loadCredentials({ key: k(f), cert: pki.signer.cert }, { env: { VMGIT_KEY_PASSPHRASE: PASS }, prompt: noPrompt })
        expect(c.cert.subject).toBe(pki.signer.subject)
      }
    })
    it('asks for the passphrase when the environment has none (a TTY prompt in the CLI)', async () => {
      const asked: string[] = []
      const prompt = async (q: string): Promise<string> => { asked.push(q); return PASS }
      await loadCredentials({ key: k('enc-pkcs8.pem'), cert: pki.signer.cert }, { env: {}, prompt })
      expect(asked).toEqual([`Passphrase for ${k('enc-pkcs8.pem')}: `])
    })
    it('rejects a wrong passphrase with KEY_PASSPHRASE_WRONG', async () => {
      const e = await fails(loadCredentials({ key: k('enc-pkcs8.pem'), cert: pki.signer.cert }, { env: { VMGIT_KEY_PASSPHRASE: 'nope' } }))
      expect(e.code).toBe('KEY_PASSPHRASE_WRONG')
    })
    it('reads PKCS#12 files (OpenSSL 3 default AES/PBKDF2, -legacy, and password-less) and picks the key\'s certificate', async () => {
      for (const f of ['modern.p12', 'legacy.p12', 'nopass.p12']) {
        const c = await loadCredentials({ p12: k(f) }, { env: { VMGIT_KEY_PASSPHRASE: PASS }, prompt: noPrompt })
        expect(c.cert.subject).toBe(pki.signer.subject)
        expect(c.cert.der).toEqual(await certDer())
      }
    })
    it('takes the PEM text itself from VMGIT_SIGNING_KEY / VMGIT_SIGNING_CERT (also with literal \\n)', async () => {
      const key = await readFile(pki.signer.key, 'utf8')
      const cert = await readFile(pki.signer.cert, 'utf8')
      const a = await loadCredentials({}, { env: { VMGIT_SIGNING_KEY: key, VMGIT_SIGNING_CERT: cert } })
      const b = await loadCredentials({}, { env: { VMGIT_SIGNING_KEY: key.replace(/\n/g, '\\n'), VMGIT_SIGNING_CERT: cert.replace(/\n/g, '\\n') } })
      expect(a.cert.subject).toBe(pki.signer.subject)
      expect(b.cert.subject).toBe(pki.signer.subject)
      expect(a.source).not.toContain('BEGIN')
    })
    it('honours the old VMCASTER_X509_KEY / VMCASTER_X509_CERT paths', async () => {
      const c = await loadCredentials({}, { env: { VMCASTER_X509_KEY: pki.signer.key, VMCASTER_X509_CERT: pki.signer.cert } })
      expect(c.source).toContain('VMCASTER_X509')
    })
    it('uses a default certificate path (vmgit.yaml signing.cert) when only a key is given', async () => {
      const c = await loadCredentials({ key: pki.signer.key }, { env: {}, defaultCert: pki.signer.cert })
      expect(c.cert.subject).toBe(pki.signer.subject)
    })
    it('names every way to give credentials when none are given, and refuses half a pair', async () => {
      const e = await fails(loadCredentials({}, { env: {} }))
      expect(e.code).toBe('CREDENTIALS_MISSING')
      expect(e.message).toMatch(/--key and --cert .*--p12.*VMGIT_SIGNING_KEY/)
      expect((await fails(loadCredentials({ key: pki.signer.key }, { env: {} }))).code).toBe('CREDENTIALS_INCOMPLETE')
      expect((await fails(loadCredentials({}, { env: { VMGIT_SIGNING_KEY: 'x' } }))).code).toBe('CREDENTIALS_INCOMPLETE')
    })
    it('refuses a key that does not belong to the certificate', async () => {
      expect((await fails(loadCredentials({ key: pki.signer2.key, cert: pki.signer.cert }, { env: {} }))).code).toBe('KEY_CERT_MISMATCH')
    })
  })

  describe('checkSigningCert', () => {
    const now = new Date()
    const cert = async (f: string) => parseCert(pemBlocks(await readFile(f), CERT_LABELS)[0]!)
    it('accepts a current certificate with keyUsage digitalSignature', async () => {
      expect(checkSigningCert(await cert(pki.signer.cert), { now })).toEqual([])
    })
    it('refuses a certificate without keyUsage and names the override (the cloudkeeper test CA)', async () => {
      for (const f of [pki.noKeyUsage.cert, path.join(F, 'cloudkeeper/auth/cert.pem')]) {
        const c = await cert(f)
        expect(() => checkSigningCert(c, { now })).toThrow(/no keyUsage extension.*--allow-no-key-usage/)
        expect(checkSigningCert(c, { now, allowNoKeyUsage: true })[0]).toMatch(/no keyUsage/)
      }
    })
    it('refuses keyUsage without digitalSignature (a CA certificate)', async () => {
      const ca = await cert(pki.ca.cert)
      expect(() => checkSigningCert(ca, { now })).toThrow(/keyUsage \(keyCertSign, cRLSign\) lacks digitalSignature/)
    })
    it('refuses an expired certificate, relative to the injected time', async () => {
      const c = await cert(pki.expired.cert)
      expect(() => checkSigningCert(c, { now })).toThrow(/expired on 2021-01-01T00:00:00Z; renew it/)
      expect(checkSigningCert(c, { now: new Date('2020-06-01T00:00:00Z') })).toEqual([])
    })
  })

  describe('endorser checks (spec §2.4)', () => {
    const who = { subject: '/DC=org/CN=Signer', issuer: '/DC=org/CN=CA' }
    it('accepts dn/ca equal to subject/issuer and rejects anything else with ENDORSER_MISMATCH', () => {
      expect(() => checkEndorser({ 'hv:dn': who.subject, 'hv:ca': who.issuer }, who)).not.toThrow()
      expect(() => checkEndorser({ 'hv:dn': '/DC=org/CN=Other', 'hv:ca': who.issuer }, who)).toThrow(/hv:dn is "\/DC=org\/CN=Other" but the certificate subject is/)
      expect(() => checkEndorser({ 'hv:dn': who.subject }, who)).toThrow(/hv:ca is ""/)
    })
    it('fills dn/ca left out (or empty) from the certificate and keeps the rest', () => {
      expect(fillEndorser({ 'dc:creator': 'Me', 'hv:ca': '' }, who)).toEqual({ 'dc:creator': 'Me', 'hv:ca': who.issuer, 'hv:dn': who.subject })
      expect(fillEndorser({ 'hv:dn': '/x', 'hv:ca': '/y' }, who)).toEqual({ 'hv:dn': '/x', 'hv:ca': '/y' })
    })
    it('warns when the list expires after the certificate', async () => {
      const c = parseCert(pemBlocks(await readFile(pki.signer.cert), CERT_LABELS)[0]!)
      expect(expiryWarnings({ 'dc:date:expires': '2999-01-01T00:00:00Z' }, c)[0]).toMatch(/outlive|expires 2999.*certificate expires/)
      expect(expiryWarnings({ 'dc:date:expires': '2000-01-01T00:00:00Z' }, c)).toEqual([])
    })
  })
})
