/**
 * Issue 15: Ctrl-C (SIGINT) or a cancelled CI job (SIGTERM) during an image upload removes the
 * temp file before vmgit goes (the 1.5 GB `.image.qcow2.vmgit-<hex>.tmp` the issue found in the
 * web root), ends by that signal, and leaves the published list and its images as they were.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, childEnv, runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { checkInvariant, CHAOS_BACKENDS } from './chaos-world.js'
import { makeFixtureRepo } from './repo-fixture.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-signal-'))
let pki: Pki
beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const temps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => /\.vmgit-[0-9a-f]{12}\.tmp$/.test(n)) : [])

const CASES: [string, NodeJS.Signals][] = [
  ['file', 'SIGINT'],
  ['sftp', 'SIGTERM'],
  ['webdav', 'SIGTERM'],
]

describe.each(CASES)('issue 15: vmgit publish to %s interrupted by %s during an image upload', (name, signal) => {
  const backend = CHAOS_BACKENDS[name]!
  it.skipIf(backend.skip.skip)(`removes its temp file, ends by the signal, and the published list still holds${backend.skip.reason ? ` (skipped: ${backend.skip.reason})` : ''}`, async () => {
    const b = await backend.start(tmp)
    try {
      const repo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), b.publicBase, b.targets, { git: true })
      const args = ['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert]
      const env = { ...b.env, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }
      expect((await runCli(args, { env })).code).toBe(0)
      const listBefore = readFileSync(path.join(b.storage, 'lists/production.list'))
      // a big new version: the upload takes long enough to be interrupted
      repo.updateImage('alma', { bytes: 192 << 20 })
      repo.commit('new alma')
      const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(env), stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, sig) => r({ code, signal: sig })))
      // WebDAV: nginx buffers the PUT body in its own temp dir until the request is complete
      const watched = name === 'webdav' ? path.join(b.storage, '..', 'body') : path.join(b.storage, 'images')
      const uploading = () => (name === 'webdav' ? readdirSync(watched).length > 0 : temps(watched).length > 0)
      let seen = false
      const deadline = Date.now() + 60_000
      while (!seen && child.exitCode === null && Date.now() < deadline) {
        seen = uploading()
        if (!seen) await new Promise((r) => setTimeout(r, 2))
      }
      expect(seen, `no upload seen; stderr: ${stderr}`).toBe(true)
      child.kill(signal)
      const end = await exited
      expect(end.signal, stderr).toBe(signal)
      expect(stderr).toContain(`${signal}: removing temporary upload files`)
      // the server side settles (sshd's sftp process, nginx's body buffer)
      await new Promise((r) => setTimeout(r, 300))
      expect(temps(path.join(b.storage, 'images'))).toEqual([])
      if (name === 'webdav') expect(readdirSync(watched)).toEqual([])
      expect(readFileSync(path.join(b.storage, 'lists/production.list')).equals(listBefore)).toBe(true)
      expect((await checkInvariant(repo.listUri, pki.caDir)).ok).toBe(true)
      rmSync(repo.dir, { recursive: true, force: true })
    } finally {
      await b.stop()
    }
  }, 180_000)
})
