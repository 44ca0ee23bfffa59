/**
 * Issue 14, one network client: proxies (https_proxy, http_proxy, no_proxy), trust (the CA
 * directory, X509_CERT_DIR) and caps behave the same for verify, import, sub add, sync, image
 * add, WebDAV, S3 and Glance (publish to S3 through the CLI: test/net/s3.test.ts). A real forward proxy (CONNECT + absolute URI) and real https servers
 * on 127.0.0.1.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient } from '../../src/glance/client.js'
import { openTransfer } from '../../src/transfer/index.js'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { needs, S3RVER, startS3rver } from '../helpers/servers.js'
import { makeWorld, sharedPki, type World } from '../subscriber/world.js'
import { type ForwardProxy, startForwardProxy, tlsMaterial } from '../helpers/tls.js'

describe('one network client: proxies, trust and caps for every command', { timeout: 180_000 }, () => {
  let w: World
  let good: TestServer
  let proxy: ForwardProxy
  let caWithTls: string
  let repo: () => string
  let t: ReturnType<typeof tlsMaterial>
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    t = tlsMaterial(path.join(w.dir, 'tls'))
    good = await startServer({ tls: t })
    proxy = await startForwardProxy()
    // an IGTF-style directory: the signing CA (with CRL) plus the TLS server's CA
    caWithTls = path.join(w.dir, 'ca-with-tls')
    mkdirSync(caWithTls)
    for (const f of readdirSync(w.pki.caDir)) copyFileSync(path.join(w.pki.caDir, f), path.join(caWithTls, f))
    copyFileSync(t.ca, path.join(caWithTls, 'tls-ca.pem'))
    const img = w.image('i.img', 4000)
    const body = await w.signed({ id: w.listId, version: '1', images: [img] })
    good.set('/list.smime', { body })
    w.server.set('/list.smime', { body })
    good.set('/i.img', { body: img.bytes })
    good.set('/huge-SUMS', { body: Buffer.alloc(17 * 1024 * 1024, 0x61) })
    repo = () => {
      const d = mkdtempSync(path.join(os.tmpdir(), 'vmgit-net-proxy-'))
      writeFileSync(path.join(d, 'vmgit.yaml'), 'version: 1\n')
      return d
    }
    expect((await w.trust()).code).toBe(0)
  })
  afterAll(async () => {
    await proxy.stop()
    await good.stop()
    await w.close()
  })
  afterEach(() => void proxy.seen.splice(0))

  const viaHttps = { https_proxy: undefined, HTTPS_PROXY: undefined, http_proxy: undefined, HTTP_PROXY: undefined, no_proxy: undefined, NO_PROXY: undefined }
  const tunnel = (): string => `CONNECT 127.0.0.1:${good.port}`

  describe('https_proxy (CONNECT, TLS verified end to end)', () => {
    it('carries verify, with the --ca-dir trusting the server', async () => {
      const r = await w.cli(['verify', good.url('/list.smime'), '--ca-dir', caWithTls], { env: { ...viaHttps, https_proxy: proxy.url } })
      expect([r.code, r.stderr]).toEqual([0, ''])
      expect(proxy.seen).toEqual([tunnel()])
    })
    it('carries import, the upper-case HTTPS_PROXY too', async () => {
      const r = await w.cli(['import', good.url('/list.smime'), '--repo', repo(), '--ca-dir', caWithTls, '--name', 'p'], { env: { ...viaHttps, HTTPS_PROXY: proxy.url } })
      expect(r.code).toBe(0)
      expect(proxy.seen).toEqual([tunnel()])
    })
    it('carries sub add and sync, trusting the server through X509_CERT_DIR alone', async () => {
      const env = { ...viaHttps, https_proxy: proxy.url, VMGIT_CA_DIR: undefined, X509_CERT_DIR: caWithTls }
      const add = await w.cli(['sub', 'add', good.url('/list.smime'), '--now', w.nowIso], { env })
      expect([add.code, add.stderr]).toEqual([0, expect.not.stringContaining('error')])
      const sync = await w.sync([], { env })
      expect([sync.code, sync.stderr]).toEqual([0, ''])
      expect(proxy.seen.length).toBeGreaterThanOrEqual(2)
      expect(new Set(proxy.seen)).toEqual(new Set([tunnel()]))
    })
    it('carries image add --url, and a server the trust does not cover is TLS_VERIFY through the proxy as well', async () => {
      const ok = await w.cli(['image', 'add', 'i', '--url', good.url('/i.img'), '--repo', repo()], { env: { ...viaHttps, https_proxy: proxy.url, VMGIT_CA_DIR: caWithTls } })
      expect([ok.code, ok.stderr]).toEqual([0, ''])
      expect(proxy.seen).toEqual([tunnel()])
      const bad = await w.cli(['image', 'add', 'j', '--url', good.url('/i.img'), '--repo', repo()], { env: { ...viaHttps, https_proxy: proxy.url, VMGIT_CA_DIR: w.pki.caDir } })
      expect([bad.code, bad.stderr]).toEqual([3, expect.stringContaining('[TLS_VERIFY]')])
    })
  })

  describe('no_proxy', () => {
    it('bypasses the proxy for verify, import and image add', async () => {
      const env = { ...viaHttps, https_proxy: proxy.url, http_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1', VMGIT_CA_DIR: caWithTls }
      expect((await w.cli(['verify', good.url('/list.smime'), '--ca-dir', caWithTls], { env })).code).toBe(0)
      expect((await w.cli(['import', good.url('/list.smime'), '--repo', repo(), '--ca-dir', caWithTls, '--name', 'q'], { env })).code).toBe(0)
      expect((await w.cli(['image', 'add', 'i', '--url', w.server.url('/images/i.img'), '--repo', repo()], { env })).code).toBe(0)
      expect(proxy.seen).toEqual([])
    })
  })

  describe('http_proxy (absolute-URI requests)', () => {
    it('carries image add --url and its --checksums file', async () => {
      const k = w.image('k.img', 3000)
      const sums = `${k.sha512}  k.img\n`
      w.server.set('/SHA512SUMS', { body: sums })
      const r = await w.cli(['image', 'add', 'k', '--url', w.server.url('/images/k.img'), '--checksums', w.server.url('/SHA512SUMS'), '--repo', repo()], { env: { http_proxy: proxy.url, no_proxy: '' } })
      expect([r.code, r.stderr]).toEqual([0, ''])
      expect(proxy.seen).toEqual([`GET ${w.server.url('/SHA512SUMS')}`, `GET ${w.server.url('/images/k.img')}`])
    })

    it('carries the WebDAV backend and Glance (in-process, from the environment)', async () => {
      const api = await startApi()
      const saved = { http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy, NO_PROXY: process.env.NO_PROXY }
      Object.assign(process.env, { http_proxy: proxy.url, no_proxy: '', NO_PROXY: '' })
      try {
        const dav = await openTransfer(`${api.url}/dav/`)
        await dav.put(Buffer.from('list'), '/dav/lists/a.smime')
        await dav.close()
        expect(await new GlanceClient({ endpoint: api.url, token: 't' }).getImage('nope')).toBeUndefined()
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
        else process.env[k] = v
        await api.stop()
      }
      const methods = proxy.seen.map((s) => s.split(' ')[0])
      expect(methods).toEqual(expect.arrayContaining(['PROPFIND', 'PUT', 'MOVE', 'GET']))
      expect(proxy.seen.every((s) => s.includes(`${api.url}/`))).toBe(true)
    })
  })

  describe.skipIf(needs(S3RVER).skip)('the S3 backend (in-process, s3rver; the AWS SDK sends through src/net)', () => {
    /** process.env as the S3 transfer reads it, restored after */
    const withEnv = async (vars: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> => {
      const keys = [...Object.keys(viaHttps), 'VMGIT_CA_DIR', 'X509_CERT_DIR', 'VMCATCHER_DIR_CERT', ...Object.keys(vars)]
      const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]))
      for (const k of keys) delete process.env[k]
      for (const [k, v] of Object.entries(vars)) if (v !== undefined) process.env[k] = v
      try {
        await fn()
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
    const roundTrip = async (endpoint: string): Promise<void> => {
      const s3 = await openTransfer('s3://vmgit-test/', { endpoint, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' })
      try {
        await s3.put(Buffer.from('list'), '/lists/a.smime')
        expect(await s3.get('/lists/a.smime')).toEqual(Buffer.from('list'))
      } finally {
        await s3.close()
      }
    }

    it('http_proxy carries an http endpoint (absolute-URI PUT and GET); no_proxy bypasses it', async () => {
      const s3 = await startS3rver()
      try {
        await withEnv({ http_proxy: proxy.url }, () => roundTrip(s3.endpoint))
        expect(proxy.seen.map((s) => s.split(' ')[0])).toEqual(['PUT', 'GET'])
        expect(proxy.seen.every((s) => s.includes(`${s3.endpoint}/vmgit-test/lists/a.smime`))).toBe(true)
        proxy.seen.splice(0)
        await withEnv({ http_proxy: proxy.url, no_proxy: '127.0.0.1' }, () => roundTrip(s3.endpoint))
        expect(proxy.seen).toEqual([])
      } finally {
        await s3.stop()
      }
    })

    it('https_proxy carries an https endpoint (CONNECT), trusting it through X509_CERT_DIR; outside the trust it is TLS_VERIFY', async () => {
      const s3 = await startS3rver('vmgit-test', undefined, { tls: t })
      try {
        await withEnv({ https_proxy: proxy.url, X509_CERT_DIR: caWithTls }, () => roundTrip(s3.endpoint))
        expect(new Set(proxy.seen)).toEqual(new Set([`CONNECT 127.0.0.1:${s3.port}`]))
        await withEnv({ https_proxy: proxy.url, X509_CERT_DIR: w.pki.caDir }, async () => {
          const err = await roundTrip(s3.endpoint).catch((e: unknown) => e)
          expect(err).toMatchObject({ code: 'TRANSFER_CONNECT_FAILED', exit: 3, details: { net: 'TLS_VERIFY' } })
          expect((err as Error).message).toContain('[TLS_VERIFY]')
        })
      } finally {
        await s3.stop()
      }
    })
  })

  describe('caps', () => {
    it('refuses a --checksums https file over 16 MiB with RESPONSE_TOO_LARGE (it was read without a cap)', async () => {
      const r = await w.cli(['image', 'add', 'i', '--url', good.url('/i.img'), '--checksums', good.url('/huge-SUMS'), '--repo', repo()], { env: { ...viaHttps, VMGIT_CA_DIR: caWithTls } })
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('[RESPONSE_TOO_LARGE]')])
    })
  })
})

/** A tiny WebDAV + Glance stand-in: PROPFIND 207, MKCOL/PUT/MOVE 201, everything else 404. */
async function startApi(): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const code = req.method === 'PROPFIND' ? 207 : ['MKCOL', 'PUT', 'MOVE'].includes(req.method!) ? 201 : 404
      res.writeHead(code, { 'content-type': 'application/json' }).end(code === 404 ? '{"message":"not found"}' : '')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}
