import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_REDIRECTS, readSource } from '../../src/net/source.js'

let server: http.Server
let base: string
const BODY = Buffer.from('{"hv:imagelist": {}}')

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const hop = /^\/hop\/(\d+)$/.exec(url.pathname)
    if (hop) {
      const n = Number(hop[1])
      res.writeHead(302, { location: n === 0 ? '/list' : `/hop/${n - 1}` }).end()
    } else if (url.pathname === '/list') res.writeHead(200, { 'content-type': 'application/json' }).end(BODY)
    else if (url.pathname === '/big') {
      res.writeHead(200) // no content-length: the cap must hold while streaming
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      const pump = (): void => {
        while (sent < 1024 * 1024) {
          sent += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      res.on('error', () => {}) // the client hangs up at the cap
      pump()
    } else if (url.pathname === '/silent') {
      /* never answers: the idle timeout must fire */
    } else res.writeHead(404).end('no')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

describe('readSource', () => {
  describe('from an http URL', () => {
    it('returns the body', async () => {
      expect(await readSource(`${base}/list`)).toEqual(BODY)
    })
    it(`follows up to ${MAX_REDIRECTS} redirects`, async () => {
      expect(await readSource(`${base}/hop/${MAX_REDIRECTS - 1}`)).toEqual(BODY)
    })
    it('gives up after that with TOO_MANY_REDIRECTS', async () => {
      await expect(readSource(`${base}/hop/${MAX_REDIRECTS}`)).rejects.toMatchObject({ code: 'TOO_MANY_REDIRECTS', exit: 3 })
    })
    it('fails with HTTP_STATUS on an HTTP error status', async () => {
      await expect(readSource(`${base}/missing`)).rejects.toMatchObject({ code: 'HTTP_STATUS', exit: 3 })
    })
    it('stops reading at the size cap with LIST_TOO_LARGE', async () => {
      await expect(readSource(`${base}/big`, { maxBytes: 100_000 })).rejects.toMatchObject({ code: 'LIST_TOO_LARGE' })
    })
    it('fails with FETCH_IDLE_TIMEOUT when the server stays silent', async () => {
      await expect(readSource(`${base}/silent`, { idleTimeoutMs: 200 })).rejects.toMatchObject({ code: 'FETCH_IDLE_TIMEOUT', exit: 3 })
    })
    it('fails with FETCH_CONNECTION_REFUSED when nothing listens', async () => {
      await expect(readSource('http://127.0.0.1:1/x')).rejects.toMatchObject({ code: 'FETCH_CONNECTION_REFUSED', exit: 3 })
    })
  })

  describe('from a path', () => {
    it('refuses other URL schemes', async () => {
      await expect(readSource('ftp://example.org/list')).rejects.toMatchObject({ code: 'UNSUPPORTED_SOURCE', exit: 2 })
    })
    it('refuses a file over the cap without reading it', async () => {
      await expect(readSource(process.execPath, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'LIST_TOO_LARGE' })
    })
  })
})
