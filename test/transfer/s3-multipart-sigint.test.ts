/**
 * Ctrl-C (SIGINT) during `vmgit publish` to an S3 target, while an image goes up as a multipart
 * upload: vmgit aborts the upload (AbortMultipartUpload) before it exits, so no orphaned parts stay
 * in the bucket (where they are invisible to listings and billed until a lifecycle rule removes
 * them), nothing is published, and the next publish completes.
 *
 * The store is s3rver with test/helpers/s3rver-multipart-abort.mjs preloaded: s3rver alone answers
 * AbortMultipartUpload with 405 (it keeps every part); the preload aborts as S3 does, slows each
 * part down so the interrupt lands mid-upload on any machine, and logs the multipart requests.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, childEnv, ROOT, runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { freePort, needs, S3RVER } from '../helpers/servers.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'

const s3 = needs(S3RVER)
const BUCKET = 'vmgit-sigint'
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-s3-sigint-'))
const store = path.join(tmp, 's3')
const LOG = path.join(tmp, 'multipart.log')
// above the S3 backend's 64 MiB multipart threshold: 5 parts of 16 MiB
const IMAGE_BYTES = 70 << 20
const uploads = path.join(store, BUCKET, '._S3rver_uploads')

let port: number
let server: ReturnType<typeof spawn> | undefined
let pki: Pki
let repo: FixtureRepo
const env = () => ({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined })
const publishArgs = () => ['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert]

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const canConnect = (p: number) =>
  new Promise<boolean>((resolve) => {
    const c = net.connect(p, '127.0.0.1', () => (c.destroy(), resolve(true)))
    c.on('error', () => resolve(false))
  })
const logLines = () => (existsSync(LOG) ? readFileSync(LOG, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(' ')) : [])
/** the upload ids s3rver still holds parts for */
const orphans = () => (existsSync(uploads) ? readdirSync(uploads) : [])
/** the objects stored under a prefix of the bucket (s3rver's files end in ._S3rver_object) */
const objects = (prefix: string) =>
  existsSync(path.join(store, BUCKET, prefix)) ? (readdirSync(path.join(store, BUCKET, prefix), { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => f.endsWith('._S3rver_object')) : []

beforeAll(async () => {
  if (s3.skip) return
  port = await freePort()
  const preload = pathToFileURL(path.join(ROOT, 'test/helpers/s3rver-multipart-abort.mjs')).href
  server = spawn(process.execPath, ['--import', preload, S3RVER, '-d', store, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', BUCKET], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, S3RVER_MULTIPART_LOG: LOG, S3RVER_PART_DELAY_MS: '1500' },
  })
  for (let i = 0; !(await canConnect(port)); i++) {
    if (i > 200 || server.exitCode !== null) throw new Error('s3rver did not start')
    await sleep(100)
  }
  pki = await makePki(path.join(tmp, 'pki'))
  const base = `http://127.0.0.1:${port}/${BUCKET}/published/`
  repo = makeFixtureRepo(path.join(tmp, 'repo'), base, [{ match: base, replace: `s3://${BUCKET}/published/`, endpoint: `http://127.0.0.1:${port}`, path_style: true }], { git: true, imageBytes: IMAGE_BYTES })
  repo.commit('first')
}, 120_000)

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM')
    await new Promise((r) => server!.once('exit', r))
  }
  rmSync(tmp, { recursive: true, force: true })
})

describe.skipIf(s3.skip)(`vmgit publish to s3:// interrupted by SIGINT during a multipart upload${s3.reason ? ` (${s3.reason})` : ''}`, () => {
  let exit: { code: number | null; signal: NodeJS.Signals | null }
  let stderr = ''
  beforeAll(async () => {
    const child = spawn(process.execPath, [BIN, ...publishArgs()], { cwd: ROOT, env: childEnv(env()), stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    // Ctrl-C once the first part of an upload is stored, with more to come
    const deadline = Date.now() + 90_000
    while (!logLines().some(([op, , , n]) => op === 'part' && n === '2')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no multipart upload in progress to interrupt: ${stderr}`)
      await sleep(50)
    }
    expect(orphans().length).toBeGreaterThan(0) // parts are stored: there is something to abort
    child.kill('SIGINT')
    exit = await exited
  }, 150_000)

  it('stops on SIGINT, saying so, without completing any upload', () => {
    expect(exit.signal === 'SIGINT' || exit.code === 130, JSON.stringify(exit) + stderr).toBe(true)
    expect(stderr).toContain('SIGINT: removing temporary upload files')
    expect(logLines().filter(([op]) => op === 'complete')).toEqual([])
  })

  it('aborts every multipart upload it started (AbortMultipartUpload for each upload id)', () => {
    const started = logLines().filter(([op]) => op === 'initiate').map(([, , id]) => id)
    const aborted = logLines().filter(([op]) => op === 'abort').map(([, , id]) => id)
    expect(started.length).toBeGreaterThan(0)
    expect(aborted.sort()).toEqual([...started].sort())
  })

  it('leaves no orphaned parts in the bucket, and publishes neither image nor list', () => {
    expect(orphans()).toEqual([])
    expect(objects('published')).toEqual([])
  })

  it('publishes everything on the next run', async () => {
    const r = await runCli(publishArgs(), { env: env(), timeoutMs: 150_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(objects('published').sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^images\/alma-1\.0\.qcow2\._S3rver_object$/), expect.stringMatching(/^lists\/production\.list\._S3rver_object$/)]))
    expect(orphans()).toEqual([])
  }, 180_000)
})
