import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, SKOPEO } from '../helpers/registry.js'
import { addPinnedImage, type OciBaseline, ociSubscribed } from '../subscriber/oci-world.js'
import { snapshot } from '../subscriber/world.js'

const skip = needsRegistry(SKOPEO)

/** Another origin on this host (a storage backend, a thief): records what reached it and answers as told. */
interface Foreign {
  origin: string
  seen: { method: string; url: string; authorization?: string }[]
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void
  close(): Promise<void>
}

async function foreign(): Promise<Foreign> {
  const f = { seen: [] as Foreign['seen'], answer: ((_q, s) => s.writeHead(404).end()) as Foreign['answer'] }
  const server = http.createServer((q, s) => {
    f.seen.push({ method: q.method ?? 'GET', url: q.url ?? '/', ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })
    f.answer(q, s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return Object.assign(f, {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  })
}

describe.skipIf(skip.skip)(`O08 the registry's credentials leaving its origin ${skip.reason}`, () => {
  let b: OciBaseline
  let evil: Foreign
  let n = 1
  beforeAll(async () => {
    b = await ociSubscribed({ auth: 'basic' })
    evil = await foreign()
  }, 120_000)
  afterAll(async () => {
    await evil?.close()
    await b?.ow.close()
  })
  afterEach(() => {
    b.ow.clearEvil()
    evil.seen.length = 0
    evil.answer = (_q, s) => s.writeHead(404).end()
  })

  /** A new pinned image x (hv:uri gone), in a new list version, selected: its bytes can only come from the registry. */
  const pinnedImage = () => addPinnedImage(b, { name: `x${n}.qcow2`, size: 30_000, version: `${++n}.0` })

  describe('when a blob GET is redirected to storage on another origin (as distribution does to S3)', () => {
    it('fetches the bytes there without the registry\'s Authorization header, and verifies them', async () => {
      const { w, ow } = b
      const { x, px } = await pinnedImage()
      evil.answer = (_q, s) => s.writeHead(200, { 'content-length': String(x.bytes.length) }).end(x.bytes)
      ow.serveEvil(`/v2/${px.repository}/blobs/${px.layer}`, { status: 307, headers: { location: `${evil.origin}/bucket/blob?sig=1` }, body: Buffer.alloc(0) })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(evil.seen.map((s) => s.url)).toEqual(['/bucket/blob?sig=1'])
      expect(evil.seen.filter((s) => s.authorization !== undefined)).toEqual([])
      expect(w.filesIn('cache')).toContain(x.sha512)
    })
  })

  describe.each([
    ['a bearer challenge naming its own realm', (o: string) => `Bearer realm="${o}/token",service="steal",scope="repository:vm/x:pull"`],
    ['a basic challenge', () => 'Basic realm="storage"'],
  ])('when the storage a blob GET is redirected to answers 401 with %s', (_name, challenge) => {
    it('refuses (OCI_FOREIGN_CHALLENGE) without sending any credentials there or to a realm it names, and keeps state', async () => {
      const { w, ow } = b
      const { px } = await pinnedImage()
      evil.answer = (q, s) => (q.url?.startsWith('/token') ? s.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}') : s.writeHead(401, { 'www-authenticate': challenge(evil.origin) }).end())
      ow.serveEvil(`/v2/${px.repository}/blobs/${px.layer}`, { status: 307, headers: { location: `${evil.origin}/bucket/blob` }, body: Buffer.alloc(0) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('[OCI_FOREIGN_CHALLENGE]')
      expect(evil.seen.filter((s) => s.authorization !== undefined || s.url.startsWith('/token'))).toEqual([])
      expect(r.stderr + r.stdout).not.toContain(b.ow.reg.password!)
      expect(snapshot(w)).toEqual(before)
      expect(w.filesIn('partial')).toEqual([])
    })
  })

  describe('when the list manifest GET is redirected to another origin that asks for credentials', () => {
    it('refuses (OCI_FOREIGN_CHALLENGE), sends nothing there, keeps state', async () => {
      const { w, ow } = b
      // the images the previous attacks withheld are delivered first: this attack is on the list alone
      expect((await w.sync()).code).toBe(0)
      evil.answer = (_q, s) => s.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end()
      ow.serveEvil('/v2/vm/prod-list/manifests/latest', { status: 302, headers: { location: `${evil.origin}/v2/vm/prod-list/manifests/latest` }, body: Buffer.alloc(0) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('[OCI_FOREIGN_CHALLENGE]')
      expect(evil.seen.length).toBeGreaterThan(0)
      expect(evil.seen.filter((s) => s.authorization !== undefined)).toEqual([])
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe('when GET /v2/ is redirected to another origin that challenges', () => {
    it('refuses (OCI_FOREIGN_CHALLENGE) before any token is asked for, keeps state', async () => {
      const { w, ow } = b
      evil.answer = (q, s) => (q.url?.startsWith('/token') ? s.writeHead(200).end('{"token":"t"}') : s.writeHead(401, { 'www-authenticate': `Bearer realm="${evil.origin}/token",service="x"` }).end())
      ow.serveEvil('/v2/', { status: 307, headers: { location: `${evil.origin}/v2/` }, body: Buffer.alloc(0) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('[OCI_FOREIGN_CHALLENGE]')
      expect(evil.seen.filter((s) => s.authorization !== undefined || s.url.startsWith('/token'))).toEqual([])
      expect(snapshot(w)).toEqual(before)
    })
  })

  describe.each([
    ['a plain-http realm on another host', () => 'http://127.0.0.2:9/token'],
    ['a plain-http realm on another host, given by name', () => 'http://localhost:9/token'],
    ['a realm with user info', (o: string) => o.replace('http://', 'http://thief:x@') + '/token'],
    ['a realm that is not http(s)', () => 'ftp://127.0.0.1/token'],
  ])('when the registry challenges with %s', (_name, realm) => {
    it('refuses (OCI_AUTH_CHALLENGE) without connecting to the realm, keeps state', async () => {
      const { w, ow } = b
      ow.serveEvil('/v2/', { status: 401, headers: { 'www-authenticate': `Bearer realm="${realm(evil.origin)}",service="x"` }, body: Buffer.alloc(0) })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('[OCI_AUTH_CHALLENGE]')
      expect(evil.seen).toEqual([])
      expect(r.stderr + r.stdout).not.toContain(b.ow.reg.password!)
      expect(snapshot(w)).toEqual(before)
    })
  })
})
