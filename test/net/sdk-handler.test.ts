/**
 * The AWS SDK request handler over src/net (issue 14): the URL it builds is the one the SDK signed,
 * and a streamed body is never sent twice. Real HTTP on 127.0.0.1.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, Fetcher } from '../../src/net/http.js'
import { requestUrl, SdkHttpHandler } from '../../src/net/sdk-handler.js'

const req = (o: Partial<Parameters<typeof requestUrl>[0]>): Parameters<typeof requestUrl>[0] =>
  ({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', path: '/', headers: {}, query: {}, ...o }) as Parameters<typeof requestUrl>[0]

describe('SdkHttpHandler', () => {
  describe('the request URL', () => {
    it('escapes query values as SigV4 signs them (RFC 3986: !\'()* too), keeps list values and bare keys', () => {
      const u = requestUrl(req({ port: 9000, path: '/b/k%20ey', query: { prefix: "a b/!'()*", 'list-type': '2', uploads: null, tag: ['x', 'y'] } }))
      expect(u.href).toBe("http://127.0.0.1:9000/b/k%20ey?prefix=a%20b%2F%21%27%28%29%2A&list-type=2&uploads&tag=x&tag=y")
    })
    it('brackets an IPv6 host', () => {
      expect(requestUrl(req({ hostname: '::1', port: 9000 })).host).toBe('[::1]:9000')
    })
    it('refuses a key with "." or ".." segments (URL parsing would reach another key than the one signed) with TRANSFER_URL_INVALID', () => {
      for (const path of ['/b/a/../etc', '/b/./k', '/b/%2e%2e/k']) {
        expect(() => requestUrl(req({ path })), path).toThrow(expect.objectContaining({ code: 'TRANSFER_URL_INVALID', exit: 2 }))
      }
    })
  })

  describe('a streamed body', () => {
    let server: http.Server
    let port = 0
    const bodies: string[] = []
    beforeAll(async () => {
      server = http.createServer((r, res) => {
        let b = ''
        r.on('data', (c: Buffer) => (b += c.toString()))
        r.on('end', () => {
          bodies.push(b)
          res.writeHead(500).end()
        })
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      port = (server.address() as AddressInfo).port
    })
    afterAll(async () => {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    })

    it('is sent once; handing the same stream again fails at once (RequestBodyConsumed) instead of sending it empty', async () => {
      const h = new SdkHttpHandler(new Fetcher(), { ...DEFAULT_LIMITS, maxRedirects: 0 })
      const body = Readable.from([Buffer.from('hello')])
      const r = req({ method: 'PUT', port, path: '/b/k', headers: { 'content-length': '5' }, body })
      const { response } = await h.handle(r)
      expect(response.statusCode).toBe(500)
      ;(response.body as Readable).resume()
      await expect(h.handle(r)).rejects.toMatchObject({ name: 'RequestBodyConsumed' })
      h.destroy()
      expect(bodies).toEqual(['hello'])
    })
  })
})
