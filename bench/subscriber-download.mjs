#!/usr/bin/env node
// Download + verify of a 512 MiB image from a loopback nginx (a real web server, sendfile), several ways:
//   vmgit      downloadImage(): hash while writing, one pass (what `vmgit sync` does per image), in process
//   vmgit sync the whole `vmgit sync` process as cron runs it: node start-up, list fetch + verify, database,
//              download + verify + fsync of the image, events (none) — on a fresh copy of a subscribed state
//   curl|tee   `curl -s URL | tee FILE | openssl dgst -sha512`: the physical limit of a one-pass shell pipeline
//   curl|tee;sync  the same, then `sync` (vmgit fsyncs what it verified; this is the fair comparison for it)
//   two-pass   download to a file, then hash it (vmcatcher's wget-then-hash way), with curl+openssl and in node
// Targets (issue 6, 16): vmgit / curl|tee <= 1.1; vmgit sync / curl|tee;sync as close to 1 as the fixed cost allows.
// Each variant runs BENCH_RUNS times (default 3), alternating; the best of each is compared. The image is made
// in /tmp (BENCH_DIR) and deleted afterwards. Needs nginx and openssl. Run after `npm run build`.
// BENCH_SIZE_MB changes the size (default 512). BENCH_FSYNC=0 measures vmgit without the final fsync.
import { execSync, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchListJson, makeBenchPki, ossl } from './lib/pki.mjs'
import { writeRandomFile } from './lib/random-file.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { Fetcher, DEFAULT_LIMITS } = await import(path.join(root, 'dist/net/http.js'))
const { downloadImage } = await import(path.join(root, 'dist/subscriber/download.js'))
const { hashFile } = await import(path.join(root, 'dist/util/hash.js'))

const SIZE = Number(process.env.BENCH_SIZE_MB ?? 512) * 1024 * 1024
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const FSYNC = process.env.BENCH_FSYNC !== '0'
const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'vmgit-bench-dl-'))
const www = path.join(dir, 'www')
mkdirSync(www)
const image = path.join(www, 'image.raw')

const makeImage = () => writeRandomFile(image, SIZE)

// nginx, as a site's mirror would serve it: one process, sendfile, no access log
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync)
if (!NGINX) {
  console.error('bench/subscriber-download.mjs needs nginx (apt-get install nginx)')
  process.exit(2)
}
const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) }) })

async function startServer() {
  const port = await freePort()
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, t))
  const conf = path.join(dir, 'nginx.conf')
  writeFileSync(conf, `${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  types { application/octet-stream raw; application/pkcs7-mime smime; }
  server { listen 127.0.0.1:${port}; root ${www}; etag on; }
}
`)
  const child = spawn(NGINX, ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => { const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true) }).on('error', () => resolve(false)) })
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/image.raw` }
}

/** A CA with a CRL, a signer, a signed list naming the image, and a subscribed database (not yet synced). */
async function subscribedState(host, sha512) {
  const p = (...x) => path.join(dir, 'site', ...x)
  const { subject, issuer } = makeBenchPki(p())
  const listId = randomUUID(), imageId = randomUUID()
  const json = benchListJson({ subject, issuer, listId, imageId, size: SIZE, sha512, imageUri: `http://${host}/image.raw`, listUri: `http://${host}/list.smime` })
  writeFileSync(path.join(www, 'list.smime'), ossl(['smime', '-sign', '-md', 'sha256', '-signer', p('signer.pem'), '-inkey', p('signer.key')], json))
  const env = { ...process.env, VMGIT_DB: p('state/subscriber.db'), VMGIT_CA_DIR: p('trust'), VMGIT_EVENT: '', VMCATCHER_CACHE_EVENT: '' }
  const cli = (...args) => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), ...args], { env, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`vmgit ${args.join(' ')} failed: ${r.stderr}`)
  }
  cli('sub', 'trust', '--name', 'bench', '--subject', subject, '--issuer', issuer)
  cli('sub', 'add', `http://${host}/list.smime`)
  cli('sub', 'select', imageId)
  return { db: p('state/subscriber.db'), env, cacheRoot: p('cache') }
}

const time = async (fn) => {
  const t = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t) / 1e6
}

console.log(`making a ${SIZE / 1048576} MiB image in ${dir} ...`)
makeImage()
const sha512 = (await hashFile(image)).sha512
const server = await startServer()
const out = path.join(dir, 'out')
mkdirSync(path.join(dir, 'partial'))
const site = await subscribedState(server.host, sha512)
const fetcher = new Fetcher({})
const limits = { ...DEFAULT_LIMITS, deadlineMs: 3_600_000 }

const variants = {
  vmgit: async () => {
    rmSync(path.join(dir, 'partial', sha512), { force: true })
    const r = await downloadImage(fetcher, { sha512, size: SIZE, uri: server.url }, path.join(dir, 'partial'), { limits, fsync: FSYNC })
    if (r.bytes !== SIZE) throw new Error('short download')
  },
  'vmgit sync': async () => {
    // a fresh copy of the subscribed (never synced) state and an empty cache: the whole cron run
    const runDir = path.join(dir, 'run')
    rmSync(runDir, { recursive: true, force: true })
    mkdirSync(runDir)
    copyFileSync(site.db, path.join(runDir, 'subscriber.db'))
    const r = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env: { ...site.env, VMGIT_DB: path.join(runDir, 'subscriber.db'), VMGIT_CACHE_DIR: path.join(runDir, 'cache') }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`vmgit sync failed: ${r.stderr}`)
  },
  'curl|tee;sync': async () => {
    const got = execSync(`curl -s ${server.url} | tee ${out} | openssl dgst -sha512 -r; sync`, { shell: '/bin/bash' }).toString().split(' ')[0]
    if (got !== sha512) throw new Error('curl pipeline hash mismatch')
  },
  'curl|tee': async () => {
    const got = execSync(`curl -s ${server.url} | tee ${out} | openssl dgst -sha512 -r`, { shell: '/bin/bash' }).toString().split(' ')[0]
    if (got !== sha512) throw new Error('curl pipeline hash mismatch')
  },
  'two-pass curl+openssl': async () => {
    execSync(`curl -s -o ${out} ${server.url}`)
    const got = execSync(`openssl dgst -sha512 -r ${out}`).toString().split(' ')[0]
    if (got !== sha512) throw new Error('two-pass hash mismatch')
  },
  'two-pass node': async () => {
    const r = await fetcher.open(server.url, { limits })
    const { createWriteStream } = await import('node:fs')
    const { pipeline } = await import('node:stream/promises')
    await pipeline(r.body, createWriteStream(out, { highWaterMark: 1 << 20 }))
    if ((await hashFile(out)).sha512 !== sha512) throw new Error('node two-pass hash mismatch')
  },
}

const best = Object.fromEntries(Object.keys(variants).map((k) => [k, Infinity]))
try {
  for (let i = 0; i < RUNS; i++) {
    for (const [name, fn] of Object.entries(variants)) {
      rmSync(out, { force: true })
      best[name] = Math.min(best[name], await time(fn))
    }
  }
} finally {
  fetcher.close()
  server.child.kill()
  rmSync(dir, { recursive: true, force: true })
}

const mbps = (ms) => ((SIZE / 1048576) / (ms / 1000)).toFixed(0)
for (const [name, ms] of Object.entries(best)) console.log(`subscriber download+verify ${SIZE / 1048576} MiB, ${name}: ${ms.toFixed(0)} ms (${mbps(ms)} MiB/s)`)
const ratio = best.vmgit / best['curl|tee']
console.log(`subscriber download+verify: vmgit / curl|tee|openssl = ${ratio.toFixed(2)} (target <= 1.1)${FSYNC ? ', vmgit includes fsync of the verified file' : ''}`)
console.log(`subscriber download+verify from nginx: vmgit sync (whole process) / curl|tee|openssl;sync = ${(best['vmgit sync'] / best['curl|tee;sync']).toFixed(2)}`)
console.log(`subscriber download+verify: vmgit / two-pass curl+openssl = ${(best.vmgit / best['two-pass curl+openssl']).toFixed(2)}, vmgit / two-pass node = ${(best.vmgit / best['two-pass node']).toFixed(2)}`)
