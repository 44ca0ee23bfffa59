import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chainWorld, serveFrom, type ChainWorld } from '../helpers/chain-world.js'
import { snapshot } from '../subscriber/world.js'

/**
 * S22: every valid form OpenSSL accepts is accepted by `vmgit sync` (RSA-PSS, ECDSA, SHA-2, BER
 * indefinite lengths, certificate sets over 100 KB); bytes after the ContentInfo are refused, and
 * an algorithm vmgit does not know is UNSUPPORTED_ALGORITHM, never a forged signature.
 */
describe('S22 signature algorithms and encodings', () => {
  let cw: ChainWorld
  let version = 1
  beforeAll(async () => {
    cw = await chainWorld()
  })
  afterAll(async () => {
    await cw.w.close()
    await rm(cw.dir, { recursive: true, force: true })
  })

  describe('when the list is signed in a valid form OpenSSL accepts', () => {
    const valid: [string, Parameters<typeof serveFrom>[1]][] = [
      ['an RSA-PSS signature', { cmsPss: true }],
      ['an RSA-PSS signature with SHA-512', { cmsPss: true, cmsMd: 'sha512' }],
      ['certificates signed with RSA-PSS', { certPss: true, keyOverride: { 1: 'rsa1024' } }],
      ['an ECDSA P-256 signer', { key: 'ec256' }],
      ['an ECDSA P-384 signer under an ECDSA P-384 intermediate', { key: 'ec384', keyOverride: { 1: 'ec384' }, cmsMd: 'sha384' }],
      ['a SHA-512 digest', { cmsMd: 'sha512' }],
      ['a SHA-1 digest (legacy vmcaster lists; OpenSSL accepts it at its default level)', { cmsMd: 'sha1' }],
      ['BER with indefinite lengths (openssl cms -stream)', { ber: true, embed: true }],
      ['40 extra certificates (a set over 100 KB)', { extraCerts: 40, embed: true }],
      ['40 extra certificates in BER', { extraCerts: 40, ber: true }],
    ]
    it.each(valid)('accepts %s as the next version', async (_what, spec) => {
      const { w } = cw
      const v = `${++version}.0`
      const caDir = await serveFrom(cw, spec, v)
      const r = await w.sync([], { env: { VMGIT_CA_DIR: caDir } })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: v }])
    })
  })

  describe('when the signature is not exactly one ContentInfo or uses an unknown algorithm', () => {
    const refused: [string, string, Parameters<typeof serveFrom>[1]][] = [
      ['bytes after the ContentInfo', 'CMS_TRAILING_BYTES', { trailing: true }],
      ['bytes after a BER ContentInfo', 'CMS_TRAILING_BYTES', { trailing: true, ber: true }],
      ['an unknown signature algorithm', 'UNSUPPORTED_ALGORITHM', { unknownSigAlg: true }],
    ]
    it.each(refused)('refuses %s with %s, never as forged, and keeps state', async (_what, code, spec) => {
      const { w } = cw
      const caDir = await serveFrom(cw, spec, `${version + 1}.0`)
      const before = snapshot(w)
      const r = await w.sync([], { env: { VMGIT_CA_DIR: caDir } })
      expect(r.stderr).toContain(`[${code}]`)
      expect(r.stderr).not.toMatch(/forged|BAD_SIGNATURE/)
      expect(r.code).toBe(1)
      expect(snapshot(w)).toEqual(before)
    })
  })
})
