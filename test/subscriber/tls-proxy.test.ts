import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { makeWorld, sharedPki, type World } from './world.js'

/** A server CA and a certificate for 127.0.0.1 (or for another name), made with openssl. */
function tlsMaterial(dir: string, san: string): { key: string; cert: string; ca: string } {
  mkdirSync(dir, { recursive: true })
  const o = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' })
  const p = (n: string): string => path.join(dir, n)
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=vmgit test TLS CA', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  o(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=server', '-keyout', p('srv.key'), '-out', p('srv.csr')])
  writeFileSync(p('ext'), `subjectAltName=${san}\n`)
  o(['x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', '7', '-days', '2', '-extfile', p('ext'), '-out', p('srv.pem')])
  return { key: readFileSync(p('srv.key'), 'utf8'), cert: readFileSync(p('srv.pem'), 'utf8'), ca: p('ca.pem') }
}

describe('https list URLs: TLS is always verified, with the site CA directory added', () => {
  let w: World
  let good: TestServer
  let wrongName: TestServer
  let caWithTls: string
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    const t = tlsMaterial(path.join(w.dir, 'tls'), 'IP:127.0.0.1')
    const t2 = tlsMaterial(path.join(w.dir, 'tls2'), 'DNS:other.example')
    good = await startServer({ tls: t })
    wrongName = await startServer({ tls: { key: t2.key, cert: t2.cert } })
    // the trust directory: the signing CA (with CRL) plus the TLS CAs, as an IGTF dir would hold
    caWithTls = path.join(w.dir, 'ca-with-tls')
    mkdirSync(caWithTls)
    for (const f of readdirSync(w.pki.caDir)) copyFileSync(path.join(w.pki.caDir, f), path.join(caWithTls, f))
    copyFileSync(t.ca, path.join(caWithTls, 'tls-ca.pem'))
    copyFileSync(t2.ca, path.join(caWithTls, 'tls-ca2.pem'))
    const body = await w.signed({ id: w.listId, version: '1', images: [] })
    good.set('/list.smime', { body })
    wrongName.set('/list.smime', { body })
    good.set('/down', { redirect: w.server.url('/list.smime') })
    w.server.set('/list.smime', { body })
    expect((await w.trust()).code).toBe(0)
  })
  afterAll(async () => {
    await good.stop()
    await wrongName.stop()
    await w.close()
  })

  it('refuses a server whose CA is not trusted', async () => {
    const r = await w.cli(['sub', 'add', good.url('/list.smime'), '--now', w.nowIso])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[TLS_VERIFY]')
  })

  it('refuses a certificate for another host name even from a trusted CA', async () => {
    const r = await w.cli(['sub', 'add', wrongName.url('/list.smime'), '--now', w.nowIso], { env: { VMGIT_CA_DIR: caWithTls } })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[TLS_VERIFY]')
  })

  it('refuses a redirect from https to plain http for a list', async () => {
    const r = await w.cli(['sub', 'add', good.url('/down'), '--now', w.nowIso], { env: { VMGIT_CA_DIR: caWithTls } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[REDIRECT_DOWNGRADE]')
  })

  it('subscribes and syncs when the server CA is in the trust directory', async () => {
    const env = { VMGIT_CA_DIR: caWithTls }
    expect((await w.cli(['sub', 'add', good.url('/list.smime'), '--now', w.nowIso], { env })).code).toBe(0)
    const r = await w.sync([], { env })
    expect([r.code, r.stderr]).toEqual([0, ''])
  })

  it('tunnels https through https_proxy (CONNECT) and still verifies the server end to end', async () => {
    const proxy = await startProxy()
    try {
      good.reset()
      const r = await w.sync([], { env: { VMGIT_CA_DIR: caWithTls, https_proxy: proxy.url, no_proxy: '' } })
      expect(r.stderr).toBe('')
      expect([r.code, r.stderr]).toEqual([0, ''])
      expect(proxy.seen).toEqual([`CONNECT 127.0.0.1:${good.port}`])
      expect(good.requests.map((q) => q.status)).toEqual([304])
      const bad = await w.cli(['sub', 'add', wrongName.url('/list.smime'), '--now', w.nowIso], { env: { VMGIT_CA_DIR: caWithTls, https_proxy: proxy.url, no_proxy: '' } })
      expect(bad.stderr).toContain('[TLS_VERIFY]')
    } finally {
      await proxy.stop()
    }
  })
})

/** A minimal forward proxy: absolute-form GETs for http, CONNECT tunnels for https. */
async function startProxy(): Promise<{ url: string; seen: string[]; stop(): Promise<void> }> {
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(`GET ${req.url}`)
    const u = new URL(req.url!)
    const up = http.request({ host: u.hostname, port: u.port, path: u.pathname, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers)
      r.pipe(res)
    })
    up.end()
  })
  server.on('connect', (req, sock) => {
    seen.push(`CONNECT ${req.url}`)
    const [h, p] = req.url!.split(':')
    const up = net.connect(Number(p), h, () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      up.pipe(sock)
      sock.pipe(up)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}

describe('proxies from http_proxy / no_proxy', () => {
  let w: World
  let proxy: Awaited<ReturnType<typeof startProxy>>
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    proxy = await startProxy()
    const img = w.image('i.qcow2', 5000)
    await w.publish({ id: w.listId, version: '1', images: [img] })
    for (const r of [await w.trust(), await w.add(w.listUrl), await w.cli(['sub', 'select', img.id])]) expect(r.code).toBe(0)
  })
  afterAll(async () => {
    await proxy.stop()
    await w.close()
  })

  it('sends list and image requests through the proxy', async () => {
    const r = await w.sync([], { env: { http_proxy: proxy.url, no_proxy: '' } })
    expect([r.code, r.stderr]).toEqual([0, ''])
    expect(proxy.seen).toEqual([`GET ${w.listUrl}`, `GET ${w.server.url('/images/i.qcow2')}`])
  })

  it('bypasses it for hosts in no_proxy', async () => {
    proxy.seen.splice(0)
    const r = await w.sync([], { env: { http_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1' } })
    expect(r.code).toBe(0)
    expect(proxy.seen).toEqual([])
  })
})
