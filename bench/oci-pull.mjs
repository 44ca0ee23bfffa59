#!/usr/bin/env node
// Pull of a 1 GiB image from a registry (issue 17): Debian's docker-registry on loopback, the image pushed
// with skopeo as an OCI 1.1 artifact (one application/x-qemu-disk layer), a signed list that pins its
// manifest digest pushed as a list artifact, and a site subscribed to oci://127.0.0.1:PORT/vm/bench-list.
//   vmgit sync     the whole `vmgit sync` process as cron runs it, on a fresh copy of the subscribed state:
//                  list artifact (tag -> manifest -> blob, digests checked), list verified, pinned image
//                  manifest fetched by digest, blob streamed to partial/ with sha256 + sha512 + size in one
//                  pass, fsync, into cache/
//   skopeo copy    `skopeo copy docker://…/vm/bench-img@<digest> dir:OUT`: the independent client pulling the
//                  same bytes from the same registry (it checks the blob's sha256 while writing)
//   skopeo copy;sync  the same, then `sync` (vmgit fsyncs what it verified: the fair comparison for it)
// Target (issue 17): vmgit sync / skopeo copy <= 1.1. Each variant runs BENCH_RUNS times (default 3),
// alternating; the best of each is compared. BENCH_SIZE_MB changes the size (default 1024). Everything
// lives in a temp dir under BENCH_DIR (default /tmp) and is deleted afterwards. Run after `npm run build`.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchListJson, makeBenchPki, ossl } from './lib/pki.mjs'
import { writeRandomFile } from './lib/random-file.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SIZE = Number(process.env.BENCH_SIZE_MB ?? 1024) * 1024 * 1024
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const REGISTRY = '/usr/bin/docker-registry'
const SKOPEO = '/usr/bin/skopeo'
for (const bin of [REGISTRY, SKOPEO]) {
  if (!existsSync(bin)) {
    console.error(`bench/oci-pull.mjs needs ${bin} (apt-get install docker-registry skopeo)`)
    process.exit(2)
  }
}
const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'vmgit-bench-oci-'))
const p = (...x) => path.join(dir, ...x)
const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const port = s.address().port; s.close(() => resolve(port)) }) })
const hashFile = async (file, alg) => {
  const h = createHash(alg)
  for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c)
  return h.digest('hex')
}

async function startRegistry() {
  const port = await freePort()
  writeFileSync(p('registry.yml'), `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${p('registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n`)
  const child = spawn(REGISTRY, ['serve', p('registry.yml')], { stdio: 'ignore' })
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => { const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true) }).on('error', () => resolve(false)) })
    if (up) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, host: `127.0.0.1:${port}` }
}

/** An OCI layout holding one single-layer artifact, pushed with skopeo; the layer file is moved in (no copy of 1 GiB). */
function pushArtifact(host, repo, tags, layerFile, size, sha256, mediaType) {
  const lay = p(`layout-${repo.replace(/\W/g, '_')}`)
  mkdirSync(path.join(lay, 'blobs/sha256'), { recursive: true })
  const blob = (b) => {
    const h = createHash('sha256').update(b).digest('hex')
    writeFileSync(path.join(lay, 'blobs/sha256', h), b)
    return h
  }
  renameSync(layerFile, path.join(lay, 'blobs/sha256', sha256))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: mediaType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${blob('{}')}`, size: 2 },
    layers: [{ mediaType, digest: `sha256:${sha256}`, size }],
  }))
  const digest = `sha256:${blob(manifest)}`
  writeFileSync(path.join(lay, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(path.join(lay, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'x' } }] }))
  for (const tag of tags) execFileSync(SKOPEO, ['copy', '--quiet', '--dest-tls-verify=false', `oci:${lay}:x`, `docker://${host}/${repo}:${tag}`], { stdio: ['ignore', 'ignore', 'inherit'] })
  rmSync(lay, { recursive: true, force: true })
  return digest
}

console.log(`making a ${SIZE / 1048576} MiB image in ${dir} ...`)
const image = p('image.qcow2')
writeRandomFile(image, SIZE)
const sha512 = await hashFile(image, 'sha512')
const sha256 = await hashFile(image, 'sha256')
const reg = await startRegistry()
let best
try {
  const digest = pushArtifact(reg.host, 'vm/bench-img', ['1'], image, SIZE, sha256, 'application/x-qemu-disk')

  // the site: a PKI, a list pinning the image, pushed as a list artifact, subscribed
  const { subject, issuer } = makeBenchPki(p('pki'))
  const listId = randomUUID(), imageId = randomUUID()
  const json = benchListJson({ subject, issuer, listId, imageId, size: SIZE, sha512, imageUri: `http://${reg.host}/unused/bench-img.qcow2`, listUri: `oci://${reg.host}/vm/bench-list`,
    image: { 'vmgit:oci:reference': `${reg.host}/vm/bench-img@${digest}`, 'vmgit:oci:digest': digest } })
  const signed = ossl(['smime', '-sign', '-md', 'sha256', '-signer', p('pki/signer.pem'), '-inkey', p('pki/signer.key')], json)
  writeFileSync(p('list.smime'), signed)
  pushArtifact(reg.host, 'vm/bench-list', ['1.0', 'latest'], p('list.smime'), signed.length, createHash('sha256').update(signed).digest('hex'), 'application/vnd.hepix.imagelist.v1+smime')
  const env = { ...process.env, VMGIT_DB: p('site/subscriber.db'), VMGIT_CA_DIR: p('pki/trust'), VMGIT_EVENT: '', VMCATCHER_CACHE_EVENT: '' }
  const cli = (...args) => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), ...args], { env, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`vmgit ${args.join(' ')} failed: ${r.stderr}`)
  }
  cli('sub', 'trust', '--name', 'bench', '--subject', subject, '--issuer', issuer)
  cli('sub', 'add', `oci://${reg.host}/vm/bench-list`)
  cli('sub', 'select', imageId)

  const time = (fn) => {
    const t = process.hrtime.bigint()
    fn()
    return Number(process.hrtime.bigint() - t) / 1e6
  }
  const skopeoCopy = (thenSync) => {
    rmSync(p('out'), { recursive: true, force: true })
    execFileSync(SKOPEO, ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/vm/bench-img@${digest}`, `dir:${p('out')}`], { stdio: ['ignore', 'ignore', 'inherit'] })
    if (thenSync) execFileSync('sync')
  }
  const variants = {
    'vmgit sync': () => {
      const run = p('run')
      rmSync(run, { recursive: true, force: true })
      mkdirSync(run)
      copyFileSync(p('site/subscriber.db'), path.join(run, 'subscriber.db'))
      const r = spawnSync(process.execPath, [path.join(root, 'bin/run.js'), 'sync'], { env: { ...env, VMGIT_DB: path.join(run, 'subscriber.db'), VMGIT_CACHE_DIR: path.join(run, 'cache') }, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`vmgit sync failed: ${r.stderr}`)
      if (!existsSync(path.join(run, 'cache/cache', sha512))) throw new Error('vmgit sync cached nothing')
    },
    'skopeo copy': () => skopeoCopy(false),
    'skopeo copy;sync': () => skopeoCopy(true),
  }
  best = Object.fromEntries(Object.keys(variants).map((k) => [k, Infinity]))
  for (let i = 0; i < RUNS; i++) {
    for (const [name, fn] of Object.entries(variants)) best[name] = Math.min(best[name], time(fn))
    rmSync(p('run'), { recursive: true, force: true })
    rmSync(p('out'), { recursive: true, force: true })
  }
} finally {
  reg.child.kill()
  rmSync(dir, { recursive: true, force: true })
}

const mbps = (ms) => ((SIZE / 1048576) / (ms / 1000)).toFixed(0)
for (const [name, ms] of Object.entries(best)) console.log(`registry pull ${SIZE / 1048576} MiB, ${name}: ${ms.toFixed(0)} ms (${mbps(ms)} MiB/s)`)
console.log(`registry pull: vmgit sync (whole process, sha256 + sha512 + fsync) / skopeo copy = ${(best['vmgit sync'] / best['skopeo copy']).toFixed(2)} (target <= 1.1)`)
console.log(`registry pull: vmgit sync / skopeo copy;sync = ${(best['vmgit sync'] / best['skopeo copy;sync']).toFixed(2)}`)
