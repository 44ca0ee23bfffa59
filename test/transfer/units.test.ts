/** Pure parts of the transfer seam: URL parsing, redaction, known_hosts matching. */
import { createHmac, randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { checkHostKey, fingerprintOf, hostMatches, keyTypeOf, parseKnownHosts } from '../../src/transfer/hostkey.js'
import { optionsFromEnv, parseTarget, redactText, redactUrl, Secret } from '../../src/transfer/index.js'

describe('parseTarget', () => {
  it('picks the backend from the scheme and splits connection from path', () => {
    expect(parseTarget('sftp://jenkins@www.example.org:2222/export/prod/list.smime')).toMatchObject({ scheme: 'sftp', key: 'sftp://jenkins@www.example.org:2222', path: '/export/prod/list.smime' })
    expect(parseTarget('https://dcache.example.org:2880/pnfs/vm/a.img')).toMatchObject({ scheme: 'https', path: '/pnfs/vm/a.img' })
    expect(parseTarget('s3://bucket/prefix/a.img')).toMatchObject({ scheme: 's3', key: 's3://bucket', path: '/prefix/a.img' })
    expect(parseTarget('file:///srv/www/list.smime')).toMatchObject({ scheme: 'file', path: '/srv/www/list.smime' })
  })
  it('takes a plain absolute path as a local target', () => {
    expect(parseTarget('/tmp/example_publishing/list.smime')).toMatchObject({ scheme: 'file', path: '/tmp/example_publishing/list.smime' })
  })
  it('rejects unknown schemes with TRANSFER_SCHEME_UNSUPPORTED (exit 2)', () => {
    expect(() => parseTarget('gsidcap://door:22128/pnfs/x')).toThrow(expect.objectContaining({ code: 'TRANSFER_SCHEME_UNSUPPORTED', exit: 2 }))
    expect(() => parseTarget('not a url')).toThrow(expect.objectContaining({ code: 'TRANSFER_URL_INVALID' }))
  })
  it('never shows a password in its printable form', () => {
    expect(parseTarget('https://u:hunter22@host/x').display).toBe('https://***@host/x')
  })
})

describe('redaction', () => {
  it('masks URL passwords and credential query parameters', () => {
    expect(redactUrl('sftp://me:pw1234@h/p')).toBe('sftp://***@h/p')
    expect(redactUrl('https://h/o?X-Amz-Signature=abcdef&x=1')).toBe('https://h/o?X-Amz-Signature=***&x=1')
    expect(redactUrl('me:pw1234@host:/path')).toBe('***@host:/path')
  })
  it('masks known secrets, userinfo and Authorization headers inside free text', () => {
    const text = 'failed PUT http://a:b1234@h/x with Authorization: Bearer tok-123456 (token tok-123456)'
    expect(redactText(text, ['tok-123456'])).toBe('failed PUT http://***@h/x with Authorization: Bearer *** (token ***)')
  })
  it('Secret prints as *** in strings, JSON and inspect', () => {
    const s = new Secret('p@ssw0rd!')
    expect(`${s}`).toBe('***')
    expect(JSON.stringify({ s })).toBe('{"s":"***"}')
    expect(inspect({ s })).not.toContain('p@ssw0rd')
    expect(s.reveal()).toBe('p@ssw0rd!')
  })
  it('optionsFromEnv wraps secrets so they cannot be logged by accident', () => {
    const o = optionsFromEnv({ VMGIT_DAV_TOKEN: 'tok-abcdef', VMGIT_SSH_HOST_FINGERPRINT: 'SHA256:a, SHA256:b', VMGIT_S3_PATH_STYLE: 'true' })
    expect(JSON.stringify(o)).not.toContain('tok-abcdef')
    expect(o.hostFingerprint).toEqual(['SHA256:a', 'SHA256:b'])
    expect(o.forcePathStyle).toBe(true)
  })
})

describe('known_hosts', () => {
  const blob = (type: string) => {
    const t = Buffer.from(type)
    const len = Buffer.alloc(4)
    len.writeUInt32BE(t.length)
    return Buffer.concat([len, t, randomBytes(32)])
  }
  const key = blob('ssh-ed25519')
  const other = blob('ssh-ed25519')

  it('matches plain names, [host]:port for other ports, wildcards and negations', () => {
    expect(hostMatches('example.org,10.0.0.1', 'example.org', 22)).toBe(true)
    expect(hostMatches('example.org', 'example.org', 2222)).toBe(false)
    expect(hostMatches('[example.org]:2222', 'example.org', 2222)).toBe(true)
    expect(hostMatches('*.example.org,!bad.example.org', 'www.example.org', 22)).toBe(true)
    expect(hostMatches('*.example.org,!bad.example.org', 'bad.example.org', 22)).toBe(false)
  })
  it('matches hashed entries (HashKnownHosts yes)', () => {
    const salt = randomBytes(20)
    const hash = createHmac('sha1', salt).update('[h.example.org]:2200').digest('base64')
    expect(hostMatches(`|1|${salt.toString('base64')}|${hash}`, 'h.example.org', 2200)).toBe(true)
    expect(hostMatches(`|1|${salt.toString('base64')}|${hash}`, 'h.example.org', 22)).toBe(false)
  })
  it('accepts the listed key, calls a different one of the same type a mismatch, an unlisted host unknown', () => {
    const entries = parseKnownHosts(`# comment\nh.example.org ssh-ed25519 ${key.toString('base64')}\n@revoked r.example.org ssh-ed25519 ${other.toString('base64')}\n`, 'kh')
    const policy = { entries, fingerprints: [], sources: ['kh'] }
    expect(checkHostKey(key, 'h.example.org', 22, policy)).toMatchObject({ ok: true })
    expect(checkHostKey(other, 'h.example.org', 22, policy)).toMatchObject({ ok: false, code: 'HOSTKEY_MISMATCH' })
    expect(checkHostKey(key, 'new.example.org', 22, policy)).toMatchObject({ ok: false, code: 'HOSTKEY_UNKNOWN' })
    expect(checkHostKey(other, 'r.example.org', 22, policy)).toMatchObject({ ok: false, code: 'HOSTKEY_MISMATCH', message: expect.stringContaining('@revoked') })
  })
  it('computes OpenSSH SHA256 fingerprints and key types', () => {
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    expect(keyTypeOf(key)).toBe('ssh-ed25519')
  })
})
