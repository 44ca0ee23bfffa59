/**
 * O12 the upload sessions file (src/oci/sessions.ts, `~/.cache/vmgit/oci-uploads.json`) steers
 * where a resumed publish sends image bytes: a Location planted there (by another user, through a
 * symlink, or by a registry answer on another origin) must never receive bytes or credentials, and
 * the file is never written through a link.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RegistryClient, sha256 } from '../../src/oci/client.js'
import { uploadBlob } from '../../src/oci/push.js'
import { FileUploadSessions } from '../../src/oci/sessions.js'
import { isRoot } from '../helpers/users.js'

interface Seen { method: string; url: string; authorization?: string; bytes: number }

/** A registry of the test's own that takes uploads (POST, PATCH, PUT) and records every request. */
async function server(name: string): Promise<{ origin: string; host: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const got = new Map<string, Buffer[]>()
  const s = http.createServer((q, r) => {
    const chunks: Buffer[] = []
    q.on('data', (c: Buffer) => chunks.push(c))
    q.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({ method: q.method ?? 'GET', url: q.url ?? '/', bytes: body.length, ...(q.headers.authorization ? { authorization: q.headers.authorization } : {}) })
      if (q.url === '/v2/') return void r.writeHead(401, { 'www-authenticate': `Basic realm="${name}"` }).end()
      if (!q.headers.authorization) return void r.writeHead(401, { 'www-authenticate': `Basic realm="${name}"` }).end()
      const u = new URL(q.url ?? '/', 'http://x')
      if (q.method === 'HEAD') return void r.writeHead(404).end()
      if (q.method === 'POST') {
        const id = randomBytes(4).toString('hex')
        got.set(id, [])
        return void r.writeHead(202, { location: `/v2/egi/img/blobs/uploads/${id}` }).end()
      }
      const id = u.pathname.split('/').pop()!
      if (q.method === 'GET') return void (got.has(id) ? r.writeHead(204, { location: u.pathname, range: `0-${Buffer.concat(got.get(id)!).length - 1}` }).end() : r.writeHead(404).end())
      if (q.method === 'PATCH') {
        got.get(id)?.push(body)
        return void r.writeHead(got.has(id) ? 202 : 404, { location: u.pathname }).end()
      }
      if (q.method === 'PUT') {
        const ok = got.has(id) && sha256(Buffer.concat(got.get(id)!)) === u.searchParams.get('digest')
        return void r.writeHead(ok ? 201 : 400).end()
      }
      r.writeHead(405).end()
    })
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const host = `127.0.0.1:${(s.address() as AddressInfo).port}`
  return {
    origin: `http://${host}`, host, seen,
    close: async () => {
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    },
  }
}

describe('O12 upload sessions a publish resumes', () => {
  let reg: Awaited<ReturnType<typeof server>>
  let thief: Awaited<ReturnType<typeof server>>
  let tmp: string
  const env = { VMGIT_REGISTRY_USERNAME: 'endorser', VMGIT_REGISTRY_PASSWORD: 'pw-secret-o12' }
  const blob = randomBytes(70_000)
  const digest = sha256(blob)
  beforeAll(async () => {
    reg = await server('registry')
    thief = await server('thief')
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-o12-'))
  })
  afterAll(async () => {
    await reg?.close()
    await thief?.close()
    rmSync(tmp, { recursive: true, force: true })
  })
  afterEach(() => {
    reg.seen.length = 0
    thief.seen.length = 0
  })

  const key = (): string => `${reg.host}/egi/img@${digest}`
  /** A fresh cache dir (0700, as vmgit makes it) holding the sessions file. */
  const cacheDir = (): string => {
    const d = path.join(mkdtempSync(path.join(tmp, 'cache-')), 'vmgit')
    mkdirSync(d, { mode: 0o700 })
    return d
  }
  async function publish(sessions: FileUploadSessions): Promise<void> {
    const c = new RegistryClient(reg.host, { env })
    try {
      expect(await uploadBlob(c, { registry: reg.host, repository: 'egi/img' }, { bytes: blob }, digest, blob.length, { sessions })).toBe(true)
    } finally {
      c.close()
    }
  }
  /** The upload went to the registry as a new session: a POST, the bytes once, and nothing to any other place. */
  function freshUploadOnly(): void {
    expect(thief.seen).toEqual([])
    expect(reg.seen.filter((s) => s.method === 'POST')).toHaveLength(1)
    expect(reg.seen.filter((s) => (s.method === 'PATCH' || s.method === 'GET') && s.url !== '/v2/').every((s) => s.url.startsWith('/v2/egi/img/blobs/uploads/'))).toBe(true)
  }

  describe.each([
    ['another origin', () => `${thief.origin}/v2/egi/img/blobs/uploads/stolen`],
    ['another origin, scheme-relative', () => `//${thief.host}/v2/egi/img/blobs/uploads/stolen`],
    ['another repository on the registry', () => '/v2/public/dump/blobs/uploads/abc'],
    ['a path that climbs out of the repository', () => '/v2/egi/img/blobs/uploads/../../../../public/dump/blobs/uploads/abc'],
    ['an escaped climb', () => '/v2/egi/img/blobs/uploads/%2e%2e/%2e%2e/x'],
    ['user info', () => `http://u:p@${reg.host}/v2/egi/img/blobs/uploads/abc`],
  ])('when the sessions file names a Location on %s', (_n, loc) => {
    it('never asks it (no bytes, no credentials) and starts a new session at the registry', async () => {
      const dir = cacheDir()
      writeFileSync(path.join(dir, 'oci-uploads.json'), JSON.stringify({ [key()]: loc() }), { mode: 0o600 })
      await publish(new FileUploadSessions(path.join(dir, 'oci-uploads.json')))
      freshUploadOnly()
      expect(reg.seen.filter((s) => !s.url.startsWith('/v2/egi/img/') && s.url !== '/v2/')).toEqual([])
    })
  })

  describe.each([
    ['a symlink to a file the attacker wrote', (dir: string, body: string) => {
      const planted = path.join(tmp, `planted-${randomBytes(3).toString('hex')}.json`)
      writeFileSync(planted, body, { mode: 0o600 })
      symlinkSync(planted, path.join(dir, 'oci-uploads.json'))
    }],
    ['a file others may write', (dir: string, body: string) => {
      writeFileSync(path.join(dir, 'oci-uploads.json'), body)
      chmodSync(path.join(dir, 'oci-uploads.json'), 0o666)
    }],
    ['a directory others may write', (dir: string, body: string) => {
      writeFileSync(path.join(dir, 'oci-uploads.json'), body, { mode: 0o600 })
      chmodSync(dir, 0o777)
    }],
    ...(isRoot() ? [['a file another user owns', (dir: string, body: string) => {
      writeFileSync(path.join(dir, 'oci-uploads.json'), body, { mode: 0o600 })
      chownSync(path.join(dir, 'oci-uploads.json'), 65534, 65534)
    }] as const] : []),
  ] as [string, (dir: string, body: string) => void][])('when the sessions file is %s', (_n, plant) => {
    it('does not believe it, even for a Location on the registry itself', async () => {
      // a session the attacker opened on the same registry: resuming it would finish the attacker's upload with our bytes
      const dir = cacheDir()
      plant(dir, JSON.stringify({ [key()]: '/v2/egi/img/blobs/uploads/planted' }))
      await publish(new FileUploadSessions(path.join(dir, 'oci-uploads.json')))
      freshUploadOnly()
      expect(reg.seen.filter((s) => s.url.includes('planted'))).toEqual([])
    })
  })

  describe('when a symlink is planted where the sessions file or its temp file is written', () => {
    it('replaces the link, never writes through it', async () => {
      const dir = cacheDir()
      const victim = path.join(tmp, `victim-${randomBytes(3).toString('hex')}`)
      writeFileSync(victim, 'precious\n', { mode: 0o600 })
      symlinkSync(victim, path.join(dir, 'oci-uploads.json'))
      for (let pid = process.pid - 2; pid <= process.pid + 2; pid++) symlinkSync(victim, path.join(dir, `oci-uploads.json.${pid}.tmp`))
      const s = new FileUploadSessions(path.join(dir, 'oci-uploads.json'))
      s.set(key(), '/v2/egi/img/blobs/uploads/mine')
      expect(readFileSync(victim, 'utf8')).toBe('precious\n')
      expect(s.get(key())).toBe('/v2/egi/img/blobs/uploads/mine')
      expect(existsSync(victim)).toBe(true)
    })
  })

  describe('when the file is this user\'s own and names the registry\'s session for this repository', () => {
    it('resumes it (the rule refuses only what it must)', async () => {
      const dir = cacheDir()
      const s = new FileUploadSessions(path.join(dir, 'oci-uploads.json'))
      // a session the registry opened, holding nothing yet
      const c = new RegistryClient(reg.host, { env })
      const post = await c.request('egi/img', 'blobs/uploads/', { method: 'POST', actions: 'pull,push' })
      post.close()
      c.close()
      s.set(key(), String(post.headers.location))
      reg.seen.length = 0
      await publish(s)
      expect(reg.seen.filter((x) => x.method === 'POST')).toEqual([])
      expect(thief.seen).toEqual([])
      expect(s.get(key())).toBeUndefined()
    })
  })
})
