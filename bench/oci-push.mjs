#!/usr/bin/env node
// OCI push of a 1 GiB image with vmgit's registry client (src/oci: HEAD, POST, one streamed PATCH,
// PUT ?digest, then the manifest) against `skopeo copy` of the same bytes from an OCI layout dir,
// both to the same throwaway docker-registry (Debian, distribution 2.8) on 127.0.0.1, started here
// and stopped by PID. Both know the digests up front (the layout has them; publish hashes the file
// while it builds the manifest, shown apart). The registry's storage is emptied before every run,
// so neither side can skip or mount the blob. Target: ratio <= 1.1. Run after `npm run build`.
// BENCH_OCI_MIB changes the size.
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { RegistryClient, sha256 } from '../dist/oci/client.js'
import { putManifest, uploadBlob } from '../dist/oci/push.js'
import { writeRandomFile } from './lib/random-file.mjs'

const MiB = 1 << 20
const SIZE_MIB = Number(process.env.BENCH_OCI_MIB ?? 1024)
const RUNS = 3

const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)) }) })
const canConnect = (port) => new Promise((res) => { const s = net.connect(port, '127.0.0.1'); s.once('connect', () => (s.destroy(), res(true))); s.once('error', () => res(false)) })

const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bench-oci-'))
let registry
try {
  const port = await freePort()
  const data = path.join(dir, 'data')
  writeFileSync(path.join(dir, 'config.yml'), ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${data}`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'))
  registry = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' })
  while (!(await canConnect(port))) await new Promise((r) => setTimeout(r, 50))
  const host = `127.0.0.1:${port}`

  const file = path.join(dir, 'image.qcow2')
  writeRandomFile(file, SIZE_MIB * MiB)
  const hashFile = async () => {
    const h = createHash('sha256')
    for await (const c of createReadStream(file, { highWaterMark: MiB })) h.update(c)
    return `sha256:${h.digest('hex')}`
  }
  let t0 = process.hrtime.bigint()
  const layer = { digest: await hashFile(), size: SIZE_MIB * MiB }
  const hashMs = Number(process.hrtime.bigint() - t0) / 1e6

  // the same artifact for both: empty config, one application/x-qemu-disk layer
  const empty = Buffer.from('{}')
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/x-qemu-disk',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2, data: 'e30=' },
    layers: [{ mediaType: 'application/x-qemu-disk', ...layer, annotations: { 'org.opencontainers.image.title': 'image.qcow2' } }],
  }))
  const layout = path.join(dir, 'layout')
  const blobs = path.join(layout, 'blobs', 'sha256')
  mkdirSync(blobs, { recursive: true })
  linkSync(file, path.join(blobs, layer.digest.slice(7)))
  writeFileSync(path.join(blobs, sha256(empty).slice(7)), empty)
  writeFileSync(path.join(blobs, sha256(manifest).slice(7)), manifest)
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length }] }))
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] })

  const time = async (fn) => {
    rmSync(path.join(data, 'docker'), { recursive: true, force: true })
    execFileSync('sync')
    const t = process.hrtime.bigint()
    await fn()
    return Number(process.hrtime.bigint() - t) / 1e6
  }
  let skopeo = Infinity
  let ours = Infinity
  const blobInfoCache = path.join(dir, 'skopeo-cache')
  const runSkopeo = async () => {
    skopeo = Math.min(skopeo, await time(() => execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}`, `docker://${host}/bench/skopeo:1`], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOME: blobInfoCache, XDG_DATA_HOME: blobInfoCache } })))
  }
  const runOurs = async () => {
    ours = Math.min(ours, await time(async () => {
      const client = new RegistryClient(host, { env: {} })
      const repo = { registry: host, repository: 'bench/vmgit' }
      await uploadBlob(client, repo, { bytes: empty }, sha256(empty), 2)
      if (!(await uploadBlob(client, repo, { file }, layer.digest, layer.size))) throw new Error('the layer was not uploaded')
      await putManifest(client, repo, '1', manifest, 'application/vnd.oci.image.manifest.v1+json')
      client.close()
    }))
  }
  for (let i = 0; i < RUNS; i++) for (const run of i % 2 ? [runOurs, runSkopeo] : [runSkopeo, runOurs]) await run()
  const mbps = (ms) => ((SIZE_MIB * MiB) / 1e6 / (ms / 1000)).toFixed(0)
  console.log(`skopeo copy oci: -> docker-registry, ${SIZE_MIB} MiB: ${skopeo.toFixed(0)} ms (${mbps(skopeo)} MB/s)`)
  console.log(`vmgit oci push ${SIZE_MIB} MiB: ${ours.toFixed(0)} ms (${mbps(ours)} MB/s), ratio ${(ours / skopeo).toFixed(2)} to skopeo copy (target <= 1.1)`)
  console.log(`(publish also hashes the file for the manifest: sha256 of ${SIZE_MIB} MiB took ${hashMs.toFixed(0)} ms, done once with the sha512 check)`)
} finally {
  if (registry?.pid) process.kill(registry.pid, 'SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}
