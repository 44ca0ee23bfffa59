#!/usr/bin/env node
// Hashing a 1 GiB image through the `vmgit image update` code path (updateImage → digestFile:
// sha512 + size in one pass, 1 MiB reads) against `openssl dgst -sha512`, the physical limit of
// the same OpenSSL sha512 on this CPU. Both read from the page cache (the file is read once
// first). Target: ratio <= 1.15. Run after `npm run build`. BENCH_HASH_MIB changes the size.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { updateImage } from '../dist/repo/image.js'
import { writeRandomFile } from './lib/random-file.mjs'

const MiB = 1 << 20
const SIZE_MIB = Number(process.env.BENCH_HASH_MIB ?? 1024)
const RUNS = 3

const dir = mkdtempSync(path.join(tmpdir(), 'vmgit-bench-hash-'))
const file = path.join(dir, 'image.raw')
try {
  writeRandomFile(file, SIZE_MIB * MiB)
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] }) // warm the page cache

  const sha = execFileSync('openssl', ['dgst', '-sha512', '-r', file]).toString().split(' ')[0]
  mkdirSync(path.join(dir, 'images'))
  writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\n')
  writeFileSync(path.join(dir, 'images/bench.yaml'), `identifier: b\nversion: "1"\nuri: https://h/x.raw\nsize: ${SIZE_MIB * MiB}\nsha512: ${sha}\n`)

  const time = async (fn) => {
    const t = process.hrtime.bigint()
    await fn()
    return Number(process.hrtime.bigint() - t) / 1e6
  }
  let ossl = Infinity
  let ours = Infinity
  for (let i = 0; i < RUNS; i++) {
    ossl = Math.min(ossl, await time(() => execFileSync('openssl', ['dgst', '-sha512', file])))
    ours = Math.min(ours, await time(async () => {
      const r = await updateImage({ repo: dir, name: 'bench', file, now: new Date() })
      if (r.action !== 'unchanged' || r.sha512 !== sha) throw new Error('digest differs from openssl')
    }))
  }
  const mbps = (ms) => ((SIZE_MIB * MiB) / 1e6 / (ms / 1000)).toFixed(0)
  console.log(`openssl dgst -sha512 ${SIZE_MIB} MiB: ${ossl.toFixed(0)} ms (${mbps(ossl)} MB/s)`)
  console.log(`image update (hash ${SIZE_MIB} MiB): ${ours.toFixed(0)} ms (${mbps(ours)} MB/s), ratio ${(ours / ossl).toFixed(2)} (target <= 1.15)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
