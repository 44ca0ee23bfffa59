// Glance handler throughput against a real glance-api on 127.0.0.1 (Debian's, sqlite + file store).
//  1. import of an image already in the target format (create, stream upload, verify, publish)
//     vs `curl -T` of the same file into a fresh image: the physical limit is Glance's own ingest
//     (it hashes and writes every byte). Target ratio <= 1.1.
//  2. VMDK -> qcow2 preparation (source re-hash + qemu-img convert + hash of the result) vs a bare
//     `qemu-img convert`. Target ratio <= 1.3.
// Usage: npm run build && node bench/glance-upload.mjs   (GLANCE_BENCH_MIB=1024 for a bigger image)
import { execFile, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { GlanceClient } from '../dist/glance/client.js'
import { importImage } from '../dist/glance/handler.js'
import { prepareImage } from '../dist/glance/convert.js'
import { resolveConfig } from '../dist/glance/config.js'
import { hashFile } from '../dist/util/hash.js'

const MIB = Number(process.env.GLANCE_BENCH_MIB ?? 512)
if (!existsSync('/usr/bin/glance-api')) {
  console.log('glance-upload: skipped (apt-get install -y --no-install-recommends glance-api)')
  process.exit(0)
}
const run = promisify(execFile)
const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-bench-glance-'))
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startGlance() {
  const g = path.join(dir, 'glance')
  for (const d of ['images', 'staging', 'tasks', 'lock']) mkdirSync(path.join(g, d), { recursive: true })
  const port = await freePort()
  const conf = path.join(g, 'glance-api.conf')
  writeFileSync(conf, `[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = ${port}\nworkers = 0\nenabled_backends = fs:file\nlog_file = ${g}/api.log\n` +
    `[database]\nconnection = sqlite:///${g}/glance.sqlite\n[paste_deploy]\nflavor =\nconfig_file = /etc/glance/glance-api-paste.ini\n` +
    `[glance_store]\ndefault_backend = fs\n[fs]\nfilesystem_store_datadir = ${g}/images\n[os_glance_staging_store]\nfilesystem_store_datadir = ${g}/staging\n` +
    `[os_glance_tasks_store]\nfilesystem_store_datadir = ${g}/tasks\n[oslo_concurrency]\nlock_path = ${g}/lock\n`)
  await run('/usr/bin/glance-manage', ['--config-file', conf, 'db_sync'])
  const child = spawn('/usr/bin/glance-api', ['--config-file', conf], { stdio: 'ignore' })
  const url = `http://127.0.0.1:${port}`
  for (;;) {
    const ok = await new Promise((r) => http.get(`${url}/versions`, (res) => { res.resume(); r(true) }).on('error', () => r(false)))
    if (ok) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return { url, stop: () => child.kill('SIGTERM') }
}

function writeData(file, mib) {
  const block = randomBytes(1 << 20)
  const fd = openSync(file, 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, block)
  closeSync(fd)
}

const glance = await startGlance()
try {
  const client = new GlanceClient({ endpoint: glance.url, token: 'bench' })
  const raw = path.join(dir, 'image.raw')
  writeData(raw, MIB)
  const { sha512 } = await hashFile(raw)

  // 1. curl: create + PUT, nothing else
  const created = await client.createImage({ name: 'curl', disk_format: 'raw', container_format: 'bare' })
  let t0 = process.hrtime.bigint()
  execFileSync('curl', ['-sf', '-T', raw, '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', `${glance.url}/v2/images/${created.id}/file`])
  const curlMs = ms(t0)
  const config = resolveConfig({}, { 'target-format': 'raw', grace: '0' })
  const img = { listId: 'bench-list', identifier: 'bench', sha512, version: '1', entry: { 'dc:title': 'bench' }, file: raw }
  t0 = process.hrtime.bigint()
  await importImage({ client, config, now: new Date() }, img)
  const vmgitMs = ms(t0)
  console.log(`glance import ${MIB} MiB raw (no conversion): ${vmgitMs.toFixed(0)} ms vs curl -T ${curlMs.toFixed(0)} ms, ratio ${(vmgitMs / curlMs).toFixed(2)} (target <= 1.1)`)

  // 2. conversion
  const vmdk = path.join(dir, 'image.vmdk')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', raw, vmdk])
  const vmdkSha = (await hashFile(vmdk)).sha512
  t0 = process.hrtime.bigint()
  await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'qcow2', vmdk, path.join(dir, 'bare.qcow2')])
  const bareMs = ms(t0)
  t0 = process.hrtime.bigint()
  const p = await prepareImage(vmdk, { targetFormat: 'qcow2', workDir: dir, sourceSha512: vmdkSha })
  const prepMs = ms(t0)
  await p.cleanup()
  console.log(`glance prepare ${MIB} MiB vmdk -> qcow2: ${prepMs.toFixed(0)} ms vs bare qemu-img convert ${bareMs.toFixed(0)} ms, ratio ${(prepMs / bareMs).toFixed(2)} (target <= 1.3)`)
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`)
} finally {
  glance.stop()
  rmSync(dir, { recursive: true, force: true })
}
