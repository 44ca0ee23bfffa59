import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CERT_LABELS, parseCert, pemBlocks } from '../../src/smime/cert.js'
import { signContent } from '../../src/smime/sign.js'
import { loadCredentials } from '../../src/smime/credentials.js'
import { caDirFromEnv, DEFAULT_CA_DIR, loadTrustStore } from '../../src/smime/trust.js'
import { verifySmime } from '../../src/smime/verify.js'
import { makePki, type Pki } from '../helpers/pki.js'

const F = path.resolve(__dirname, '../fixtures')

describe('trust directory', () => {
  let tmp: string
  let pki: Pki
  let signed: Buffer
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-trust-'))
    pki = await makePki(path.join(tmp, 'pki'))
    signed = await signContent(Buffer.from('{}'), await loadCredentials({ key: pki.signer.key, cert: pki.signer.cert }))
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))
  const verify = async (dir: string, crlCheck = true) => verifySmime(signed, { trust: await loadTrustStore(dir), at: new Date(), crlCheck })

  it('is chosen from --ca-dir, then VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT, then the IGTF default', () => {
    expect(caDirFromEnv('/flag', { VMGIT_CA_DIR: '/v' })).toBe('/flag')
    expect(caDirFromEnv(undefined, { VMGIT_CA_DIR: '/v', X509_CERT_DIR: '/x' })).toBe('/v')
    expect(caDirFromEnv(undefined, { X509_CERT_DIR: '/x', VMCATCHER_DIR_CERT: '/c' })).toBe('/x')
    expect(caDirFromEnv(undefined, { VMCATCHER_DIR_CERT: '/c' })).toBe('/c')
    expect(caDirFromEnv(undefined, {})).toBe(DEFAULT_CA_DIR)
    expect(DEFAULT_CA_DIR).toBe('/etc/grid-security/certificates')
  })

  it('fails with TRUST_DIR_MISSING (a usage error) when the directory does not exist', async () => {
    await expect(loadTrustStore(path.join(tmp, 'nope'))).rejects.toMatchObject({ code: 'TRUST_DIR_MISSING', exit: 2 })
  })

  describe('lookup by the signer\'s issuer', () => {
    it('opens only <hash>.N / <hash>.rN of the issuer: other files are never parsed', async () => {
      const dir = path.join(tmp, 'lazy')
      await mkdir(dir)
      for (const f of [`${pki.hashes.ca}.0`, `${pki.hashes.ca}.r0`]) await copyFile(path.join(pki.caDir, f), path.join(dir, f))
      await writeFile(path.join(dir, 'garbage.pem'), '-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n')
      await writeFile(path.join(dir, '00000000.0'), 'junk')
      const store = await loadTrustStore(dir)
      await verifySmime(signed, { trust: store, at: new Date(), crlCheck: true })
      expect(store.unreadable).toEqual([])
    })
    it('tries <hash>.1 when <hash>.0 is another CA with a colliding hash', async () => {
      const dir = path.join(tmp, 'collide')
      await mkdir(dir)
      await copyFile(pki.ca2.cert, path.join(dir, `${pki.hashes.ca}.0`))
      await copyFile(pki.ca.cert, path.join(dir, `${pki.hashes.ca}.1`))
      await copyFile(path.join(pki.caDir, `${pki.hashes.ca}.r0`), path.join(dir, `${pki.hashes.ca}.r0`))
      expect((await verify(dir)).signer.chain).toEqual([pki.signer.subject, pki.ca.subject])
    })
    it('falls back to unhashed *.pem certificates and *.crl CRLs', async () => {
      const dir = path.join(tmp, 'unhashed')
      await mkdir(dir)
      await copyFile(pki.ca.cert, path.join(dir, 'TestRoot.pem'))
      await copyFile(path.join(pki.caDir, `${pki.hashes.ca}.r0`), path.join(dir, 'TestRoot.crl'))
      await writeFile(path.join(dir, 'TestRoot.signing_policy'), 'access_id_CA X509 ...')
      await writeFile(path.join(dir, 'TestRoot.namespaces'), 'TO Issuer ...')
      await writeFile(path.join(dir, 'TestRoot.crl_url'), 'http://example.org/crl')
      await writeFile(path.join(dir, 'TestRoot.info'), 'alias = TestRoot')
      const store = await loadTrustStore(dir)
      expect(store.skipped.sort()).toEqual(['TestRoot.crl_url', 'TestRoot.info', 'TestRoot.namespaces', 'TestRoot.signing_policy'])
      expect((await verifySmime(signed, { trust: store, at: new Date(), crlCheck: true })).signer.chain).toHaveLength(2)
    })
    it('finds the issuer of a fixture CA among the IGTF-style .pem files', async () => {
      const store = await loadTrustStore(path.join(F, 'smimeX509validation/truststore'))
      const terena = parseCert(pemBlocks(await readFile(path.join(F, 'smimeX509validation/truststore/TERENA_SSL_CA.pem')), CERT_LABELS)[0]!)
      const issuers = await store.issuersOf(terena.issuerDer)
      expect(issuers.map((c) => c.subject)).toEqual([terena.issuer])
    })
  })

  describe('CRLs', () => {
    it('rejects a CRL that its CA did not sign with CRL_BAD_SIGNATURE', async () => {
      const dir = path.join(tmp, 'forged-crl')
      await mkdir(dir)
      await copyFile(pki.ca.cert, path.join(dir, `${pki.hashes.ca}.0`))
      // CA 2's CRL renamed under CA 1's hash: the issuer name does not match, so it is not CA 1's CRL at all
      await copyFile(path.join(pki.ca2Dir, `${pki.hashes.ca2}.r0`), path.join(dir, `${pki.hashes.ca}.r0`))
      await expect(verify(dir)).rejects.toMatchObject({ code: 'CRL_MISSING' })
      // a CRL with CA 1's name but a broken signature
      const pem = await readFile(path.join(pki.caDir, `${pki.hashes.ca}.r0`), 'latin1')
      const der = pemBlocks(Buffer.from(pem, 'latin1'), ['X509 CRL'])[0]!
      der[der.length - 1] = der[der.length - 1]! ^ 0xff
      await writeFile(path.join(dir, `${pki.hashes.ca}.r0`), der)
      await expect(verify(dir)).rejects.toMatchObject({ code: 'CRL_BAD_SIGNATURE' })
    })
    it('skips the CRL check entirely when crlCheck is false', async () => {
      expect((await verify(pki.noCrlDir, false)).signer.subject).toBe(pki.signer.subject)
    })
    it('says how to fix a missing or expired CRL', async () => {
      await expect(verify(pki.noCrlDir)).rejects.toThrow(new RegExp(`expected ${pki.hashes.ca}\\.r0\\); run fetch-crl .* --no-crl-check`))
      await expect(verify(pki.expiredCrlDir)).rejects.toThrow(/expired on 2020-02-01T00:00:00Z; run fetch-crl/)
    })
  })
})
