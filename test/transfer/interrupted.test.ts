/**
 * Atomic replace under failure: when the connection dies or the server stops mid-upload, the
 * previously published file is still there, whole (temp name + rename/MOVE; S3 multipart never
 * completes). The publish pipeline's "old list stays intact" rests on this.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openTransfer, type Transfer } from '../../src/transfer/index.js'
import { DAV_EXT_MODULE, NGINX, needs, S3RVER, SSHD, startNginxDav, startS3rver, startSshd } from '../helpers/servers.js'

const local = mkdtempSync(path.join(os.tmpdir(), 'vmgit-interrupt-'))
const big = path.join(local, 'big.img')
writeFileSync(big, randomBytes(48 << 20))
afterAll(() => rmSync(local, { recursive: true, force: true }))

/** Start a put of `big` and call `cut` once 4 MiB have been sent; the put must fail. */
async function interrupted(t: Transfer, remote: string, cut: () => void | Promise<void>): Promise<void> {
  let done = false
  const err = await t
    .put(big, remote, {
      onProgress: (sent) => {
        if (!done && sent > 4 << 20) {
          done = true
          void cut()
        }
      },
    })
    .then(() => undefined, (e: unknown) => e)
  expect(done).toBe(true)
  expect(err).toMatchObject({ code: expect.stringMatching(/^TRANSFER_/) })
}

describe('an upload cut off part-way leaves the previous file in place', () => {
  const sshd = needs(SSHD)
  it.skipIf(sshd.skip)(`sftp: the connection drops${sshd.reason ? ` (${sshd.reason})` : ''}`, async () => {
    const s = await startSshd()
    try {
      const t = await openTransfer(`sftp://${s.user}@127.0.0.1:${s.port}/`, { identity: s.clientKey, knownHosts: s.knownHosts })
      await t.put(Buffer.from('list v1'), `${s.root}/lists/prod.list`)
      // the network goes away: destroy the TCP socket under the ssh session
      await interrupted(t, `${s.root}/lists/prod.list`, () => (t as unknown as { client: { client: { _sock: { destroy(): void } } } }).client.client._sock.destroy())
      await t.close()
      expect(readFileSync(path.join(s.root, 'lists/prod.list'), 'utf8')).toBe('list v1')
    } finally {
      await s.stop()
    }
  })

  const dav = needs(NGINX, DAV_EXT_MODULE)
  it.skipIf(dav.skip)(`WebDAV: nginx is stopped${dav.reason ? ` (${dav.reason})` : ''}`, async () => {
    const n = await startNginxDav()
    try {
      const t = await openTransfer(n.url)
      await t.put(Buffer.from('list v1'), '/lists/prod.list')
      await interrupted(t, '/lists/prod.list', () => n.stop({ keep: true }))
      await t.close()
      expect(readFileSync(path.join(n.root, 'lists/prod.list'), 'utf8')).toBe('list v1')
    } finally {
      await n.stop()
    }
  })

  const s3 = needs(S3RVER)
  it.skipIf(s3.skip)(`s3 (multipart): s3rver is stopped${s3.reason ? ` (${s3.reason})` : ''}`, async () => {
    let s = await startS3rver()
    const opts = { endpoint: s.endpoint, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, multipartThreshold: 8 << 20, partSize: 5 << 20 }
    try {
      const t = await openTransfer(`s3://${s.bucket}/`, opts)
      await t.put(Buffer.from('list v1'), '/lists/prod.list')
      await interrupted(t, '/lists/prod.list', () => s.stop({ keep: true }))
      await t.close()
      s = await startS3rver(s.bucket, { dir: s.dir, port: s.port })
      const again = await openTransfer(`s3://${s.bucket}/`, opts)
      expect((await again.get('/lists/prod.list')).toString()).toBe('list v1')
      await again.close()
    } finally {
      await s.stop()
    }
  })
})
