import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chainWorld, serveFrom, type ChainWorld } from '../helpers/chain-world.js'
import { snapshot } from '../subscriber/world.js'

const LEAF = 'basicConstraints = CA:false\nkeyUsage = critical, digitalSignature\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'
const CA = 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'

/**
 * S21: a chain that `openssl cms -verify -crl_check_all -purpose smimesign` refuses is refused by
 * `vmgit sync`, even when the signer's subject and issuer equal the trusted endorser's (so the
 * endorser check cannot be what stops it), and the refusal changes nothing.
 */
describe('S21 a signer chain that OpenSSL\'s smimesign purpose with -crl_check_all refuses', () => {
  let cw: ChainWorld
  beforeAll(async () => {
    cw = await chainWorld()
  })
  afterAll(async () => {
    await cw.w.close()
    await rm(cw.dir, { recursive: true, force: true })
  })

  const cases: [string, string, Parameters<typeof serveFrom>[1]][] = [
    ['when the signer\'s intermediate CA is revoked and only the root\'s CRL lists it', 'CA_REVOKED', { revoked: 1, embed: true }],
    ['when the signer\'s intermediate CA is revoked (installed in the trust directory)', 'CA_REVOKED', { revoked: 1 }],
    // the trust directory still holds the CRL of the endorser's own intermediate (same name, other key): it does not count
    ['when the re-keyed intermediate CA publishes no CRL', 'CRL_BAD_SIGNATURE', { crlMissing: 0 }],
    ['when the re-keyed intermediate\'s CRL has expired', 'CRL_EXPIRED', { crlExpired: 0 }],
    ['when the signer is a TLS server certificate with the endorser\'s name (EKU serverAuth)', 'SIGNER_PURPOSE', { ext: { 0: LEAF + 'extendedKeyUsage = serverAuth\n' } }],
    ['when the signer\'s EKU is anyExtendedKeyUsage only (OpenSSL refuses it for smimesign)', 'SIGNER_PURPOSE', { ext: { 0: LEAF + 'extendedKeyUsage = anyExtendedKeyUsage\n' } }],
    ['when the intermediate\'s EKU excludes emailProtection', 'CA_PURPOSE', { ext: { 1: CA + 'extendedKeyUsage = serverAuth, clientAuth\n' } }],
    ['when the signer\'s keyUsage does not allow signing', 'SIGNER_KEY_USAGE', { ext: { 0: LEAF.replace('digitalSignature', 'keyEncipherment') } }],
    ['when the intermediate is not a CA (basicConstraints CA:false)', 'UNTRUSTED_SIGNER', { ext: { 1: 'basicConstraints = critical, CA:false\nkeyUsage = critical, keyCertSign, cRLSign\n' } }],
    ['when the intermediate may not sign certificates (no keyCertSign)', 'UNTRUSTED_SIGNER', { ext: { 1: 'basicConstraints = critical, CA:true\nkeyUsage = critical, cRLSign\n' } }],
    ['when a CA\'s pathLenConstraint is exceeded', 'PATH_LENGTH_EXCEEDED', { depth: 2, ext: { 2: CA.replace('CA:true', 'CA:true, pathlen:0') } }],
    ['when a CA\'s nameConstraints do not permit the signer\'s name', 'NAME_CONSTRAINTS', { depth: 2, ext: { 2: CA + 'nameConstraints = critical, permitted;dirName:nc_other\n' } }],
    ['when a CA\'s nameConstraints exclude the signer\'s name written in another case', 'NAME_CONSTRAINTS', { depth: 2, ext: { 2: CA + 'nameConstraints = critical, excluded;dirName:nc_leaf_lc\n' } }],
    ['when the signer carries an unknown critical extension', 'UNSUPPORTED_CRITICAL_EXTENSION', { ext: { 0: LEAF + '1.3.6.1.4.1.99999.1 = critical, ASN1:NULL\n' } }],
    ['when the intermediate carries an unknown critical extension', 'UNSUPPORTED_CRITICAL_EXTENSION', { ext: { 1: CA + '1.3.6.1.4.1.99999.1 = critical, ASN1:NULL\n' } }],
    ['when the signature digest is MD5', 'WEAK_ALGORITHM', { cmsMd: 'md5' }],
    ['when the signer certificate is signed with MD5', 'WEAK_ALGORITHM', { certMd: { 0: 'md5' }, keyOverride: { 1: 'rsa1024' } }],
    ['when the intermediate certificate is signed with SHA-1', 'WEAK_ALGORITHM', { certMd: { 1: 'sha1' } }],
    ['when the intermediate has expired', 'CA_CERT_EXPIRED', { expired: 1 }],
  ]

  it.each(cases)('%s: rejects with %s and keeps state', async (_when, code, spec) => {
    const { w } = cw
    const caDir = await serveFrom(cw, spec, '2.0')
    const before = snapshot(w)
    const r = await w.sync([], { env: { VMGIT_CA_DIR: caDir } })
    expect(r.stderr).toContain(`[${code}]`)
    expect(r.code).toBe(1)
    expect(snapshot(w)).toEqual(before)
  })

  it('accepts the same kind of chain when nothing is wrong with it (the refusals above are the checks, not the setup)', async () => {
    const { w } = cw
    const caDir = await serveFrom(cw, { depth: 2, ext: { 2: CA.replace('CA:true', 'CA:true, pathlen:1') + 'nameConstraints = critical, permitted;dirName:nc_ok\n' } }, '2.0')
    const r = await w.sync([], { env: { VMGIT_CA_DIR: caDir } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
  })
})
