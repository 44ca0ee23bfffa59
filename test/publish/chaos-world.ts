/**
 * The chaos test's world: a real backend, a public HTTP URL that serves what it stores, an
 * endorser repository whose images change before every run, and `vmgit publish` (bin/run.js)
 * killed with SIGKILL at random points. After every kill a subscriber's check: fetch the list
 * from its public hv:uri, verify its signature against the CA, and fetch and hash every image it
 * names (size and sha512).
 *
 * Kill points: each kill is either after a random delay (uniform over a full publish's duration,
 * measured first) or the moment a chosen progress event is seen on the server's storage (an
 * image's temp file appears, an image lands, the list's temp file appears, the list lands), polled
 * every millisecond. The kill point counted is the state the server's storage was left in: for
 * each image of the run none/tmp/done, and the list old/tmp/new. Distinct states are reported.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs'
import os from 'node:os'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseImageListJson } from '../../src/imagelist/parse.js'
import { parseSmime } from '../../src/smime/mime.js'
import { loadTrustStore, type TrustStore } from '../../src/smime/trust.js'
import { verifySmime } from '../../src/smime/verify.js'
import { BIN, childEnv, runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { DAV_EXT_MODULE, needs, NGINX, SSHD, startNginxDav, startS3rver, startSshd } from '../helpers/servers.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

export interface ChaosBackend {
  /** the public base (hv:uri prefix), served over HTTP */
  publicBase: string
  targets: Record<string, unknown>[]
  env: Record<string, string>
  /** the local directory the server stores the published tree in (observed for progress) */
  storage: string
  /** a stored file's name → the published name (s3rver adds a suffix); undefined = not a published file */
  published(name: string): string | undefined
  /** whether an upload in flight can be seen on the server's storage */
  hasTemps: boolean
  stop(): Promise<void>
}

export const CHAOS_BACKENDS: Record<string, { skip: { skip: boolean; reason: string }; start: (tmp: string) => Promise<ChaosBackend> }> = {
  file: { skip: { skip: false, reason: '' }, start: async (tmp) => local(mkdtempSync(path.join(tmp, 'pub-')), (root) => ({ targets: [{ match: '', replace: `file://${root}/` }] })) },
  sftp: {
    skip: needs(SSHD),
    start: async () => {
      const sshd = await startSshd()
      const b = await local(sshd.root, (root) => ({ targets: [{ match: '', replace: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${root}/`, identity: sshd.clientKey, known_hosts: sshd.knownHosts }] }))
      return { ...b, stop: async () => (await b.stop(), await sshd.stop()) }
    },
  },
  webdav: {
    skip: needs(NGINX, DAV_EXT_MODULE),
    start: async () => {
      const dav = await startNginxDav()
      const base = `${dav.url}/`
      return { publicBase: base, targets: [{ match: base, replace: base }], env: {}, storage: dav.root, published: (n) => n, hasTemps: true, stop: () => dav.stop() }
    },
  },
  s3: {
    skip: { skip: false, reason: '' },
    start: async () => {
      // PUT atomic as real S3 (see s3rver-atomic-put.mjs)
      const s3 = await startS3rver('vmgit-chaos', undefined, { atomicPut: true })
      const base = `${s3.endpoint}/${s3.bucket}/published/`
      return {
        publicBase: base,
        targets: [{ match: base, replace: `s3://${s3.bucket}/published/`, endpoint: s3.endpoint, path_style: true }],
        env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' },
        storage: path.join(s3.dir, s3.bucket, 'published'),
        // an object's PUT in flight shows as its `.partial-<hex>` file (the preload's), counted as the upload's temp
        published: (n) => {
          const m = /^(.+)\._S3rver_object(\.partial-[0-9a-f]+)?$/.exec(n)
          return m ? (m[2] ? `.${m[1]}.vmgit-s3-put.tmp` : m[1]) : undefined
        },
        hasTemps: true,
        stop: () => s3.stop(),
      }
    },
  },
}

/** A backend whose files are a local directory (file://, and sshd's): served by a small static HTTP server. */
async function local(root: string, conf: (root: string) => { targets: Record<string, unknown>[] }): Promise<ChaosBackend> {
  const http = await staticServer(root)
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`
  const targets = conf(root).targets.map((t) => ({ ...t, match: base }))
  return { publicBase: base, targets, env: {}, storage: root, published: (n) => n, hasTemps: true, stop: async () => void http.close() }
}

function staticServer(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    let bytes: Buffer
    try {
      if (!file.startsWith(root + path.sep)) throw new Error('outside')
      bytes = readFileSync(file)
    } catch {
      return res.writeHead(404).end()
    }
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes)
  })
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)))
}

/** The published tree as the server stores it: published name → mtime ms, temp files included. */
function snapshot(b: ChaosBackend, sub: string): Map<string, number> {
  const out = new Map<string, number>()
  const dir = path.join(b.storage, sub)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = b.published(n)
    if (p === undefined) continue
    try {
      out.set(p, statSync(path.join(dir, n)).mtimeMs)
    } catch {
      // renamed away between readdir and stat
    }
  }
  return out
}

// `.<file>.vmgit-<hex>.tmp`, without the dot on WebDAV (Transfer.listsDotFiles)
const isTempOf = (name: string, file: string) => (name.startsWith(`.${file}.vmgit-`) || name.startsWith(`${file}.vmgit-`)) && name.endsWith('.tmp')

export interface InvariantResult {
  ok: boolean
  version: string
  images: number
  problems: string[]
}

/** The subscriber's eyes: the list at its public URL verifies and every image it names is there, whole. */
export async function checkInvariant(listUri: string, caDir: string, trustStore?: TrustStore): Promise<InvariantResult> {
  const problems: string[] = []
  const res = await fetch(listUri)
  if (res.status !== 200) return { ok: false, version: '', images: 0, problems: [`list: HTTP ${res.status}`] }
  const bytes = Buffer.from(await res.arrayBuffer())
  try {
    await verifySmime(bytes, { trust: trustStore ?? (await loadTrustStore(caDir)), at: new Date(), crlCheck: true })
  } catch (e) {
    return { ok: false, version: '', images: 0, problems: [`list does not verify: ${String(e)}`] }
  }
  const list = parseImageListJson(parseSmime(bytes).content)
  for (const img of list.images) {
    const uri = String(img['hv:uri'])
    const r = await fetch(uri)
    if (r.status !== 200) {
      problems.push(`${uri}: HTTP ${r.status}`)
      continue
    }
    const body = Buffer.from(await r.arrayBuffer())
    const sha512 = createHash('sha512').update(body).digest('hex')
    if (body.length !== Number(img['hv:size']) || sha512 !== img['sl:checksum:sha512']) problems.push(`${uri}: ${body.length} bytes, sha512 ${sha512.slice(0, 12)}… (the list says ${String(img['hv:size'])}, ${String(img['sl:checksum:sha512']).slice(0, 12)}…)`)
  }
  return { ok: problems.length === 0, version: String(list.list['hv:version']), images: list.images.length, problems }
}

export interface ChaosReport {
  kills: number
  /** runs that finished before the kill came */
  completed: number
  /** distinct storage states at kill time, with how often each was seen */
  points: Map<string, number>
  seconds: number
  /** PKI, repository and the first publish */
  setupSeconds: number
  violations: string[]
  /** temp files left by kills that the final publish removed */
  tempsRemoved: number
  tempsLeft: string[]
  finalExit: number
  finalInvariant?: InvariantResult
  /** invariant checks made by a subscriber reading while the runs went on */
  concurrentChecks: number
  /** image files `publish --prune` removed after the final publish */
  pruned: number
  prunedInvariant?: InvariantResult
}

export interface ChaosOptions {
  /** stop starting new runs after this long (ms), once minKills kills are done */
  budgetMs: number
  minKills: number
  maxKills: number
  imageBytes: number
}

/** Run the chaos loop against one backend: kills, a check after each, then one normal publish. */
export async function runChaos(b: ChaosBackend, tmp: string, opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now()
  const pki: Pki = await makePki(path.join(tmp, 'pki'))
  const repo: FixtureRepo = makeFixtureRepo(mkdtempSync(path.join(tmp, 'repo-')), b.publicBase, b.targets, { imageBytes: opts.imageBytes, git: true })
  const args = ['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert]
  const env = { ...b.env, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }
  const report: ChaosReport = { kills: 0, completed: 0, points: new Map(), seconds: 0, setupSeconds: 0, violations: [], tempsRemoved: 0, tempsLeft: [], finalExit: -1, pruned: 0, concurrentChecks: 0 }

  // a first, complete publish: the list every kill must leave intact; its duration scales the delays
  const t0 = Date.now()
  const first = await runCli(args, { env })
  if (first.code !== 0) throw new Error(`the first publish failed: ${first.stdout}${first.stderr}`)
  const fullMs = Date.now() - t0
  const trust = await loadTrustStore(pki.caDir)
  const firstCheck = await checkInvariant(repo.listUri, pki.caDir, trust)
  if (!firstCheck.ok) throw new Error(`the first publish broke the invariant: ${firstCheck.problems.join('; ')}`)
  report.setupSeconds = (Date.now() - started) / 1000
  const loopStart = Date.now()

  // a subscriber reading all the time, during the runs too: "at every instant", not only after a kill
  let reading = true
  const reader = (async () => {
    while (reading) {
      const inv = await checkInvariant(repo.listUri, pki.caDir, trust)
      report.concurrentChecks++
      if (!inv.ok) report.violations.push(`a subscriber reading during a run: ${inv.problems.join('; ')}`)
      // a few checks a second: enough to land inside runs, not so many that they slow them on 2 cores
      await new Promise((r) => setTimeout(r, 200))
    }
  })()
  const events = ['delay', 'img0-tmp', 'img0-done', 'img1-tmp', 'img1-done', 'list-tmp', 'list-new'].filter((e) => b.hasTemps || !e.endsWith('-tmp'))
  let run = 0
  while (report.kills < opts.maxKills && (report.kills < opts.minKills || Date.now() - loopStart < opts.budgetMs)) {
    run++
    const changed = ['alma', 'ubuntu'].map((n) => repo.updateImage(n))
    // publish signs only what is committed (issue 15): the endorser commits, then publishes
    repo.commit(`run ${run}: new alma and ubuntu`)
    const files = changed.map((img) => path.basename(new URL(img.uri).pathname))
    const listsBefore = snapshot(b, 'lists')
    const listBefore = listsBefore.get('production.list')
    // a list temp file counts only when this run made it (earlier kills leave theirs until the final publish)
    const newListTemp = (lists: Map<string, number>) => [...lists.keys()].some((n) => isTempOf(n, 'production.list') && !listsBefore.has(n))
    const trigger = events[run % events.length]!
    const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(env), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    let done = false
    void exited.then(() => (done = true))
    if (trigger === 'delay') {
      await new Promise((r) => setTimeout(r, Math.random() * fullMs))
    } else {
      const [what, when] = trigger.split('-') as [string, string]
      for (;;) {
        if (done) break
        if (what === 'list') {
          const lists = snapshot(b, 'lists')
          if (when === 'tmp' ? newListTemp(lists) : lists.get('production.list') !== listBefore) break
        } else {
          const file = files[Number(what.slice(3))]!
          const imgs = snapshot(b, 'images')
          if (when === 'tmp' ? [...imgs.keys()].some((n) => isTempOf(n, file)) : imgs.has(file)) break
        }
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    if (!done) {
      child.kill('SIGKILL')
      report.kills++
    }
    const code = await exited
    if (code === 0) report.completed++
    else if (code !== null) report.violations.push(`run ${run} exited ${code} before the kill: ${stderr.slice(0, 500)}`)
    // the state the kill left on the server (give an in-flight request a moment to land)
    await new Promise((r) => setTimeout(r, 30))
    if (code === null) {
      const imgs = snapshot(b, 'images')
      const lists = snapshot(b, 'lists')
      const state = [
        ...files.map((f, i) => `img${i}:${imgs.has(f) ? 'done' : [...imgs.keys()].some((n) => isTempOf(n, f)) ? 'tmp' : 'none'}`),
        `list:${lists.get('production.list') !== listBefore ? 'new' : newListTemp(lists) ? 'tmp' : 'old'}`,
      ].join(' ')
      report.points.set(state, (report.points.get(state) ?? 0) + 1)
    }
    const inv = await checkInvariant(repo.listUri, pki.caDir, trust)
    if (!inv.ok) report.violations.push(`run ${run} (${trigger}, ${code === null ? 'killed' : `exit ${code}`}): ${inv.problems.join('; ')}`)
  }

  reading = false
  await reader
  // the temp files the kills left: aged past the stale rule, then a normal publish must remove them
  const temps = (sub: string) => readdirSafe(path.join(b.storage, sub)).filter((n) => /\.vmgit-[0-9a-f]{12}\.tmp$/.test(n))
  const aged = Date.now() / 1000 - 2 * 3600
  for (const sub of ['images', 'lists']) for (const n of temps(sub)) utimesSync(path.join(b.storage, sub, n), aged, aged)
  const tempsBefore = temps('images').length + temps('lists').length
  repo.updateImage('alma')
  repo.commit('final: new alma')
  const final = await runCli([...args, '--json'], { env })
  report.finalExit = final.code
  if (final.code !== 0) report.violations.push(`the final publish failed: ${final.stdout.slice(0, 800)}${final.stderr.slice(0, 800)}`)
  else report.tempsRemoved = (JSON.parse(final.stdout) as { removedTemps: string[] }).removedTemps.length
  report.tempsLeft = [...temps('images'), ...temps('lists')]
  if (tempsBefore !== report.tempsRemoved + report.tempsLeft.length) report.violations.push(`${tempsBefore} temp files before the final publish, ${report.tempsRemoved} removed, ${report.tempsLeft.length} left`)
  report.finalInvariant = await checkInvariant(repo.listUri, pki.caDir, trust)
  // --prune on this backend: the versions earlier lists named are marked; past a 1 s grace they go, the named ones stay
  await new Promise((r) => setTimeout(r, 1100))
  const pruned = await runCli([...args, '--json', '--prune', '--prune-grace', '1s'], { env })
  if (pruned.code !== 0) report.violations.push(`publish --prune failed: ${pruned.stdout.slice(0, 800)}${pruned.stderr.slice(0, 800)}`)
  else report.pruned = (JSON.parse(pruned.stdout) as { prune: { removed: string[] } }).prune.removed.length
  report.prunedInvariant = await checkInvariant(repo.listUri, pki.caDir, trust)
  report.seconds = (Date.now() - started) / 1000
  rmSync(repo.dir, { recursive: true, force: true })
  return report
}

const readdirSafe = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : [])

/** One line for the log (the closing note quotes it). */
export function describeChaos(name: string, r: ChaosReport): string {
  const points = [...r.points.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `    ${String(n).padStart(3)} × ${k}`)
  return [`chaos ${name}: ${r.kills} kills at ${r.points.size} distinct kill points, ${r.completed} runs finished before their kill, ${r.tempsRemoved} stale temp files removed by the final publish, ${r.pruned} old image files pruned, ${r.concurrentChecks} checks by a subscriber reading during the runs; ${r.seconds.toFixed(1)} s in all (setup ${r.setupSeconds.toFixed(1)} s)`, ...points].join('\n')
}

/**
 * The chaos suite for one backend (one test file per backend, so vitest runs them in parallel):
 * kill -9 at random points, a subscriber's check after each kill and during the runs, then a full
 * publish and `publish --prune`, each leaving the invariant whole.
 */
export function chaosSuite(name: string): void {
  const backend = CHAOS_BACKENDS[name]!
  const tmp = mkdtempSync(path.join(os.tmpdir(), `vmgit-chaos-${name}-`))
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  describe(`issue 15 invariant: vmgit publish to ${name} killed with SIGKILL at random points`, () => {
    it.skipIf(backend.skip.skip)(`leaves every published list verifiable with every image whole, after each kill and after the next full publish${backend.skip.reason ? ` (skipped: ${backend.skip.reason})` : ''}`, async () => {
      const b = await backend.start(tmp)
      try {
        const r = await runChaos(b, tmp, { budgetMs: 40_000, minKills: 12, maxKills: 40, imageBytes: 2 << 20 })
        process.stdout.write(describeChaos(name, r) + '\n')
        expect(r.violations).toEqual([])
        expect(r.concurrentChecks).toBeGreaterThan(0)
        expect(r.finalExit).toBe(0)
        expect(r.finalInvariant?.ok, r.finalInvariant?.problems.join('; ')).toBe(true)
        expect(r.tempsLeft).toEqual([])
        // --prune afterwards removes old versions no list names, and the list still holds
        expect(r.pruned).toBeGreaterThan(0)
        expect(r.prunedInvariant?.ok, r.prunedInvariant?.problems.join('; ')).toBe(true)
        // bounded, but enough to mean something
        expect(r.kills).toBeGreaterThanOrEqual(12)
        expect(r.points.size).toBeGreaterThanOrEqual(3)
      } finally {
        await b.stop()
      }
    }, 300_000)
  })
}
