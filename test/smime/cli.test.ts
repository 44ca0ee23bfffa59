/** `vmgit verify` and `vmgit sign --in` as a user runs them (built CLI: `npm run build` first). */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'

const F = path.resolve(__dirname, '../fixtures')

describe('vmgit verify / vmgit sign --in (CLI)', () => {
  let tmp: string
  let pki: Pki
  let server: http.Server
  let base: string
  let listJson: string
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-cli-smime-'))
    pki = await makePki(path.join(tmp, 'pki'))
    listJson = path.join(tmp, 'list.json')
    const list = (await readFile(path.join(F, 'synthetic/vmcaster-style.json'), 'utf8'))
      .replace('/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd", \n                "hv:dn": "/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd',
        `${pki.signer.issuer}", \n                "hv:dn": "${pki.signer.subject}`)
      .replace('2025-01-29T00:00:00Z', '2099-01-01T00:00:00Z')
    await writeFile(listJson, list)
    const signed = await readFile(path.join(F, 'synthetic/vmcaster-style.sha256.smime'))
    server = http.createServer((req, res) => {
      if (req.url === '/list.smime') res.end(signed)
      else if (req.url === '/redirect') res.writeHead(302, { location: '/list.smime' }).end()
      else if (req.url?.startsWith('/loop')) res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` }).end()
      else if (req.url === '/huge') { res.writeHead(200); const chunk = Buffer.alloc(1 << 20, 0x41); let n = 0; const pump = (): void => { while (n++ < 20) if (!res.write(chunk)) return void res.once('drain', pump); res.end() }; pump() }
      else res.writeHead(404).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise((r) => server.close(r))
    await rm(tmp, { recursive: true, force: true })
  })

  describe('vmgit sign --in', () => {
    it('signs a JSON list that openssl -crl_check and vmgit verify both accept, warning that the list outlives the certificate', async () => {
      const out = path.join(tmp, 'list.smime')
      const s = await runCli(['sign', '--in', listJson, '--out', out, '--key', pki.signer.key, '--cert', pki.signer.cert])
      expect(s.stderr).toMatch(/^warning: the list expires 2099-01-01T00:00:00Z but the signing certificate expires .*; consumers will reject/)
      expect(s.code).toBe(0)
      expect((await opensslVerify(out, pki.caDir, { crlCheck: true })).ok).toBe(true)
      const v = await runCli(['verify', out, '--ca-dir', pki.caDir, '--json'])
      expect(v.code).toBe(0)
      expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, identifier: '4e186b44-2c64-40ea-97d5-e9e5c0bce059', version: '0.0.2',
        signer: { subject: pki.signer.subject, issuer: pki.signer.issuer, digest: 'sha256' }, crlCheck: true, problems: [] })
    })
    it('takes credentials from VMGIT_SIGNING_KEY/CERT and writes to stdout; stable with fixed signing time and boundary', async () => {
      const env = { VMGIT_SIGNING_KEY: await readFile(pki.signer.key, 'utf8'), VMGIT_SIGNING_CERT: await readFile(pki.signer.cert, 'utf8') }
      const args = ['sign', '--in', listJson, '--digest', 'sha1', '--signing-time', '2025-01-01T00:00:00Z', '--boundary', 'ABCDEF0123456789ABCDEF0123456789']
      const [a, b] = [await runCli(args, { env }), await runCli(args, { env })]
      expect(a.code).toBe(0)
      expect(a.stdout).toBe(b.stdout)
      expect(a.stdout).toMatch(/^MIME-Version: 1.0\nContent-Type: multipart\/signed; protocol="application\/x-pkcs7-signature"; micalg="sha1"; boundary="----ABCDEF0123456789ABCDEF0123456789"\n/)
    })
    it('refuses a certificate without keyUsage, an expired one, and a foreign endorser — exit 2/1 with the fix', async () => {
      const noku = await runCli(['sign', '--in', listJson, '--key', pki.noKeyUsage.key, '--cert', pki.noKeyUsage.cert])
      expect(noku.code).toBe(2)
      expect(noku.stderr).toMatch(/error \[CERT_KEY_USAGE\]: .*--allow-no-key-usage/)
      const exp = await runCli(['sign', '--in', listJson, '--key', pki.expired.key, '--cert', pki.expired.cert])
      expect(exp.stderr).toMatch(/error \[CERT_EXPIRED\]: signing certificate .* expired on 2021-01-01T00:00:00Z; renew it/)
      const other = await runCli(['sign', '--in', listJson, '--key', pki.signer2.key, '--cert', pki.signer2.cert])
      expect(other.code).toBe(1)
      expect(other.stderr).toMatch(/error \[ENDORSER_MISMATCH\]: hv:dn is ".*Good Signer.*" but the certificate subject is "\/C=XX\/O=Other Federation\/CN=Other Signer"/)
      expect(other.stdout).toBe('')
    })
    it('says how to give credentials when there are none', async () => {
      const r = await runCli(['sign', '--in', listJson], { env: { VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined, VMCASTER_X509_KEY: undefined, VMCASTER_X509_CERT: undefined } })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/error \[CREDENTIALS_MISSING\]: no signing credentials: give --key and --cert/)
    })
  })

  describe('vmgit verify', () => {
    const ck = path.join(F, 'cloudkeeper/ca')
    it('prints identifier, title, version, signer and expiry on success', async () => {
      const r = await runCli(['verify', path.join(F, 'synthetic/vmcaster-style.sha1.smime'), '--ca-dir', ck, '--no-crl-check'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/identifier: 4e186b44-2c64-40ea-97d5-e9e5c0bce059\n {2}title: {6}synthetic example\n {2}version: {4}0.0.2\n {2}expires: {4}2025-01-29T00:00:00Z/)
      expect(r.stdout).toContain('signer:     /C=AU/ST=Some-State/O=Internet Widgits Pty Ltd')
    })
    it('reads the trust directory from VMGIT_CA_DIR', async () => {
      const r = await runCli(['verify', path.join(F, 'synthetic/vmcaster-style.sha1.smime'), '--no-crl-check'], { env: { VMGIT_CA_DIR: ck } })
      expect(r.code).toBe(0)
    })
    it('passes the 2016 list with --at 2018-01-01T00:00:00Z and fails it today with SIGNER_EXPIRED', async () => {
      const f = path.join(F, 'cloudkeeper/history/59d818b-imagelist01.signed')
      const dir = path.join(F, 'cloudkeeper/history')
      const old = await runCli(['verify', f, '--ca-dir', dir, '--no-crl-check', '--allow-endorser-mismatch', '--at', '2018-01-01T00:00:00Z'])
      expect(old.code).toBe(0)
      expect(old.stderr).toMatch(/warning: \[ENDORSER_MISMATCH\]/)
      const now = await runCli(['verify', f, '--ca-dir', dir, '--no-crl-check', '--allow-endorser-mismatch', '--json'])
      expect(now.code).toBe(1)
      expect(JSON.parse(now.stdout)).toMatchObject({ ok: false, error: { code: 'SIGNER_EXPIRED' } })
    })
    it('fails a cloudkeeper list strictly with ENDORSER_MISMATCH and a tampered one with DIGEST_MISMATCH', async () => {
      const strict = await runCli(['verify', path.join(F, 'cloudkeeper/imagelist01.signed'), '--ca-dir', ck, '--no-crl-check'])
      expect(strict.stderr).toMatch(/^error \[ENDORSER_MISMATCH\]/)
      const bad = await runCli(['verify', path.join(F, 'cloudkeeper/imagelist_invalid.signed'), '--ca-dir', ck])
      expect(bad.code).toBe(1)
      expect(bad.stderr).toMatch(/^error \[DIGEST_MISMATCH\]/)
    })
    it('rejects a bad --at and a missing trust directory as usage errors (exit 2)', async () => {
      expect((await runCli(['verify', 'x', '--at', 'yesterday'])).stderr).toMatch(/BAD_TIME/)
      const r = await runCli(['verify', path.join(F, 'cloudkeeper/imagelist01.signed'), '--ca-dir', path.join(tmp, 'none')])
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/TRUST_DIR_MISSING/)
    })
    describe('from an http URL', () => {
      it('fetches, follows a redirect, and verifies', async () => {
        const r = await runCli(['verify', `${base}/redirect`, '--ca-dir', ck, '--no-crl-check', '--allow-endorser-mismatch'])
        expect(r.code).toBe(0)
      })
      it('fails with exit 3 on HTTP 404, on a redirect loop (more than 5), and beyond the 16 MiB cap', async () => {
        const nf = await runCli(['verify', `${base}/missing`, '--ca-dir', ck])
        expect([nf.code, nf.stderr]).toEqual([3, expect.stringMatching(/HTTP_STATUS.*HTTP 404/)])
        const loop = await runCli(['verify', `${base}/loop`, '--ca-dir', ck])
        expect([loop.code, loop.stderr]).toEqual([3, expect.stringMatching(/TOO_MANY_REDIRECTS.*more than 5 times/)])
        const huge = await runCli(['verify', `${base}/huge`, '--ca-dir', ck])
        expect(huge.stderr).toMatch(/LIST_TOO_LARGE/)
      })
    })
  })
})
