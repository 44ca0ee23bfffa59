/**
 * S20 / spec §2.4: the one-line DN form, differentially against OpenSSL 3. Certificates with
 * hand-built names (any attribute type, string type and byte, multi-valued RDNs in any order) are
 * written as DER and printed by `openssl x509 -noout -subject -nameopt compat` (X509_NAME_oneline);
 * vmgit's rendering must be the same string. The signature of these certificates is a dummy:
 * `openssl x509` prints names without checking it.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certNames, int, oid, seq, tlv } from '../../src/smime/der.js'
import { isPlainName, onelineDNFromDer, sameDer } from '../../src/smime/dn.js'
import { openssl } from '../helpers/pki.js'

type Ava = [type: string, tag: number, value: Buffer | string]
type Name = Ava[][]

const UTF8 = 0x0c, NUMERIC = 0x12, PRINTABLE = 0x13, T61 = 0x14, IA5 = 0x16, GENERAL = 0x1b, UNIVERSAL = 0x1c, BMP = 0x1e, VISIBLE = 0x1a
const CN = '2.5.4.3', OU = '2.5.4.11', O = '2.5.4.10', DC = '0.9.2342.19200300.100.1.25', C = '2.5.4.6'

const bytes = (v: Buffer | string): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v)
/** DER Name; `sorted: false` keeps the AVAs of a multi-valued RDN in the given order (BER-style). */
const nameDer = (n: Name, sorted = true): Buffer =>
  seq(...n.map((rdn) => {
    const avas = rdn.map(([t, tag, v]) => seq(oid(t), tlv(tag, bytes(v))))
    return tlv(0x31, Buffer.concat(sorted ? [...avas].sort(Buffer.compare) : avas))
  }))

const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' })
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'))
const utc = (s: string): Buffer => tlv(0x17, Buffer.from(s))

function certDer(subject: Buffer, issuer: Buffer = subject): Buffer {
  const tbs = seq(tlv(0xa0, int(2)), int(4242), ECDSA_SHA256, issuer, seq(utc('250101000000Z'), utc('350101000000Z')), subject, spki)
  return seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01])))
}

/** String types OpenSSL does not accept in a Name (DirectoryString is B_ASN1_PRINTABLE): it refuses the certificate. */
const REFUSED: [what: string, name: Name][] = [
  ['GeneralString in UCS-4 disguise', [[[CN, GENERAL, Buffer.from([0, 0, 0, 0x41, 0, 0, 0, 0x2f])]]]],
  ['VisibleString', [[[CN, VISIBLE, 'v']]]],
]

const CASES: [what: string, name: Name, sorted?: boolean][] = [
  ['a slash inside a value (one OU that reads like OU + CN)', [[[DC, IA5, 'org']], [[OU, UTF8, 'Endorsers/CN=Endorser good']]]],
  ['the same text as two RDNs', [[[DC, IA5, 'org']], [[OU, UTF8, 'Endorsers']], [[CN, UTF8, 'Endorser good']]]],
  ['a plus inside a value', [[[O, UTF8, 'a+CN=b']]]],
  ['a multi-valued RDN', [[[O, UTF8, 'a'], [CN, UTF8, 'b']]]],
  ['a multi-valued RDN in non-DER order', [[[CN, UTF8, 'b'], [O, UTF8, 'a'], [OU, PRINTABLE, 'c']]], false],
  ['an equals sign inside a value', [[[CN, UTF8, 'a=b=c']]]],
  ['a backslash before a separator', [[[OU, UTF8, 'x\\']], [[CN, UTF8, 'y']]]],
  ['a literal \\xC3 and \\/ as text', [[[CN, UTF8, 'Jos\\xC3\\xA9 \\/ \\+']]]],
  ['UTF-8 and control bytes', [[[CN, UTF8, 'José\u0000\u001f\u007f\u00ff']]]],
  ['T61 high bytes', [[[CN, T61, Buffer.from([0x4a, 0xe9, 0x80, 0x2f])]]]],
  ['BMPString', [[[CN, BMP, Buffer.from([0, 0x41, 0, 0x2f, 0x00, 0xe9])]]]],
  ['UniversalString', [[[CN, UNIVERSAL, Buffer.from([0, 0, 0, 0x41, 0, 0, 0, 0x2b])]]]],
  ['NumericString, IA5String, PrintableString', [[[C, PRINTABLE, 'DE']], [['2.5.4.5', NUMERIC, '0123']], [[CN, PRINTABLE, 'v/+']], [['1.2.840.113549.1.9.1', IA5, 'a@b']]]],
  ['attribute types OpenSSL knows beyond the usual ones', [[['2.5.4.97', UTF8, 'VATDE-1']], [['1.3.6.1.4.1.311.60.2.1.3', PRINTABLE, 'DE']], [['2.5.4.15', UTF8, 'Gov']], [['0.9.2342.19200300.100.1.3', IA5, 'x@y']], [['2.5.4.65', UTF8, 'p']], [['1.2.643.100.1', NUMERIC, '123']], [['2.5.4.46', PRINTABLE, 'q']]]],
  ['unknown attribute types (dotted, large arcs)', [[['1.2.3.4', UTF8, 'x']], [['2.999.18446744073709551617', UTF8, 'y']]]],
  ['a dotted type longer than 79 characters', [[[`1.3.6.1.4.1.${'1234567.'.repeat(12)}9`, UTF8, 'z']]]],
  ['an empty name', []],
]

/** A seeded generator of nasty names: separators, escapes, high bytes, types and multi-valued RDNs. */
function randomNames(count: number, seed: number): Name[] {
  let s = seed >>> 0
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return (s >>> 8) % n
  }
  const alphabet = ['a', 'Z', ' ', '/', '+', '=', '\\', 'x', 'C', '3', ',', '"', '\u00e9', '\u0001', '\u007f', '\u65e5']
  const types = [CN, OU, O, DC, C, '2.5.4.97', '1.2.3.4.5']
  const tags = [UTF8, UTF8, PRINTABLE, IA5, T61, NUMERIC, BMP]
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + rnd(4) }, () =>
      Array.from({ length: rnd(4) === 0 ? 2 + rnd(2) : 1 }, (): Ava => {
        const tag = tags[rnd(tags.length)]!
        const text = Array.from({ length: 1 + rnd(8) }, () => alphabet[rnd(alphabet.length)]).join('')
        const value = tag === T61 ? Buffer.from(text, 'latin1') : tag === BMP ? Buffer.from(text, 'utf16le').swap16() : text
        return [types[rnd(types.length)]!, tag, value]
      })))
}

describe('S20 one-line DNs rendered exactly as OpenSSL 3 renders them', () => {
  let tmp: string
  const rendered = new Map<string, { ours: string; openssl: string | null }>()

  async function compare(key: string, subject: Buffer, index: number): Promise<void> {
    const file = path.join(tmp, `${index}.der`)
    await writeFile(file, certDer(subject))
    let theirs: string | null = null
    try {
      const out = (await openssl(['x509', '-inform', 'DER', '-in', file, '-noout', '-subject', '-nameopt', 'compat'])).stdout
      theirs = out.toString('latin1').replace(/^subject=/, '').replace(/\n$/, '')
    } catch {
      theirs = null // OpenSSL refuses to parse this name (then no certificate with it can verify either)
    }
    rendered.set(key, { ours: onelineDNFromDer(certNames(certDer(subject)).subject), openssl: theirs })
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-dnx-'))
    const jobs: [string, Buffer][] = [
      ...CASES.map(([what, n, sorted]): [string, Buffer] => [what, nameDer(n, sorted ?? true)]),
      ...REFUSED.map(([what, n]): [string, Buffer] => [what, nameDer(n)]),
      ...randomNames(120, 20).map((n, i): [string, Buffer] => [`random #${i}`, nameDer(n, i % 3 !== 0)]),
    ]
    // a few openssl processes at a time
    for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map(([k, d], j) => compare(k, d, i + j)))
  }, 120_000)
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  describe('when the name is one of the hand-made nasty cases', () => {
    it.each(CASES.map(([what]) => [what]))('renders %s as `openssl x509 -subject -nameopt compat` does', (what) => {
      const r = rendered.get(what)!
      expect(r.openssl).not.toBeNull()
      expect(r.ours).toBe(r.openssl)
    })
  })

  describe('when a string type is one OpenSSL does not allow in a name', () => {
    it.each(REFUSED.map(([what]) => [what]))('%s: OpenSSL refuses the certificate (so no signer can carry it)', (what) => {
      expect(rendered.get(what)!.openssl).toBeNull()
    })
  })

  describe('when the names are generated (120 seeded random names)', () => {
    it('renders every name OpenSSL can parse byte-for-byte as OpenSSL does', () => {
      const random = [...rendered].filter(([k]) => k.startsWith('random'))
      const parsed = random.filter(([, r]) => r.openssl !== null)
      expect(parsed.length).toBeGreaterThan(100)
      for (const [k, r] of parsed) expect(`${k}: ${r.ours}`).toBe(`${k}: ${r.openssl}`)
    })
  })

  describe('when two different names print the same', () => {
    it('escapes / and + inside values, so OU="Endorsers/CN=Endorser good" differs from OU=Endorsers + CN=Endorser good', () => {
      expect(rendered.get(CASES[0]![0])!.ours).toBe('/DC=org/OU=Endorsers\\/CN=Endorser good')
      expect(rendered.get(CASES[1]![0])!.ours).toBe('/DC=org/OU=Endorsers/CN=Endorser good')
      expect(rendered.get('a plus inside a value')!.ours).toBe('/O=a\\+CN=b')
      expect(rendered.get('a multi-valued RDN')!.ours).toBe('/CN=b+O=a') // DER sorts the set
    })
    it('still collides for a backslash before a separator (OpenSSL does not escape \\), so identity is never the string', () => {
      const a = nameDer([[[OU, UTF8, 'x\\']], [[CN, UTF8, 'y']]])
      const b = nameDer([[[OU, UTF8, 'x/CN=y']]])
      expect(onelineDNFromDer(a)).toBe(onelineDNFromDer(b))
      expect(sameDer(a, b)).toBe(false)
      expect(isPlainName(a)).toBe(false)
    })
  })

  describe('isPlainName (may a string-only credential identify this name?)', () => {
    it('accepts single-valued RDNs of ASCII-compatible string types without a backslash', () => {
      expect(isPlainName(nameDer([[[DC, IA5, 'org']], [[OU, UTF8, 'Endorsers/CN=Endorser good']], [[CN, PRINTABLE, 'a+b']]]))).toBe(true)
      expect(isPlainName(nameDer([[[CN, UTF8, 'José']]]))).toBe(true)
    })
    it.each([
      ['a multi-valued RDN', [[[O, UTF8, 'a'], [CN, UTF8, 'b']]]],
      ['a backslash', [[[CN, UTF8, 'a\\xC3']]]],
      ['a GeneralString', [[[CN, GENERAL, Buffer.from([0, 0, 0, 0x41])]]]],
      ['a BMPString', [[[CN, BMP, Buffer.from([0, 0x41])]]]],
      ['a T61String', [[[CN, T61, 'a']]]],
    ] as [string, Name][])('refuses a name with %s', (_what, n) => {
      expect(isPlainName(nameDer(n))).toBe(false)
    })
    it('refuses trailing bytes and non-Name input', () => {
      expect(isPlainName(Buffer.concat([nameDer([[[CN, UTF8, 'a']]]), Buffer.from([0])]))).toBe(false)
      expect(isPlainName(Buffer.from([0x31, 0x00]))).toBe(false)
    })
  })
})
