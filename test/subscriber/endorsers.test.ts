import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { oid, seq, tlv } from '../../src/smime/der.js'
import { onelineDNFromDer } from '../../src/smime/dn.js'
import { credentialMatches, defaultEndorserName, trustEndorser, uniqueEndorserName } from '../../src/subscriber/endorsers.js'
import { type DB, type EndorserRow, credentialsOf, openStore } from '../../src/subscriber/store.js'

/** S20 at the unit level: credentials are names as DER; made-up names never join an endorser. */
const UTF8 = 0x0c
const rdn = (type: string, value: string): Buffer => tlv(0x31, seq(oid(type), tlv(UTF8, Buffer.from(value))))
const name = (...rdns: Buffer[]): Buffer => seq(...rdns)
const CN = '2.5.4.3', OU = '2.5.4.11', O = '2.5.4.10'

const issuer = name(rdn(O, 'Grid'), rdn(CN, 'Grid CA'))
const good = name(rdn(O, 'Grid'), rdn(OU, 'Endorsers/CN=Endorser good'))          // prints /O=Grid/OU=Endorsers\/CN=Endorser good
const evil = name(rdn(O, 'Grid'), rdn(OU, 'Endorsers\\'), rdn(CN, 'Endorser good')) // prints the same
const NOW = new Date('2026-01-01T00:00:00Z')

const row = (over: Partial<EndorserRow>): EndorserRow => ({ name: 'n', subject: onelineDNFromDer(good), issuer: onelineDNFromDer(issuer), created_at: NOW.toISOString(), ...over })

describe('S20 endorser credentials', () => {
  let dir: string
  let db: DB
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vmgit-endorsers-'))
    db = openStore(path.join(dir, 'sub.db'))
  })
  afterEach(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('credentialMatches', () => {
    it('matches a certificate credential only when both DER names are byte-equal', () => {
      const c = row({ subject_der: good, issuer_der: issuer })
      expect(onelineDNFromDer(evil)).toBe(onelineDNFromDer(good))
      expect(credentialMatches(c, { subjectDer: good, issuerDer: issuer })).toBe(true)
      expect(credentialMatches(c, { subjectDer: evil, issuerDer: issuer })).toBe(false)
    })
    it('matches a string-only credential only for names that cannot print like another', () => {
      const c = row({})
      expect(credentialMatches(c, { subjectDer: good, issuerDer: issuer })).toBe(true)
      expect(credentialMatches(c, { subjectDer: evil, issuerDer: issuer })).toBe(false)
    })
  })

  describe('trustEndorser', () => {
    const cert = (subjectDer: Buffer) => ({ subject: '', issuer: '', subjectDer, issuerDer: issuer })

    it('refuses a made-up name that an endorser already has (case-insensitively), and allows it with --name', () => {
      trustEndorser(db, { ...cert(good), name: 'Endorser-good' }, NOW)
      const paren = name(rdn(O, 'Grid'), rdn(CN, 'Endorser (GOOD)'))
      expect(defaultEndorserName(onelineDNFromDer(paren))).toBe('Endorser-GOOD')
      expect(() => trustEndorser(db, cert(paren), NOW)).toThrow(expect.objectContaining({ code: 'ENDORSER_NAME_TAKEN', exit: 2 }))
      expect(credentialsOf(db, 'Endorser-good')).toHaveLength(1)
      expect(trustEndorser(db, { ...cert(paren), name: 'Endorser-good' }, NOW)).toMatchObject({ added: true })
    })

    it('says "already trusted" for the very same credential under its made-up name', () => {
      const plain = name(rdn(CN, 'Plain Signer'))
      expect(trustEndorser(db, cert(plain), NOW)).toMatchObject({ name: 'Plain-Signer', added: true })
      expect(trustEndorser(db, cert(plain), NOW)).toMatchObject({ name: 'Plain-Signer', added: false })
    })

    it('never merges two certificate names that print alike under one endorser (DN_COLLISION)', () => {
      trustEndorser(db, { ...cert(good), name: 'x' }, NOW)
      expect(() => trustEndorser(db, { ...cert(evil), name: 'x' }, NOW)).toThrow(expect.objectContaining({ code: 'DN_COLLISION' }))
      expect(credentialsOf(db, 'x')[0]?.subject_der).toEqual(good)
    })

    it('pins a string-only credential when its certificate is trusted under the same --name', () => {
      trustEndorser(db, { name: 'x', subject: onelineDNFromDer(good), issuer: onelineDNFromDer(issuer) }, NOW)
      expect(trustEndorser(db, { ...cert(good), name: 'x' }, NOW)).toMatchObject({ added: true, pinned: true })
      expect(credentialsOf(db, 'x')[0]?.subject_der).toEqual(good)
    })

    it('never lets a credential for one subscription change another credential (scoped add vs string-only look-alike)', () => {
      trustEndorser(db, { name: 'x', subject: onelineDNFromDer(good), issuer: onelineDNFromDer(issuer) }, NOW)
      expect(() => trustEndorser(db, { ...cert(evil), name: 'x', subscriptionId: 'list-1' }, NOW)).toThrow(expect.objectContaining({ code: 'DN_COLLISION' }))
      expect(credentialsOf(db, 'x')[0]?.subject_der ?? null).toBeNull()
    })

    it('keeps a --auto-endorse credential to its subscription until an explicit trust widens it', () => {
      trustEndorser(db, { ...cert(good), name: 'x', subscriptionId: 'list-1' }, NOW)
      expect(credentialsOf(db, 'x')).toEqual([])
      expect(credentialsOf(db, 'x', 'list-1')).toHaveLength(1)
      expect(credentialsOf(db, 'x', 'list-2')).toEqual([])
      trustEndorser(db, { ...cert(good), name: 'x' }, NOW)
      expect(credentialsOf(db, 'x', 'list-2')).toHaveLength(1)
    })

    it('refuses one-line strings that could print like another name (DN_NEEDS_CERTIFICATE)', () => {
      for (const subject of ['/O=Grid/OU=a+CN=b', '/O=Grid/OU=Endorsers\\/CN=x\\y']) {
        expect(() => trustEndorser(db, { name: 'x', subject, issuer: '/O=Grid/CN=Grid CA' }, NOW)).toThrow(expect.objectContaining({ code: 'DN_NEEDS_CERTIFICATE' }))
      }
      expect(trustEndorser(db, { name: 'x', subject: '/O=Grid/OU=a\\+b\\/c/CN=Jos\\xC3\\xA9', issuer: '/O=Grid/CN=Grid CA' }, NOW)).toMatchObject({ added: true })
    })
  })

  it('uniqueEndorserName counts up past names in use', () => {
    trustEndorser(db, { name: 'cn', subject: '/CN=a', issuer: '/CN=b' }, NOW)
    trustEndorser(db, { name: 'CN-2', subject: '/CN=a', issuer: '/CN=b' }, NOW)
    expect(uniqueEndorserName(db, 'cn')).toBe('cn-3')
    expect(uniqueEndorserName(db, 'other')).toBe('other')
  })
})
