import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { type ForwardProxy, startForwardProxy, tlsMaterial } from '../helpers/tls.js'
import { makeWorld, sharedPki, type World } from './world.js'

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
    const proxy = await startForwardProxy()
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

describe('proxies from http_proxy / no_proxy', () => {
  let w: World
  let proxy: ForwardProxy
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    proxy = await startForwardProxy()
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
