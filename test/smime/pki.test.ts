import { mkdtemp, rm, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePki, opensslSign, opensslVerify, type Pki } from '../helpers/pki.js'

describe('test PKI helper (openssl is the oracle)', () => {
  let tmp: string
  let pki: Pki
  const content = Buffer.from('{\n  "hello": "world"\n}\n')
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-pki-'))
    pki = await makePki(tmp)
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  it('writes hashed trust dirs with <hash>.0 anchors and <hash>.r0 CRLs', async () => {
    expect((await readdir(pki.caDir)).sort()).toEqual(
      [`${pki.hashes.ca}.0`, `${pki.hashes.ca}.r0`, `${pki.hashes.intermediate}.0`, `${pki.hashes.intermediate}.r0`].sort())
    expect(await readdir(pki.noCrlDir)).toEqual([`${pki.hashes.ca}.0`])
  })

  it('reports one-line DNs in certificate order', () => {
    expect(pki.signer.subject).toBe('/DC=org/DC=vmgit-test/O=Test Grid/OU=Publishers/CN=Good Signer/emailAddress=good@example.org')
    expect(pki.signer.issuer).toBe('/DC=org/DC=vmgit-test/O=Test Grid/CN=vmgit Test Root CA')
    expect(pki.subSigner.issuer).toBe(pki.intermediate.subject)
    expect(pki.expired.notAfter.toISOString()).toBe('2021-01-01T00:00:00.000Z')
  })

  it('good and intermediate-issued signers pass openssl -crl_check', async () => {
    for (const s of [pki.signer, pki.subSigner]) {
      const r = await opensslVerify(await opensslSign(content, s), pki.caDir, { crlCheck: true })
      expect(r.stderr).toContain('Verification successful')
      expect(r.content.toString()).toBe(content.toString().replace(/\n/g, '\r\n'))
    }
  })

  it('expired, revoked, foreign, expired-CRL and missing-CRL cases fail in openssl', async () => {
    const fails = async (signed: Buffer, dir: string, re: RegExp): Promise<void> => {
      const r = await opensslVerify(signed, dir, { crlCheck: true })
      expect(r.ok).toBe(false)
      expect(r.stderr).toMatch(re)
    }
    await fails(await opensslSign(content, pki.expired), pki.caDir, /certificate has expired/)
    await fails(await opensslSign(content, pki.revoked), pki.caDir, /certificate revoked/)
    await fails(await opensslSign(content, pki.signer2), pki.caDir, /unable to get local issuer certificate/)
    await fails(await opensslSign(content, pki.signer), pki.expiredCrlDir, /CRL has expired/)
    await fails(await opensslSign(content, pki.signer), pki.noCrlDir, /unable to get certificate CRL/)
  })
})
