#!/usr/bin/env node
// A no-change `vmgit sync` over 200 subscriptions: every list answers 304 (one conditional request each), the
// stored signers are looked up in their CA's CRL, the cache is checked by size+mtime. Timed end to end as cron
// runs it (`node bin/run.js sync`, node start-up included), BENCH_RUNS times (default 5); the median is reported.
// Target (issue 6): under 2 s. Setup makes an openssl CA + CRL + signer, 200 signed lists (each with one cached
// image), a loopback server in its own process, and subscribes through the library. Run after `npm run build`.
// BENCH_SUBS=N changes the number of subscriptions.
// Issue 16 (fixed cost): the same no-change sync with ONE subscription, as a ratio to `node -e 0` (the cost of
// starting node at all), and to `vmgit --version` (node + the CLI's entry point, no oclif).
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchListJson, makeBenchPki, ossl } from './lib/pki.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const N = Number(process.env.BENCH_SUBS ?? 200)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const { openStore } = await import(path.join(root, 'dist/subscriber/store.js'))
const { addSubscription } = await import(path.join(root, 'dist/subscriber/subscriptions.js'))
const { trustEndorser } = await import(path.join(root, 'dist/subscriber/endorsers.js'))
const { selectImages } = await import(path.join(root, 'dist/subscriber/selection.js'))

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bench-noop-'))
const p = (...x) => path.join(dir, ...x)

// --- PKI: CA with CRL, one signer ---
const { subject, issuer } = makeBenchPki(dir)

// --- 200 signed lists, each with one small image ---
mkdirSync(p('www'))
const image = Buffer.alloc(4096, 7)
writeFileSync(p('www/image.raw'), image)
const sha512 = (await import('node:crypto')).createHash('sha512').update(image).digest('hex')
const now = new Date()
const lists = []
for (let i = 0; i < N; i++) {
  const id = randomUUID()
  const imageId = randomUUID()
  // HOST: the server's address, known once it listens
  const json = benchListJson({ subject, issuer, listId: id, imageId, size: image.length, sha512, imageUri: 'http://HOST/image.raw', listUri: `http://HOST/list${i}.smime`, title: `bench ${i}` })
  lists.push({ id, imageId, json })
}

const serverSrc = `
const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path'); const crypto = require('node:crypto')
const www = process.argv[1]; let count = 0
http.createServer((req, res) => {
  count++
  const f = path.join(www, path.basename(req.url)); let body
  try { body = fs.readFileSync(f) } catch { res.writeHead(404); return res.end() }
  const etag = '"' + crypto.createHash('sha1').update(body).digest('hex') + '"'
  if (req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); return res.end() }
  res.writeHead(200, { etag, 'content-length': body.length }); res.end(body)
}).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n') })`
const server = spawn(process.execPath, ['-e', serverSrc, p('www')], { stdio: ['ignore', 'pipe', 'inherit'], detached: !!process.env.BENCH_KEEP })
const port = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
const host = `127.0.0.1:${port}`
for (const [i, l] of lists.entries()) {
  const signed = ossl(['smime', '-sign', '-md', 'sha256', '-signer', p('signer.pem'), '-inkey', p('signer.key')], l.json.replaceAll('HOST', host))
  writeFileSync(p('www', `list${i}.smime`), signed)
}

const db = p('state/subscriber.db')
const db1 = p('state1/subscriber.db')
const env = { ...process.env, VMGIT_DB: db, VMGIT_CACHE_DIR: p('cache'), VMGIT_CA_DIR: p('trust'), VMGIT_EVENT: '', VMCATCHER_CACHE_EVENT: '' }
try {
  // one subscription on its own database: the fixed cost every cron run pays
  const store1 = openStore(db1)
  trustEndorser(store1, { name: 'bench', subject, issuer }, now)
  await addSubscription(store1, { urls: [`http://${host}/list0.smime`], autoEndorse: false, newImages: 'accept', caDir: p('trust'), crlCheck: true, now })
  selectImages(store1, { identifier: lists[0].imageId, subscription: lists[0].id }, now)
  store1.close()
  const store = openStore(db)
  trustEndorser(store, { name: 'bench', subject, issuer }, now)
  for (const [i, l] of lists.entries()) {
    await addSubscription(store, { urls: [`http://${host}/list${i}.smime`], autoEndorse: false, newImages: 'accept', caDir: p('trust'), crlCheck: true, now })
    selectImages(store, { identifier: l.imageId, subscription: l.id }, now)
  }
  store.close()
  // first sync downloads the (shared) image and learns the ETags
  const first = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env, encoding: 'utf8' })
  if (first.status !== 0) throw new Error(`first sync failed: ${first.stderr}`)
  const times = []
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint()
    const s = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env, encoding: 'utf8' })
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    if (s.status !== 0 || s.stdout !== '' || s.stderr !== '') throw new Error(`no-op sync was not quiet/0: ${s.status} ${s.stdout} ${s.stderr}`)
  }
  const bare = []
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint()
    spawnSync(process.execPath, [path.join(root, 'bin/run.js'), '--version'], { env })
    bare.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  const env1 = { ...env, VMGIT_DB: db1, VMGIT_CACHE_DIR: p('cache1') }
  const first1 = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env: env1, encoding: 'utf8' })
  if (first1.status !== 0) throw new Error(`first one-list sync failed: ${first1.stderr}`)
  // alternate the three commands so that machine load hits them alike
  const one = [], nodeOnly = []
  for (let r = 0; r < RUNS * 2; r++) {
    let t = process.hrtime.bigint()
    const s = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env: env1, encoding: 'utf8' })
    one.push(Number(process.hrtime.bigint() - t) / 1e6)
    if (s.status !== 0 || s.stdout !== '' || s.stderr !== '') throw new Error(`one-list no-op sync was not quiet/0: ${s.status} ${s.stdout} ${s.stderr}`)
    t = process.hrtime.bigint()
    spawnSync(process.execPath, ['-e', '0'])
    nodeOnly.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  console.log(`subscriber sync no-op, 1 subscription (one 304): median ${med(one).toFixed(0)} ms; \`node -e 0\`: ${med(nodeOnly).toFixed(0)} ms; ratio ${(med(one) / med(nodeOnly)).toFixed(2)}x node start-up`)
  console.log(`subscriber sync no-op, ${N} subscriptions (one 304 each, CRL lookups, cache stat): median ${med(times).toFixed(0)} ms over ${RUNS} runs (target < 2000 ms); vmgit --version alone: ${med(bare).toFixed(0)} ms`)
} finally {
  if (!process.env.BENCH_KEEP) server.kill()
  if (process.env.BENCH_KEEP) console.log(`kept ${dir} (server pid ${server.pid} still running)`)
  else rmSync(dir, { recursive: true, force: true })
}
