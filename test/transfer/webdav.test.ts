/** WebDAV backend against real nginx + dav-ext: auth modes, collections, secrets kept out of errors. */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTransfer, Secret, type Transfer } from '../../src/transfer/index.js'
import { DAV_EXT_MODULE, NGINX, needs, startNginxDav, type NginxDav } from '../helpers/servers.js'

const need = needs(NGINX, DAV_EXT_MODULE)

describe.skipIf(need.skip)(`WebDAV transfer${need.reason ? ` (${need.reason})` : ''}`, () => {
  const servers: NginxDav[] = []
  const opened: Transfer[] = []
  const start = async (auth: NginxDav['auth']) => {
    const n = await startNginxDav({ auth })
    servers.push(n)
    return n
  }
  const open = async (...a: Parameters<typeof openTransfer>) => {
    const t = await openTransfer(...a)
    opened.push(t)
    return t
  }
  afterAll(async () => {
    for (const t of opened) await t.close()
    for (const s of servers) await s.stop()
  })

  describe('without authentication', () => {
    let n: NginxDav
    beforeAll(async () => (n = await start('none')))

    it('makes every missing collection (MKCOL, parents first) before the PUT', async () => {
      const t = await open(n.url)
      await t.put(Buffer.from('deep'), '/repos/prod/vmcaster/images/a.img')
      expect(readFileSync(path.join(n.root, 'repos/prod/vmcaster/images/a.img'), 'utf8')).toBe('deep')
      expect(readdirSync(path.join(n.root, 'repos/prod/vmcaster/images'))).toEqual(['a.img'])
    })

    it('replaces an existing file via MOVE with Overwrite: T', async () => {
      const t = await open(n.url)
      await t.put(Buffer.from('v1'), '/lists/list.smime')
      await t.put(Buffer.from('version 2'), '/lists/list.smime')
      expect(await t.get('/lists/list.smime')).toEqual(Buffer.from('version 2'))
      expect(await t.stat('/lists/list.smime')).toMatchObject({ size: 9 })
      expect(readdirSync(path.join(n.root, 'lists'))).toEqual(['list.smime'])
    })
  })

  describe('basic auth', () => {
    let n: NginxDav
    beforeAll(async () => (n = await start('basic')))

    it('authenticates with the user and password from the options', async () => {
      const t = await open(n.url, { username: n.username, password: new Secret(n.password) })
      await t.put(Buffer.from('basic'), '/b/x.txt')
      expect(await t.get('/b/x.txt')).toEqual(Buffer.from('basic'))
    })

    it('authenticates with user:password in the URL, which never shows in location or errors', async () => {
      const t = await open(`http://${n.username}:${n.password}@127.0.0.1:${n.port}/`)
      expect(t.location).not.toContain(n.password)
      await t.put(Buffer.from('url'), '/b/y.txt')
      const err = await t.get('/b/missing').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_NOT_FOUND' })
      expect(String((err as Error).message)).not.toContain(n.password)
    })

    it('fails with TRANSFER_AUTH_FAILED on a wrong password, without echoing it', async () => {
      const t = await open(n.url, { username: n.username, password: 'not-the-password' })
      const err = await t.put(Buffer.from('x'), '/b/z/z.txt').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_AUTH_FAILED', exit: 3 })
      expect((err as Error).message).not.toContain('not-the-password')
    })
  })

  describe('bearer token', () => {
    let n: NginxDav
    beforeAll(async () => (n = await start('bearer')))

    it('sends Authorization: Bearer and uploads a streamed file', async () => {
      const t = await open(n.url, { token: new Secret(n.token) })
      const seen: number[] = []
      await t.put(path.join(import.meta.dirname, 'webdav.test.ts'), '/t/self.ts', { onProgress: (s) => seen.push(s) })
      expect(readFileSync(path.join(n.root, 't/self.ts'))).toEqual(readFileSync(path.join(import.meta.dirname, 'webdav.test.ts')))
      expect(seen.length).toBeGreaterThan(0)
    })

    it('a refused token fails before the body is sent, with the token masked', async () => {
      const token = 'tok-wrong-0000000000'
      const t = await open(n.url, { token })
      const err = await t.put(Buffer.alloc(1 << 20), '/t/big.bin').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_AUTH_FAILED' })
      expect((err as Error).message).not.toContain(token)
    })
  })

  describe('X.509 client certificate over https (dCache style)', () => {
    let n: NginxDav
    beforeAll(async () => (n = await start('x509')))

    it('uploads with the client certificate and the test CA trusted', async () => {
      const t = await open(n.url, { clientCert: n.clientCert!, clientKey: n.clientKey!, ca: n.ca! })
      await t.put(Buffer.from('x509'), '/pnfs/vm/list.smime')
      expect(readFileSync(path.join(n.root, 'pnfs/vm/list.smime'), 'utf8')).toBe('x509')
    })

    it('without a client certificate the server refuses with TRANSFER_AUTH_FAILED', async () => {
      const t = await open(n.url, { ca: n.ca! })
      const err = await t.put(Buffer.from('x'), '/pnfs/x').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_AUTH_FAILED' })
      expect((err as Error).message).toContain('client certificate')
    })

    it('without trusting the server CA the TLS handshake fails with a hint', async () => {
      const t = await open(n.url, { clientCert: n.clientCert!, clientKey: n.clientKey! })
      const err = await t.stat('/pnfs/vm/list.smime').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_CONNECT_FAILED' })
      expect((err as Error).message).toMatch(/TLS/)
    })

    it('an unreadable client certificate is a configuration error', async () => {
      await expect(openTransfer(n.url, { clientCert: '/nonexistent.pem' })).rejects.toMatchObject({ code: 'TRANSFER_CONFIG', exit: 2 })
    })
  })
})
