#!/usr/bin/env node
// Download + verify of a 1 GiB image from a loopback HTTP server (a separate node process), three ways:
//   vmgit      downloadImage(): hash while writing, one pass (what `vmgit sync` does per image)
//   curl|tee   `curl -s URL | tee FILE | openssl dgst -sha512`: the physical limit of a one-pass shell pipeline
//   two-pass   download to a file, then hash it (vmcatcher's wget-then-hash way), with curl+openssl and in node
// Targets (issue 6): vmgit / curl|tee <= 1.1. Each variant runs BENCH_RUNS times (default 3), alternating; the
// best of each is compared. The image is made in /tmp (BENCH_DIR) and deleted afterwards. Run after `npm run build`.
// BENCH_SIZE_MB changes the size (default 1024). BENCH_FSYNC=0 measures vmgit without the final fsync.
import { execSync, spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { Fetcher, DEFAULT_LIMITS } = await import(path.join(root, 'dist/subscriber/fetch.js'))
const { downloadImage } = await import(path.join(root, 'dist/subscriber/download.js'))
const { hashFile } = await import(path.join(root, 'dist/util/hash.js'))

const SIZE = Number(process.env.BENCH_SIZE_MB ?? 1024) * 1024 * 1024
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const FSYNC = process.env.BENCH_FSYNC !== '0'
const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'vmgit-bench-dl-'))
const image = path.join(dir, 'image.raw')

function makeImage() {
  const fd = openSync(image, 'w')
  const chunk = Buffer.alloc(8 << 20)
  for (let done = 0; done < SIZE; done += chunk.length) {
    randomFillSync(chunk)
    writeSync(fd, chunk, 0, Math.min(chunk.length, SIZE - done))
  }
  closeSync(fd)
}

// the server lives in its own process so that it does not share vmgit's event loop
const serverSrc = `
const http = require('node:http'); const fs = require('node:fs')
const file = process.argv[1]; const size = fs.statSync(file).size
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' })
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res)
}).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n') })`

async function startServer() {
  const child = spawn(process.execPath, ['-e', serverSrc, image], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
  return { child, url: `http://127.0.0.1:${port}/image.raw` }
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
const fetcher = new Fetcher({})
const limits = { ...DEFAULT_LIMITS, deadlineMs: 3_600_000 }

const variants = {
  vmgit: async () => {
    rmSync(path.join(dir, 'partial', sha512), { force: true })
    const r = await downloadImage(fetcher, { sha512, size: SIZE, uri: server.url }, path.join(dir, 'partial'), { limits, fsync: FSYNC })
    if (r.bytes !== SIZE) throw new Error('short download')
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
console.log(`subscriber download+verify: vmgit / two-pass curl+openssl = ${(best.vmgit / best['two-pass curl+openssl']).toFixed(2)}, vmgit / two-pass node = ${(best.vmgit / best['two-pass node']).toFixed(2)}`)
