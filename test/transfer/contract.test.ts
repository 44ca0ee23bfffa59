/**
 * The Transfer contract, checked against every backend on a real server:
 * file (local dir), sftp (openssh sshd), WebDAV (nginx dav-ext), s3 (s3rver).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTransfer, parseTarget, verifyRemote, type Transfer } from '../../src/transfer/index.js'
import { DAV_EXT_MODULE, NGINX, needs, S3RVER, SSHD, startNginxDav, startS3rver, startSshd, type RunningServer } from '../helpers/servers.js'

interface Backend {
  name: string
  need: { skip: boolean; reason: string }
  /** start the server; returns the base target URL (a directory) and how to open it */
  start(): Promise<{ base: string; server?: RunningServer; open(): Promise<Transfer>; listDir?(rel: string): string[] }>
}

const local = mkdtempSync(path.join(os.tmpdir(), 'vmgit-contract-'))
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex')

const backends: Backend[] = [
  {
    name: 'file://',
    need: { skip: false, reason: '' },
    async start() {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-file-'))
      const server = { port: 0, pid: process.pid, dir, stop: async () => rmSync(dir, { recursive: true, force: true }) }
      return { base: `file://${dir}`, server, open: () => openTransfer(`file://${dir}`), listDir: (rel) => readdirSync(path.join(dir, rel)) }
    },
  },
  {
    name: 'sftp:// (openssh sshd)',
    need: needs(SSHD),
    async start() {
      const s = await startSshd()
      const base = `sftp://${s.user}@127.0.0.1:${s.port}${s.root}`
      return { base, server: s, open: () => openTransfer(base, { identity: s.clientKey, knownHosts: s.knownHosts }), listDir: (rel) => readdirSync(path.join(s.root, rel)) }
    },
  },
  {
    name: 'https:// WebDAV (nginx dav-ext, X.509 client certificate)',
    need: needs(NGINX, DAV_EXT_MODULE),
    async start() {
      const n = await startNginxDav({ auth: 'x509' })
      const base = `${n.url}/repo`
      return { base, server: n, open: () => openTransfer(base, { clientCert: n.clientCert!, clientKey: n.clientKey!, ca: n.ca! }), listDir: (rel) => readdirSync(path.join(n.root, 'repo', rel)) }
    },
  },
  {
    name: 's3:// (s3rver)',
    need: needs(S3RVER),
    async start() {
      const s = await startS3rver()
      const base = `s3://${s.bucket}/prefix`
      const opts = { endpoint: s.endpoint, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, multipartThreshold: 6 << 20, partSize: 5 << 20 }
      return { base, server: s, open: () => openTransfer(base, opts) }
    },
  },
]

describe.each(backends)('Transfer contract: $name', (b) => {
  let base = ''
  let server: RunningServer | undefined
  let t: Transfer
  let listDir: ((rel: string) => string[]) | undefined
  let opened: () => Promise<Transfer>
  const p = (rel: string) => parseTarget(`${base}/${rel}`).path

  beforeAll(async () => {
    if (b.need.skip) return
    const s = await b.start()
    base = s.base
    server = s.server
    listDir = s.listDir
    opened = s.open
    t = await s.open()
  })
  afterAll(async () => {
    await t?.close()
    await server?.stop()
  })

  describe.skipIf(b.need.skip)(b.need.reason || 'with the server running', () => {
    it('put creates missing directories and stores the exact bytes, reporting progress', async () => {
      const data = randomBytes(300_000)
      const seen: number[] = []
      const r = await t.put(data, p('a/b/c/list.smime'), { onProgress: (sent) => seen.push(sent) })
      expect(r.size).toBe(data.length)
      expect(seen.at(-1)).toBe(data.length)
      expect((await t.get(p('a/b/c/list.smime'))).equals(data)).toBe(true)
      expect(await t.stat(p('a/b/c/list.smime'))).toMatchObject({ size: data.length })
    })

    it('put of a local file streams it and replaces the old content, leaving no temp file', async () => {
      const file = path.join(local, `img-${b.name.length}.qcow2`)
      const big = randomBytes(13 << 20) // > the s3 multipart threshold in this test
      writeFileSync(file, big)
      await t.put(Buffer.from('old'), p('images/img.qcow2'))
      let last = 0
      await t.put(file, p('images/img.qcow2'), { onProgress: (sent, total) => ((last = sent), expect(total).toBe(big.length)) })
      expect(last).toBe(big.length)
      const back = await verifyRemote(t, p('images/img.qcow2'), { size: big.length, sha512: sha512(big) })
      expect(back).toMatchObject({ size: big.length, sha512: sha512(big) })
      if (listDir) expect(listDir('images')).toEqual(['img.qcow2'])
    })

    it('a failed put leaves the previous file in place', async () => {
      await t.put(Buffer.from('published v1'), p('keep/list.smime'))
      await expect(t.put(path.join(local, 'does-not-exist'), p('keep/list.smime'))).rejects.toThrow()
      expect((await t.get(p('keep/list.smime'))).toString()).toBe('published v1')
    })

    it('stat of a missing file is undefined and get fails with TRANSFER_NOT_FOUND', async () => {
      expect(await t.stat(p('nope/missing.txt'))).toBeUndefined()
      await expect(t.get(p('missing.txt'))).rejects.toMatchObject({ code: 'TRANSFER_NOT_FOUND' })
    })

    it('list gives the files of a directory with size and mtime, hidden ones where the server shows them, and [] for a missing one (issue 15: stale temps, pruning)', async () => {
      await t.put(Buffer.from('12345'), p('ls/a.qcow2'))
      await t.put(Buffer.from('x'), p('ls/sub/deeper.txt'))
      await t.put(Buffer.from('tmp'), p('ls/.a.qcow2.vmgit-0123456789ab.tmp'))
      const entries = await t.list(p('ls'))
      const names = entries.map((e) => e.name).sort()
      // sub-directories are not files; dot files only where the listing can show them (nginx hides them)
      expect(names).toEqual(t.listsDotFiles ? ['.a.qcow2.vmgit-0123456789ab.tmp', 'a.qcow2'] : ['a.qcow2'])
      const a = entries.find((e) => e.name === 'a.qcow2')!
      expect(a.size).toBe(5)
      expect(Math.abs(a.mtime!.getTime() - Date.now())).toBeLessThan(10 * 60_000)
      expect(await t.list(p('no-such-dir'))).toEqual([])
    })

    it('delete removes a file and reports false for a missing one', async () => {
      await t.put(Buffer.from('x'), p('del/x.txt'))
      expect(await t.delete(p('del/x.txt'))).toBe(true)
      expect(await t.stat(p('del/x.txt'))).toBeUndefined()
      expect(await t.delete(p('del/x.txt'))).toBe(false)
    })

    it('a file read to its end and the transfer closed at once leave nothing in flight (no late error)', async () => {
      const data = randomBytes(3 << 20)
      await t.put(data, p('late/f.bin'))
      for (let i = 0; i < 8; i++) {
        const u = await opened()
        expect(await verifyRemote(u, p('late/f.bin'), { size: data.length, sha512: sha512(data) })).toMatchObject({ size: data.length })
        await u.close()
      }
      await new Promise((r) => setTimeout(r, 200))
    })

    it('verifyRemote refuses a size or sha512 that differs with TRANSFER_VERIFY_FAILED', async () => {
      await t.put(Buffer.from('content'), p('v/f.txt'))
      await expect(verifyRemote(t, p('v/f.txt'), { size: 8 })).rejects.toMatchObject({ code: 'TRANSFER_VERIFY_FAILED' })
      await expect(verifyRemote(t, p('v/f.txt'), { size: 7, sha512: sha512(Buffer.from('other!!')) })).rejects.toMatchObject({ code: 'TRANSFER_VERIFY_FAILED', exit: 3 })
    })
  })
})

afterAll(() => rmSync(local, { recursive: true, force: true }))
