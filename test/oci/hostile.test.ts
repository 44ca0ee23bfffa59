/**
 * The OCI client against a hostile registry (a node server on 127.0.0.1 that lies): every lie is
 * refused with its own code, and nothing unverified is kept on disk.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEDIA, RegistryClient, sha256 } from '../../src/oci/client.js'
import { downloadBlob } from '../../src/oci/download.js'
import { uploadBlob } from '../../src/oci/push.js'
import { FileUploadSessions } from '../../src/oci/sessions.js'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void
let handler: Handler = (_q, s) => s.writeHead(404).end()
let server: http.Server
let host: string
let tmp: string
const repo = () => ({ registry: host, repository: 'egi/img' })

beforeAll(async () => {
  server = http.createServer((q, s) => (q.url === '/v2/' ? s.writeHead(200).end('{}') : handler(q, s)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oci-hostile-'))
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>((r) => server.close(() => r()))
  rmSync(tmp, { recursive: true, force: true })
})

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config: { mediaType: MEDIA.empty, digest: sha256(Buffer.from('{}')), size: 2 }, layers: [] }))
const serve = (body: Buffer, headers: Record<string, string>): Handler => (_q, s) => s.writeHead(200, { 'content-length': String(body.length), ...headers }).end(body)
/** 64 MiB of spaces as `type`, written as fast as the client reads (a cap must stop it long before the end) */
const serve64MiB = (type: string): Handler => (_q, s) => {
  s.writeHead(200, { 'content-type': type })
  const chunk = Buffer.alloc(1024 * 1024, 0x20)
  let n = 0
  const more = (): void => {
    while (n++ < 64) if (!s.write(chunk)) return void s.once('drain', more)
    s.end()
  }
  more()
}

async function attempt<T>(f: (c: RegistryClient) => Promise<T>): Promise<unknown> {
  const c = new RegistryClient(host, { env: {} })
  try {
    await f(c)
    return undefined
  } catch (e) {
    return e
  } finally {
    c.close()
  }
}

describe('OCI client against a lying registry', () => {
  describe('when a manifest fetched by digest hashes to something else', () => {
    it('refuses with OCI_DIGEST_MISMATCH', async () => {
      handler = serve(manifest, { 'content-type': MEDIA.manifest })
      expect(await attempt((c) => c.getManifest(repo(), `sha256:${'b'.repeat(64)}`))).toMatchObject({ code: 'OCI_DIGEST_MISMATCH' })
    })
  })
  describe('when Docker-Content-Digest contradicts the bytes served for a tag', () => {
    it('refuses with OCI_DIGEST_MISMATCH', async () => {
      handler = serve(manifest, { 'content-type': MEDIA.manifest, 'docker-content-digest': `sha256:${'c'.repeat(64)}` })
      expect(await attempt((c) => c.getManifest(repo(), 'latest'))).toMatchObject({ code: 'OCI_DIGEST_MISMATCH' })
    })
  })
  describe('when the media type is not one asked for, or disagrees with the document', () => {
    it.each([
      ['served as an index but is a manifest', MEDIA.index, [MEDIA.manifest, MEDIA.index]],
      ['a docker manifest when only OCI was asked', MEDIA.manifest, [MEDIA.index]],
    ])('%s: refuses with OCI_MEDIA_TYPE', async (_n, type, accept) => {
      handler = serve(manifest, { 'content-type': type as string })
      expect(await attempt((c) => c.getManifest(repo(), 'latest', accept as string[]))).toMatchObject({ code: 'OCI_MEDIA_TYPE' })
    })
  })
  describe('when a manifest is larger than the cap', () => {
    it('refuses with OCI_MANIFEST_TOO_LARGE before reading it whole', async () => {
      handler = serve64MiB(MEDIA.manifest)
      expect(await attempt((c) => c.getManifest(repo(), 'latest'))).toMatchObject({ code: 'OCI_MANIFEST_TOO_LARGE' })
    })
  })
  describe('when a blob is served longer than its descriptor, without a length', () => {
    it('stops at size + 1 with OCI_BLOB_TOO_LARGE and removes the file', async () => {
      const blob = randomBytes(4096)
      handler = (_q, s) => {
        s.writeHead(200)
        s.end(Buffer.concat([blob, randomBytes(100_000)]))
      }
      const out = path.join(tmp, 'long')
      expect(await attempt((c) => downloadBlob(c, repo(), { digest: sha256(blob), size: blob.length }, out))).toMatchObject({ code: 'OCI_BLOB_TOO_LARGE' })
      expect(existsSync(out)).toBe(false)
    })
  })
  describe('when a Range request is answered from byte 0 (Range ignored)', () => {
    it('starts over and still verifies the whole blob', async () => {
      const blob = randomBytes(10_000)
      handler = serve(blob, {})
      const out = path.join(tmp, 'restart')
      writeFileSync(out, blob.subarray(0, 3000))
      let restarted = 0
      expect(await attempt((c) => downloadBlob(c, repo(), { digest: sha256(blob), size: blob.length }, out, { onRestart: () => restarted++ }))).toBeUndefined()
      expect(restarted).toBe(1)
      expect(readFileSync(out).equals(blob)).toBe(true)
    })
  })
  describe('when an auth challenge names an unknown scheme', () => {
    it('refuses with OCI_AUTH_CHALLENGE', async () => {
      handler = (_q, s) => s.writeHead(401, { 'www-authenticate': 'Negotiate' }).end()
      expect(await attempt((c) => c.listTags(repo()))).toMatchObject({ code: 'OCI_AUTH_CHALLENGE' })
    })
  })
  describe('when a bearer realm is not http(s)', () => {
    it('refuses with OCI_AUTH_CHALLENGE and sends no credentials', async () => {
      handler = (_q, s) => s.writeHead(401, { 'www-authenticate': 'Bearer realm="file:///etc/passwd",service="x"' }).end()
      expect(await attempt((c) => c.listTags(repo()))).toMatchObject({ code: 'OCI_AUTH_CHALLENGE' })
    })
  })
  describe('when an upload Location points at another origin', () => {
    it('refuses with OCI_FOREIGN_LOCATION (credentials stay with the registry)', async () => {
      handler = (q, s) => (q.method === 'HEAD' ? s.writeHead(404).end() : s.writeHead(202, { location: 'http://127.0.0.2:1/steal' }).end())
      expect(await attempt((c) => uploadBlob(c, repo(), { bytes: Buffer.from('x') }, sha256(Buffer.from('x')), 1))).toMatchObject({ code: 'OCI_FOREIGN_LOCATION' })
    })
  })
})

describe('OCI upload resume', () => {
  describe('when the connection drops in the middle of a PATCH', () => {
    it('asks the session where it stands (Range) and sends only the rest, then closes with the digest', async () => {
      const blob = randomBytes(3 * 1024 * 1024)
      const got: Buffer[] = []
      const ranges: string[] = []
      let patches = 0
      let finalDigest = ''
      handler = (q, s) => {
        const u = new URL(q.url ?? '/', 'http://x')
        if (q.method === 'HEAD') return void s.writeHead(404).end()
        if (q.method === 'POST') return void s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u1', range: '0-0' }).end()
        const have = Buffer.concat(got).length
        if (q.method === 'GET') return void s.writeHead(204, { location: '/v2/egi/img/blobs/uploads/u1', range: `0-${have - 1}` }).end()
        if (q.method === 'PATCH') {
          ranges.push(String(q.headers['content-range']))
          const first = patches++ === 0
          let n = 0
          q.on('data', (c: Buffer) => {
            if (first && n + c.length > 1_000_000) {
              got.push(c.subarray(0, 1_000_000 - n))
              n = 1_000_000
              q.socket.destroy()
              return
            }
            n += c.length
            got.push(c)
          })
          q.on('end', () => s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u1', range: `0-${Buffer.concat(got).length - 1}` }).end())
          return
        }
        if (q.method === 'PUT') {
          finalDigest = u.searchParams.get('digest') ?? ''
          const ok = sha256(Buffer.concat(got)) === finalDigest
          return void s.writeHead(ok ? 201 : 400, ok ? { 'docker-content-digest': finalDigest } : {}).end()
        }
        s.writeHead(405).end()
      }
      const file = path.join(tmp, 'upload.bin')
      writeFileSync(file, blob)
      expect(await attempt((c) => uploadBlob(c, repo(), { file }, sha256(blob), blob.length))).toBeUndefined()
      expect(Buffer.concat(got).equals(blob)).toBe(true)
      expect(ranges).toEqual([`0-${blob.length - 1}`, `1000000-${blob.length - 1}`])
      expect(finalDigest).toBe(sha256(blob))
    })
  })

  describe('when a registry answers 413 to a whole-blob PATCH', () => {
    it('goes on in chunks from where the session stands', async () => {
      const blob = randomBytes(200_000)
      const got: Buffer[] = []
      let patches = 0
      handler = (q, s) => {
        if (q.method === 'HEAD') return void s.writeHead(404).end()
        if (q.method === 'POST') return void s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u2' }).end()
        const have = Buffer.concat(got).length
        if (q.method === 'GET') return void s.writeHead(204, { location: '/v2/egi/img/blobs/uploads/u2', range: `0-${have - 1}` }).end()
        if (q.method === 'PATCH') {
          const body: Buffer[] = []
          q.on('data', (c: Buffer) => body.push(c))
          q.on('end', () => {
            if (patches++ === 0) return void s.writeHead(413).end()
            got.push(...body)
            s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u2' }).end()
          })
          return
        }
        const ok = sha256(Buffer.concat(got)) === new URL(q.url ?? '/', 'http://x').searchParams.get('digest')
        s.writeHead(ok ? 201 : 400).end()
      }
      expect(await attempt((c) => uploadBlob(c, repo(), { bytes: blob }, sha256(blob), blob.length))).toBeUndefined()
      expect(Buffer.concat(got).equals(blob)).toBe(true)
      expect(patches).toBe(2)
    })
  })
})

describe('OCI upload resume across runs', () => {
  describe('when a run dies in the middle of a PATCH and the next run has the session file', () => {
    it('resumes the same session from the registry Range without a new POST', async () => {
      const blob = randomBytes(2 * 1024 * 1024)
      const got: Buffer[] = []
      let posts = 0
      let cut = true
      handler = (q, s) => {
        if (q.method === 'HEAD') return void s.writeHead(404).end()
        if (q.method === 'POST') return void (posts++, s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u3' }).end())
        const have = Buffer.concat(got).length
        if (q.method === 'GET') return void s.writeHead(204, { location: '/v2/egi/img/blobs/uploads/u3', range: `0-${have - 1}` }).end()
        if (q.method === 'PATCH') {
          let n = 0
          q.on('data', (c: Buffer) => {
            if (cut && n + c.length > 500_000) {
              got.push(c.subarray(0, 500_000 - n))
              cut = false
              q.socket.destroy()
              return
            }
            n += c.length
            got.push(c)
          })
          q.on('end', () => s.writeHead(202, { location: '/v2/egi/img/blobs/uploads/u3' }).end())
          return
        }
        const ok = sha256(Buffer.concat(got)) === new URL(q.url ?? '/', 'http://x').searchParams.get('digest')
        s.writeHead(ok ? 201 : 400).end()
      }
      const file = path.join(tmp, 'resume.bin')
      writeFileSync(file, blob)
      const sessions = new FileUploadSessions(path.join(tmp, 'cache', 'vmgit', 'oci-uploads.json'))
      const first = await attempt((c) => uploadBlob(c, repo(), { file }, sha256(blob), blob.length, { retries: 0, sessions }))
      expect(first).toMatchObject({ exit: 3 })
      expect(sessions.get(`${host}/egi/img@${sha256(blob)}`)).toBe('/v2/egi/img/blobs/uploads/u3')
      expect(await attempt((c) => uploadBlob(c, repo(), { file }, sha256(blob), blob.length, { sessions }))).toBeUndefined()
      expect(posts).toBe(1)
      expect(Buffer.concat(got).equals(blob)).toBe(true)
      expect(sessions.get(`${host}/egi/img@${sha256(blob)}`)).toBeUndefined()
    })
  })
})

describe('OCI client against registries that answer JSON endpoints with junk', () => {
  describe('when a tag listing or the referrers API is not a JSON object', () => {
    it.each<[string, string, (c: RegistryClient) => Promise<unknown>]>([
      ['tags', 'not json', (c: RegistryClient) => c.listTags(repo())],
      ['tags', '[1,2]', (c: RegistryClient) => c.listTags(repo())],
      ['referrers', '<html></html>', (c: RegistryClient) => c.referrers(repo(), `sha256:${'d'.repeat(64)}`)],
    ])('%s answered %j: refuses with OCI_MANIFEST_INVALID, never a crash', async (_n, body, call) => {
      handler = serve(Buffer.from(body), { 'content-type': MEDIA.index })
      expect(await attempt(call)).toMatchObject({ code: 'OCI_MANIFEST_INVALID' })
    })
  })
  describe('when the tag listing pages the same tag forever', () => {
    it('stops after a bounded number of pages (OCI_TOO_MANY_TAGS)', async () => {
      let pages = 0
      handler = (_q, s) => {
        pages++
        s.writeHead(200, { 'content-type': 'application/json', link: '</v2/egi/img/tags/list?n=1&last=a>; rel="next"' }).end('{"tags":["a"]}')
      }
      expect(await attempt((c) => c.listTags(repo()))).toMatchObject({ code: 'OCI_TOO_MANY_TAGS' })
      expect(pages).toBe(1000)
    })
  })
})

describe('OCI client against a registry whose Content-Length lies', () => {
  let raw: import('node:net').Server
  let rawHost: string
  let reply: (path: string) => string = () => 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'
  beforeAll(async () => {
    const net = await import('node:net')
    raw = net.createServer((sock) => {
      let buf = ''
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1')
        while (buf.includes('\r\n\r\n')) {
          const head = buf.slice(0, buf.indexOf('\r\n\r\n'))
          buf = buf.slice(buf.indexOf('\r\n\r\n') + 4)
          const p = head.split(' ')[1] ?? '/'
          if (p === '/v2/') sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}')
          else sock.end(reply(p))
        }
      })
      sock.on('error', () => {})
    })
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()))
    rawHost = `127.0.0.1:${(raw.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise<void>((r) => raw.close(() => r()))
  })

  async function get(reference: string): Promise<unknown> {
    const c = new RegistryClient(rawHost, { env: {} })
    try {
      return await c.getManifest({ registry: rawHost, repository: 'egi/img' }, reference)
    } catch (e) {
      return e
    } finally {
      c.close()
    }
  }

  describe('when it announces more bytes than it sends and closes', () => {
    it('fails as an interrupted transfer (exit 3), nothing accepted', async () => {
      reply = () => `HTTP/1.1 200 OK\r\ncontent-type: ${MEDIA.manifest}\r\ncontent-length: ${manifest.length + 100}\r\n\r\n${manifest.toString('latin1')}`
      expect(await get(sha256(manifest))).toMatchObject({ exit: 3 })
    })
  })
  describe('when it announces fewer bytes than the manifest has', () => {
    it('never accepts the bytes: what it announced is not the digest asked for, and the rest breaks the connection', async () => {
      reply = () => `HTTP/1.1 200 OK\r\ncontent-type: ${MEDIA.manifest}\r\ncontent-length: ${manifest.length - 5}\r\n\r\n${manifest.toString('latin1')}`
      const e = (await get(sha256(manifest))) as { code?: string }
      expect(['OCI_DIGEST_MISMATCH', 'DOWNLOAD_INTERRUPTED']).toContain(e.code)
    })
  })
})

describe('OCI client against a referrers API that answers without end', () => {
  it('stops at the 4 MiB cap (RESPONSE_TOO_LARGE), never reading it whole', async () => {
    handler = serve64MiB(MEDIA.index)
    expect(await attempt((c) => c.referrers(repo(), `sha256:${'d'.repeat(64)}`))).toMatchObject({ code: 'RESPONSE_TOO_LARGE' })
  })
})
