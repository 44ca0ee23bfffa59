import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as pkijs from 'pkijs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certNames } from '../../src/smime/der.js'
import { nameHash, onelineDN, onelineDNFromDer } from '../../src/smime/dn.js'
import { openssl } from '../helpers/pki.js'

const FIXTURES = path.resolve(__dirname, '../fixtures')

/** Tricky subjects: UTF-8, repeated OU, DC, emailAddress, serialNumber, UID, whitespace runs, multi-valued RDN. */
const SUBJECTS: { subj: string; mask: string; multi?: boolean }[] = [
  { subj: '/DC=org/DC=ex/C=DE/O=Grid Ünïvérsité/OU=A/OU=B  c/CN=José Müller/emailAddress=j@x.org', mask: 'utf8only' },
  { subj: '/C=CH/O=CERN/OU=computers/CN=host.cern.ch/serialNumber=123/UID=jm/street=Main St/L=Genève', mask: 'default' },
  { subj: '/DC=ch/DC=cern/OU=Users/CN=a+UID=b/CN=  Mixed   CASE  ', mask: 'nombstr', multi: true },
  { subj: '/C=JP/O=日本/CN=テスト', mask: 'default' },
]

describe('dn: OpenSSL one-line names and subject hashes', () => {
  let tmp: string
  const certs: { der: Buffer; subject: string; hash: string }[] = []
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-dn-'))
    for (const [i, s] of SUBJECTS.entries()) {
      const cnf = path.join(tmp, `r${i}.cnf`)
      await writeFile(cnf, `[req]\ndistinguished_name=dn\nstring_mask=${s.mask}\n[dn]\n`)
      const pem = path.join(tmp, `c${i}.pem`)
      await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(tmp, `k${i}.pem`),
        '-out', pem, '-config', cnf, '-utf8', '-subj', s.subj, '-days', '1', ...(s.multi ? ['-multivalue-rdn'] : [])])
      const out = (await openssl(['x509', '-in', pem, '-noout', '-nameopt', 'compat', '-subject', '-subject_hash'])).stdout.toString()
      const [subjLine, hash] = out.trim().split('\n')
      const der = (await openssl(['x509', '-in', pem, '-outform', 'DER'])).stdout
      certs.push({ der, subject: (subjLine ?? '').replace(/^subject=/, ''), hash: hash ?? '' })
    }
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  describe('onelineDN', () => {
    it('equals `openssl x509 -subject -nameopt compat` for UTF-8, BMP/T61, repeated and multi-valued RDNs', () => {
      for (const c of certs) expect(onelineDNFromDer(certNames(c.der).subject)).toBe(c.subject)
    })
    it('escapes bytes outside 0x20-0x7E as \\xHH of the UTF-8 bytes, in certificate order', () => {
      expect(certs[0]?.subject).toBe('/DC=org/DC=ex/C=DE/O=Grid \\xC3\\x9Cn\\xC3\\xAFv\\xC3\\xA9rsit\\xC3\\xA9/OU=A/OU=B  c/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller/emailAddress=j@x.org')
      expect(onelineDNFromDer(certNames(certs[0]!.der).subject)).toBe(certs[0]?.subject)
    })
    it('accepts a pkijs name (the module contract)', () => {
      const cert = pkijs.Certificate.fromBER(certs[1]!.der)
      expect(onelineDN(cert.subject)).toBe(certs[1]?.subject)
    })
    it('gives the fixtures\' cloudkeeper test CA its known DN', async () => {
      const pem = await readFile(path.join(FIXTURES, 'cloudkeeper/auth/cert.pem'), 'utf8')
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
      expect(onelineDNFromDer(certNames(der).subject)).toBe('/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd')
    })
  })

  describe('nameHash', () => {
    it('equals `openssl x509 -subject_hash` (canonical: case, whitespace, string types)', () => {
      for (const c of certs) expect(nameHash(certNames(c.der).subject)).toBe(c.hash)
    })
    it('names the cloudkeeper anchor file 9da13359.0', async () => {
      const pem = await readFile(path.join(FIXTURES, 'cloudkeeper/ca/9da13359.0'), 'utf8')
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
      expect(nameHash(certNames(der).subject)).toBe('9da13359')
    })
  })
})
