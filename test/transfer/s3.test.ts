/** s3 backend against a real s3rver: multipart, credentials, errors without secrets. */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTransfer, Secret, verifyRemote, type Transfer } from '../../src/transfer/index.js'
import { hashFile } from '../../src/util/hash.js'
import { needs, S3RVER, startS3rver, type S3 } from '../helpers/servers.js'

const need = needs(S3RVER)

describe.skipIf(need.skip)(`s3 transfer${need.reason ? ` (${need.reason})` : ''}`, () => {
  let s: S3
  let dir = ''
  const opened: Transfer[] = []
  const open = async (url: string, o: Parameters<typeof openTransfer>[1] = {}) => {
    const t = await openTransfer(url, { endpoint: s.endpoint, accessKeyId: s.accessKeyId, secretAccessKey: new Secret(s.secretAccessKey), ...o })
    opened.push(t)
    return t
  }
  beforeAll(async () => {
    s = await startS3rver()
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-s3t-'))
  })
  afterAll(async () => {
    for (const t of opened) await t.close()
    await s?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('a file above the multipart threshold', () => {
    it('goes up in parts that S3 joins into one object with the same sha512', async () => {
      const file = path.join(dir, 'big.img')
      writeFileSync(file, randomBytes(23 << 20))
      const t = await open(`s3://${s.bucket}/`, { multipartThreshold: 8 << 20, partSize: 5 << 20 })
      const progress: number[] = []
      const r = await t.put(file, '/images/big.img', { onProgress: (n) => progress.push(n) })
      expect(r.size).toBe(23 << 20)
      expect(progress.at(-1)).toBe(23 << 20)
      const d = await hashFile(file)
      expect(await verifyRemote(t, '/images/big.img', d)).toEqual(d)
    })
  })

  describe('credentials', () => {
    // s3rver checks the access key id but not v4 signatures, so the refusal comes from the key id
    it('unknown credentials fail with TRANSFER_AUTH_FAILED and the secret is masked', async () => {
      const secret = 'definitely-not-the-secret'
      const t = await open(`s3://${s.bucket}/`, { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: secret })
      const err = await t.put(Buffer.from('x'), '/x').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_AUTH_FAILED', exit: 3 })
      expect(JSON.stringify(err) + (err as Error).message).not.toContain(secret)
    })

    it('takes the credentials from AWS_* environment variables when none are configured', async () => {
      const saved = { ...process.env }
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey })
      try {
        const t = await openTransfer(`s3://${s.bucket}/`, { endpoint: s.endpoint })
        opened.push(t)
        await t.put(Buffer.from('env'), '/env.txt')
        expect(await t.get('/env.txt')).toEqual(Buffer.from('env'))
      } finally {
        process.env = saved
      }
    })
  })

  describe('a missing bucket', () => {
    it('fails with a hint to create it', async () => {
      const t = await open('s3://no-such-bucket/')
      const err = await t.put(Buffer.from('x'), '/x').catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRANSFER_FAILED' })
      expect((err as Error).message).toMatch(/bucket does not exist/)
    })
  })

  describe('keys', () => {
    it('maps the URL path to the object key, decoding %-escapes', async () => {
      const t = await open(`s3://${s.bucket}/`)
      await t.put(Buffer.from('sp'), '/dir/with%20space.txt')
      expect(await t.stat('/dir/with%20space.txt')).toMatchObject({ size: 2 })
    })
  })
})

describe('a request S3 asks to repeat (a 5xx answer: the SDK retries it through src/net)', () => {
  let server: http.Server
  let endpoint = ''
  const puts: number[] = []
  /** answers 500 InternalError to the first `failures` PUTs, then 200 */
  let failures = Infinity
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let n = 0
      req.on('data', (c: Buffer) => (n += c.length))
      req.on('end', () => {
        if (req.method === 'PUT') puts.push(n)
        if (req.method === 'PUT' && puts.length <= failures) {
          res.writeHead(500, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>try again</Message></Error>')
        } else res.writeHead(200, { etag: '"x"' }).end()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  const open = () => openTransfer('s3://b/', { endpoint, forcePathStyle: true, accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'not-a-secret', region: 'us-east-1' })

  it('sends a byte body again, and the retry succeeds', async () => {
    puts.splice(0)
    failures = 1
    const t = await open()
    await t.put(Buffer.from('hello'), '/a')
    await t.close()
    expect(puts).toEqual([5, 5])
  })

  // the SDK does not repeat a streamed body; the handler also refuses to re-send a stream (sdk-handler.ts)
  it('fails a file body (a stream sent once) at once with the server\'s error, never re-sending it empty', async () => {
    puts.splice(0)
    failures = Infinity
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-s3r-'))
    try {
      const file = path.join(dir, 'f.img')
      writeFileSync(file, randomBytes(1000))
      const t = await open()
      const started = Date.now()
      const err = await t.put(file, '/f.img').catch((e: unknown) => e)
      await t.close()
      expect(err).toMatchObject({ code: 'TRANSFER_FAILED', exit: 3 })
      expect((err as Error).message).toContain('InternalError')
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(puts).toEqual([1000])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
