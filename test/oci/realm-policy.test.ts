/**
 * O08 at the client: where a registry's token realm may take the registry's credentials. A realm
 * that redirects from https to plain http, or that names another address range than the
 * registry's own, is refused before anything is sent there.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Fetcher } from '../../src/net/http.js'
import { RegistryClient } from '../../src/oci/client.js'
import { tlsMaterial } from '../helpers/tls.js'

const env = { VMGIT_REGISTRY_USERNAME: 'endorser', VMGIT_REGISTRY_PASSWORD: 'pw-realm-secret' }
let realm = ''
let scope = ''
const seen: { where: string; url: string; authorization?: string }[] = []
let registry: http.Server
let plain: http.Server
let tlsRealm: https.Server
let tmp: string
let ca: Buffer
const port = (s: http.Server | https.Server): number => (s.address() as AddressInfo).port
const listen = (s: http.Server | https.Server): Promise<void> => new Promise((r) => s.listen(0, '127.0.0.1', () => r()))
const record = (where: string) => (q: http.IncomingMessage): void => void seen.push({ where, url: q.url ?? '/', ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-realm-'))
  const m = tlsMaterial(tmp)
  ca = readFileSync(m.ca)
  registry = http.createServer((q, s) => {
    record('registry')(q)
    s.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="svc"${scope ? `,scope="${scope}"` : ''}` }).end()
  })
  plain = http.createServer((q, s) => {
    record('plain')(q)
    s.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"from-plain-http"}')
  })
  tlsRealm = https.createServer({ key: m.key, cert: m.cert }, (q, s) => {
    record('tls')(q)
    s.writeHead(302, { location: `http://127.0.0.1:${port(plain)}/token` }).end()
  })
  await Promise.all([listen(registry), listen(plain), listen(tlsRealm)])
})
afterAll(async () => {
  for (const s of [registry, plain, tlsRealm]) {
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
  rmSync(tmp, { recursive: true, force: true })
})

async function attempt(): Promise<unknown> {
  const fetcher = new Fetcher({ ca: [ca], env: {} })
  const c = new RegistryClient(`127.0.0.1:${port(registry)}`, { env, fetcher })
  try {
    await c.getManifest({ registry: `127.0.0.1:${port(registry)}`, repository: 'vm/list' }, 'latest')
    return undefined
  } catch (e) {
    return e
  } finally {
    fetcher.close()
  }
}

describe('O08 token realms', () => {
  describe('when the https realm redirects to plain http', () => {
    it('refuses (REDIRECT_DOWNGRADE): the credentials went to the https realm only, nothing reached plain http', async () => {
      seen.length = 0
      realm = `https://127.0.0.1:${port(tlsRealm)}/token`
      expect(await attempt()).toMatchObject({ code: 'REDIRECT_DOWNGRADE' })
      expect(seen.filter((s) => s.where === 'plain')).toEqual([])
      expect(seen.filter((s) => s.where === 'tls')).toHaveLength(1)
    })
  })

  describe.each([
    ['a private address', 'https://10.11.12.13/token'],
    ['the cloud metadata address', 'https://169.254.169.254/latest/token'],
    ['an IPv6 unique local address', 'https://[fd00::1]/token'],
  ])('when the loopback registry names a realm at %s', (_n, r) => {
    it('refuses without connecting (OCI_AUTH_CHALLENGE)', async () => {
      seen.length = 0
      realm = r
      expect(await attempt()).toMatchObject({ code: 'OCI_AUTH_CHALLENGE' })
      expect(seen.every((s) => s.where === 'registry' && s.authorization === undefined)).toBe(true)
    })
  })

  describe('when the realm is plain http on the registry\'s own host (the test and bench registries)', () => {
    it('asks it with the credentials (the rule refuses only what it must)', async () => {
      seen.length = 0
      realm = `http://127.0.0.1:${port(plain)}/token`
      await attempt()
      const asked = seen.filter((s) => s.where === 'plain')
      expect(asked.length).toBeGreaterThan(0)
      expect(new Set(asked.map((s) => s.authorization))).toEqual(new Set([`Basic ${Buffer.from('endorser:pw-realm-secret').toString('base64')}`]))
    })
  })

  describe('when the registry\'s 401 asks for push, delete, another repository or the catalog', () => {
    it('asks the realm for this repository\'s pull only (least privilege)', async () => {
      seen.length = 0
      realm = `http://127.0.0.1:${port(plain)}/token`
      scope = 'repository:vm/list:pull,push,delete repository:vm/other:pull registry:catalog:* repository:vm/list:*'
      await attempt()
      scope = ''
      const asked = seen.filter((s) => s.where === 'plain').map((s) => new URL(s.url, 'http://x').searchParams.getAll('scope'))
      expect(asked.length).toBeGreaterThan(0)
      for (const scopes of asked) expect(scopes).toEqual(['repository:vm/list:pull'])
    })
  })
})

describe('O08 an https registry that redirects to plain http', () => {
  let dir: string
  let tlsRegistry: https.Server
  let clear: http.Server
  let regCa: Buffer
  const hits: { where: string; url: string; authorization?: string }[] = []
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-https-reg-'))
    const m = tlsMaterial(dir, 'DNS:registry.example.org')
    clear = http.createServer((q, s) => {
      hits.push({ where: 'clear', url: q.url ?? '/', ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })
      s.writeHead(200).end('{}')
    })
    await listen(clear)
    tlsRegistry = https.createServer({ key: m.key, cert: m.cert }, (q, s) => {
      hits.push({ where: 'tls', url: q.url ?? '/', ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })
      if (q.url === '/v2/') return void s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end()
      if (!q.headers.authorization) return void s.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end()
      s.writeHead(307, { location: `http://registry.example.org:${port(clear)}${q.url}` }).end()
    })
    await listen(tlsRegistry)
    regCa = readFileSync(m.ca)
  })
  afterAll(async () => {
    for (const s of [tlsRegistry, clear]) {
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it.each(['manifest', 'blob'] as const)('refuses to follow a %s GET to http (REDIRECT_DOWNGRADE): nothing reaches plain http', async (what) => {
    hits.length = 0
    const fetcher = new Fetcher({ ca: [regCa], env: {}, resolve: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) })
    const host = `registry.example.org:${port(tlsRegistry)}`
    const c = new RegistryClient(host, { env, fetcher })
    const repo = { registry: host, repository: 'vm/list' }
    try {
      const e = await (what === 'manifest' ? c.getManifest(repo, 'latest') : c.openBlob(repo, `sha256:${'e'.repeat(64)}`)).then(() => undefined, (x: unknown) => x)
      expect(e).toMatchObject({ code: 'REDIRECT_DOWNGRADE' })
      expect(hits.filter((h) => h.where === 'clear')).toEqual([])
      expect(hits.filter((h) => h.where === 'tls' && h.authorization).length).toBeGreaterThan(0)
    } finally {
      fetcher.close()
    }
  })
})
