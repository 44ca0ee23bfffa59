import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'
import { needs, NGINX, SSHD, DAV_EXT_MODULE, startNginxDav, startS3rver, startSshd, type RunningServer } from '../helpers/servers.js'
import { openTransfer } from '../../src/transfer/index.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

/**
 * `vmgit publish` end to end against each real backend: images then the signed list land,
 * the list verifies with openssl and vmgit, a second run uploads nothing, and a failure
 * part-way (server stopped) leaves the previously published list in place.
 */

let pki: Pki
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-publish-'))
beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface Backend {
  /** vmgit.yaml targets for the public base */
  targets(publicBase: string): Record<string, unknown>[]
  publicBase: string
  env: Record<string, string>
  /** read what was published at a path below the base */
  read(rel: string): Promise<Buffer | undefined>
  /** make the next transfer fail */
  breakIt(): Promise<void>
  stop(): Promise<void>
}

function staticServer(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    if (!file.startsWith(root) || !existsSync(file)) return res.writeHead(404).end()
    res.writeHead(200).end(readFileSync(file))
  })
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)))
}

const BACKENDS: Record<string, { skip: { skip: boolean; reason: string }; start: () => Promise<Backend> }> = {
  'file://': {
    skip: { skip: false, reason: '' },
    start: async () => {
      const pub = mkdtempSync(path.join(tmp, 'pub-'))
      const http = await staticServer(pub)
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`
      return {
        publicBase: base,
        targets: (b) => [{ match: b, replace: `file://${pub}/` }],
        env: {},
        read: async (rel) => (existsSync(path.join(pub, rel)) ? readFileSync(path.join(pub, rel)) : undefined),
        // a regular file where the images directory must be: every image upload fails
        breakIt: async () => {
          rmSync(path.join(pub, 'images'), { recursive: true, force: true })
          writeFileSync(path.join(pub, 'images'), 'not a directory')
        },
        stop: async () => void http.close(),
      }
    },
  },
  'sftp:// (openssh sshd)': {
    skip: needs(SSHD),
    start: async () => {
      const sshd = await startSshd()
      return {
        publicBase: 'http://127.0.0.1:9/',
        targets: (b) => [{ match: b, replace: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.root}/`, identity: sshd.clientKey, known_hosts: sshd.knownHosts }],
        env: {},
        read: async (rel) => (existsSync(path.join(sshd.root, rel)) ? readFileSync(path.join(sshd.root, rel)) : undefined),
        breakIt: () => kill(sshd),
        stop: () => sshd.stop(),
      }
    },
  },
  'https:// WebDAV (nginx dav-ext)': {
    skip: needs(NGINX, DAV_EXT_MODULE),
    start: async () => {
      const dav = await startNginxDav()
      const base = dav.url.endsWith('/') ? dav.url : dav.url + '/'
      return {
        publicBase: base,
        targets: (b) => [{ match: b, replace: base }],
        env: {},
        read: async (rel) => (existsSync(path.join(dav.root, rel)) ? readFileSync(path.join(dav.root, rel)) : undefined),
        breakIt: () => kill(dav),
        stop: () => dav.stop(),
      }
    },
  },
  's3:// (s3rver)': {
    skip: { skip: false, reason: '' },
    start: async () => {
      const s3 = await startS3rver()
      const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' }
      const url = `s3://${s3.bucket}/published/`
      return {
        publicBase: 'http://127.0.0.1:9/',
        targets: (b) => [{ match: b, replace: url, endpoint: s3.endpoint, path_style: true }],
        env,
        read: async (rel) => {
          const t = await openTransfer(url, { endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: 'us-east-1' })
          try {
            return (await t.stat(`/published/${rel}`)) ? await t.get(`/published/${rel}`) : undefined
          } finally {
            await t.close()
          }
        },
        breakIt: () => kill(s3),
        stop: () => s3.stop(),
      }
    },
  },
}

/** Stop a server without removing its files (stop() later cleans up); TERM so nginx takes its workers along. */
async function kill(s: RunningServer): Promise<void> {
  process.kill(s.pid, 'SIGTERM')
  for (let i = 0; i < 100 && alive(s.pid); i++) await new Promise((r) => setTimeout(r, 50))
}
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.each(Object.entries(BACKENDS))('vmgit publish to %s', (_name, b) => {
  const missing = b.skip.skip && process.env.CI !== 'true'
  let backend: Backend
  let repo: FixtureRepo
  const cli = (args: string[]) =>
    runCli(['publish', '--repo', repo.dir, '--allow-dirty', '--key', pki.signer.key, '--cert', pki.signer.cert, ...args], { env: { ...backend.env, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined } })

  beforeAll(async () => {
    if (missing) return
    backend = await b.start()
    repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), backend.publicBase, backend.targets(backend.publicBase))
  })
  afterAll(async () => {
    if (!missing) await backend.stop()
  })

  it.skipIf(missing)(`uploads the images, then the signed list, which openssl and vmgit verify${missing ? ` (skipped: ${b.skip.reason})` : ''}`, async () => {
    const r = await cli(['--json'])
    expect(r.stderr).not.toMatch(/error/i)
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.uploaded).toEqual({ images: 2, lists: 1 })
    expect(report.lists[0]).toMatchObject({ name: 'production', action: 'published' })
    for (const img of repo.images) expect((await backend.read(`images/${img.name}-${img.version}.qcow2`))?.length).toBe(img.size)
    const list = (await backend.read('lists/production.list'))!
    const file = path.join(tmp, `list-${process.hrtime.bigint()}.smime`)
    writeFileSync(file, list)
    const o = await opensslVerify(file, pki.caDir, { crlCheck: true })
    expect(o.stderr).toContain('Verification successful')
    const v = await runCli(['verify', file, '--ca-dir', pki.caDir, '--json'])
    expect(v.code).toBe(0)
    expect(JSON.parse(v.stdout)).toMatchObject({ identifier: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d' })
  })

  it.skipIf(missing)('uploads nothing on a second run and says so', async () => {
    const r = await cli([])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Nothing to publish')
  })

  // one signing second shared by the next two publishes
  let stamped = ''
  let lastNow = ''
  it.skipIf(missing)('publishes a changed image under its new uri with a higher list version', async () => {
    const before = (await backend.read('lists/production.list'))!
    const img = repo.updateImage('alma')
    lastNow = new Date(Date.now() + 2000).toISOString().replace(/\.\d{3}Z$/, '.000Z')
    const r = await cli(['--json', '--now', lastNow])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.uploaded).toEqual({ images: 1, lists: 1 })
    stamped = report.lists[0].version
    expect(stamped).toMatch(/^\d{14}$/)
    expect((await backend.read(`images/alma-${img.version}.qcow2`))?.length).toBe(img.size)
    expect((await backend.read('lists/production.list'))!.equals(before)).toBe(false)
  })

  it.skipIf(missing)('moves a stamped hv:version one second past the published one when two publishes share a second (rollback rule)', async () => {
    repo.updateImage('alma')
    const r = await cli(['--json', '--now', lastNow])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const version = (JSON.parse(r.stdout) as { lists: { version: string }[] }).lists[0]!.version
    expect(Number(version), r.stdout).toBe(Number(stamped) + 1)
    // the signed bytes carry it (what subscribers compare)
    expect((await backend.read('lists/production.list'))!.toString()).toContain(`"hv:version": "${version}"`)
  })

  it.skipIf(missing)('leaves the published list intact when the transfer fails part-way', async () => {
    const before = (await backend.read('lists/production.list'))!
    repo.updateImage('ubuntu')
    await backend.breakIt()
    const r = await cli(['--json', '--now', new Date(Date.now() + 4000).toISOString()])
    // a server that went away is a transfer to retry (3); a file where the file:// target's
    // directory must be is the machine's problem, with its own code (2; issue 14)
    expect(r.code).toBe(_name === 'file://' ? 2 : 3)
    if (_name === 'file://') expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'FS_NOT_A_DIRECTORY', exit: 2 })
    expect(JSON.parse(r.stdout).lists[0]).toMatchObject({ action: 'failed' })
    if (_name !== 's3:// (s3rver)') expect((await backend.read('lists/production.list'))!.equals(before)).toBe(true)
  })
})
