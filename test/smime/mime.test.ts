import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { canonicalize, parseContentType, parseSmime, writeSmime } from '../../src/smime/mime.js'

const FIXTURES = path.resolve(__dirname, '../fixtures')
const B = '1E46927A51C795976CF8F88F2D1050B0'
const SIG = Buffer.from('MIIBhello-this-is-not-der-but-base64-is-what-the-mime-layer-checks', 'latin1')

/** A minimal OpenSSL-shaped message; `content` is written between the delimiters as given. */
function message(content: string, o: { eol?: string; protocol?: string; quoted?: boolean; sigType?: string; extra?: string; close?: boolean } = {}): Buffer {
  const eol = o.eol ?? '\n'
  const b = `----${B}`
  const bq = o.quoted === false ? b : `"${b}"`
  const proto = o.protocol ?? 'application/x-pkcs7-signature'
  const lines = [
    'MIME-Version: 1.0',
    `Content-Type: multipart/signed; protocol="${proto}"; micalg="sha-256"; boundary=${bq}`,
    '',
    'This is an S/MIME signed message',
    '',
    `--${b}`,
    content,
    `--${b}`,
    `Content-Type: ${o.sigType ?? 'application/x-pkcs7-signature'}; name="smime.p7s"`,
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="smime.p7s"',
    '',
    ...(SIG.toString('base64').match(/.{1,64}/g) ?? []),
    '',
    ...(o.extra ? [`--${b}`, o.extra] : []),
    ...(o.close === false ? [] : [`--${b}--`, '']),
  ]
  return Buffer.from(lines.join(eol), 'latin1')
}

describe('mime: parsing multipart/signed (spec §2.1)', () => {
  describe('when the file is OpenSSL\'s layout', () => {
    it('returns the first part\'s exact bytes without the line break that belongs to the delimiter', () => {
      const p = parseSmime(message('{\r\n  "a": 1\r\n}'))
      expect(p.content.toString('latin1')).toBe('{\r\n  "a": 1\r\n}')
      expect(p.signature).toEqual(SIG)
      expect(p.boundary).toBe(`----${B}`)
      expect(p.micalg).toBe('sha-256')
    })
    it('keeps a final CRLF of the content (AppDB lists end with a newline)', () => {
      expect(parseSmime(message('{}\r\n')).content.toString()).toBe('{}\r\n')
    })
    it('accepts the old application/pkcs7-signature spelling and an unquoted boundary', () => {
      const p = parseSmime(message('{}', { protocol: 'application/pkcs7-signature', sigType: 'application/pkcs7-signature', quoted: false }))
      expect(p.protocol).toBe('application/pkcs7-signature')
    })
  })

  describe('when the file was saved with other line ends', () => {
    it('turns LF-only content into the CRLF bytes OpenSSL digests', () => {
      expect(parseSmime(message('{\n  "a": 1\n}')).content.toString()).toBe('{\r\n  "a": 1\r\n}')
    })
    it('reads an all-CRLF file the same way', () => {
      expect(parseSmime(message('{\n  "a": 1\n}', { eol: '\r\n' })).content.toString()).toBe('{\r\n  "a": 1\r\n}')
    })
    it('recovers the exact signed bytes of the real 2011 README list', async () => {
      const p = parseSmime(await readFile(path.join(FIXTURES, 'hepixvmitrust/readme_example.smime')))
      expect(p.content).toEqual(await readFile(path.join(FIXTURES, 'hepixvmitrust/readme_example.signed-content.json')))
      expect(p.protocol).toBe('application/pkcs7-signature')
    })
  })

  describe('when the structure is wrong (attacks S19)', () => {
    const code = (f: () => unknown): string | undefined => {
      try { f() } catch (e) { return (e as { code?: string }).code }
      return undefined
    }
    it('rejects a third part with MIME_PARTS', () => {
      expect(code(() => parseSmime(message('{}', { extra: 'Content-Type: text/plain\n\nsmuggled' })))).toBe('MIME_PARTS')
    })
    it('rejects a missing closing delimiter with MIME_UNTERMINATED', () => {
      expect(code(() => parseSmime(message('{}', { close: false })))).toBe('MIME_UNTERMINATED')
    })
    it('rejects a nested multipart as the signed part with MIME_NESTED', () => {
      expect(code(() => parseSmime(message('Content-Type: multipart/mixed; boundary="x"\n\n--x\n{}\n--x--')))).toBe('MIME_NESTED')
    })
    it('rejects a file that is not multipart/signed', () => {
      expect(code(() => parseSmime(Buffer.from('{"hv:imagelist": {}}')))).toBe('MIME_NO_BODY')
      expect(code(() => parseSmime(Buffer.from('Content-Type: application/json\n\n{}')))).toBe('MIME_NOT_MULTIPART_SIGNED')
      expect(code(() => parseSmime(Buffer.from('Content-Type: application/pkcs7-mime; smime-type=signed-data\n\nMIIB')))).toBe('MIME_NOT_MULTIPART_SIGNED')
    })
    it('rejects a missing boundary parameter, a foreign protocol and a wrong signature part', () => {
      expect(code(() => parseSmime(Buffer.from('Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"\n\nx')))).toBe('MIME_NO_BOUNDARY')
      expect(code(() => parseSmime(message('{}', { protocol: 'application/pgp-signature' })))).toBe('MIME_PROTOCOL')
      expect(code(() => parseSmime(message('{}', { sigType: 'text/plain' })))).toBe('MIME_SIGNATURE_TYPE')
    })
    it('rejects a body with no delimiter line and a signature that is not base64', () => {
      expect(code(() => parseSmime(Buffer.from(`Content-Type: multipart/signed; boundary="${B}"\n\nnothing here\n`)))).toBe('MIME_NO_PARTS')
      const bad = message('{}').toString('latin1').replace(SIG.toString('base64').slice(0, 64), '***not base64***')
      expect(code(() => parseSmime(Buffer.from(bad, 'latin1')))).toBe('MIME_BASE64')
    })
    it('explains what is wrong and what to do', () => {
      try { parseSmime(message('{}', { close: false })) } catch (e) {
        expect((e as Error).message).toMatch(/closing delimiter .* missing .*re-sign it with `vmgit sign`/)
      }
    })
  })

  describe('parseContentType', () => {
    it('reads quoted and unquoted parameters case-insensitively', () => {
      const { type, params } = parseContentType('Multipart/Signed; Protocol="a/b"; micalg=sha1; boundary="--x;y"')
      expect(type).toBe('multipart/signed')
      expect(Object.fromEntries(params)).toEqual({ protocol: 'a/b', micalg: 'sha1', boundary: '--x;y' })
    })
  })
})

describe('mime: canonicalisation (spec §2.3, OpenSSL SMIME_crlf_copy)', () => {
  it('makes every line end CRLF and adds none to a last line without one', () => {
    expect(canonicalize(Buffer.from('a\nb\r\nc')).toString()).toBe('a\r\nb\r\nc')
    expect(canonicalize(Buffer.from('a\n')).toString()).toBe('a\r\n')
    expect(canonicalize(Buffer.from('a\r\r\nb\r')).toString()).toBe('a\r\nb')
  })
  it('returns already-canonical content unchanged (no copy)', () => {
    const b = Buffer.from('x\r\ny')
    expect(canonicalize(b)).toBe(b)
  })
})

describe('mime: writing OpenSSL\'s layout', () => {
  it('writes the exact template of spec §2.1', () => {
    const der = Buffer.alloc(100, 0x41)
    const out = writeSmime(Buffer.from('{}'), der, 'sha1', B).toString('latin1')
    const b64 = der.toString('base64')
    expect(out).toBe('MIME-Version: 1.0\n' +
      `Content-Type: multipart/signed; protocol="application/x-pkcs7-signature"; micalg="sha1"; boundary="----${B}"\n\n` +
      'This is an S/MIME signed message\n\n' +
      `------${B}\n{}\n------${B}\n` +
      'Content-Type: application/x-pkcs7-signature; name="smime.p7s"\nContent-Transfer-Encoding: base64\n' +
      'Content-Disposition: attachment; filename="smime.p7s"\n\n' +
      `${b64.match(/.{1,64}/g)?.join('\n')}\n\n------${B}--\n\n`)
  })
  it('names sha256 "sha-256" in micalg', () => {
    expect(writeSmime(Buffer.from('{}'), Buffer.alloc(3), 'sha256', B).toString()).toContain('micalg="sha-256"')
  })
})
