/**
 * A real OpenStack Glance API (Debian's glance-api 25, eventlet, single process) started by the
 * test on 127.0.0.1 with a throwaway sqlite database and the file store, stopped by its PID.
 * No Keystone can run here, so Glance is configured one of two ways:
 * - 'noauth' (Glance's default pipeline): every request is an admin context without a project;
 *   a policy file lets that context publicize images (the packaged rule wants the admin role).
 * - 'headers': the keystone pipeline minus `authtoken`, so Glance trusts the identity headers
 *   keystonemiddleware would set (X-Identity-Status, X-Roles, X-Project-Id): real per-project
 *   ownership, membership and policy, driven by `projectHeaders()`.
 *
 * Install: `apt-get install -y --no-install-recommends glance-api` (about 210 packages).
 * Missing binary: skip with a reason on a laptop; under CI=true the test runs and fails.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

export const GLANCE_API = '/usr/bin/glance-api'
export const GLANCE_MANAGE = '/usr/bin/glance-manage'

/** `it.skipIf(glanceNeeds.skip)`: true only outside CI when glance-api is not installed. */
export const glanceNeeds = ((): { skip: boolean; reason: string } => {
  const missing = [GLANCE_API, GLANCE_MANAGE].filter((f) => !existsSync(f))
  const reason = missing.length ? `missing ${missing.join(', ')} (apt-get install -y --no-install-recommends glance-api)` : 'glance-api installed'
  return { skip: missing.length > 0 && process.env.CI !== 'true', reason }
})()

export type GlanceAuthMode = 'noauth' | 'headers'

export interface GlanceServer {
  /** Base URL without version, as a Keystone catalog would list it: http://127.0.0.1:PORT */
  url: string
  pid: number
  dir: string
  /** The file store: one file per uploaded image, named by the image id. */
  storeDir: string
  stop(): Promise<void>
}

/** Identity headers keystonemiddleware would add for a token of `project` ('headers' mode). */
export function projectHeaders(project: string, roles: string[] = ['admin', 'member', 'reader']): Record<string, string> {
  return { 'X-Identity-Status': 'Confirmed', 'X-Roles': roles.join(','), 'X-Project-Id': project, 'X-User-Id': `user-of-${project}` }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

function probe(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume()
      resolve(res.statusCode === 200 || res.statusCode === 300)
    })
    req.on('error', () => resolve(false))
    req.setTimeout(2000, () => req.destroy())
  })
}

/**
 * Glance's packaged paste pipeline (/etc/glance/glance-api-paste.ini, unreadable for non-root:
 * /etc/glance is 0750 glance:glance), written out here. `noauth` is the packaged default pipeline;
 * `headers` is the packaged keystone pipeline without `authtoken`.
 */
function pasteIni(mode: GlanceAuthMode): string {
  const context = mode === 'noauth' ? 'unauthenticated-context' : 'context'
  return `[pipeline:glance-api]
pipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation osprofiler ${context} rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
backends = disable_by_file
disable_by_file_path = /nonexistent/healthcheck_disable
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:unauthenticated-context]
paste.filter_factory = glance.api.middleware.context:UnauthenticatedContextMiddleware.factory
[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
`
}

function writeConfig(dir: string, port: number, mode: GlanceAuthMode): string {
  for (const d of ['images', 'staging', 'tasks', 'lock']) mkdirSync(path.join(dir, d), { recursive: true })
  const paste = path.join(dir, 'glance-api-paste.ini')
  writeFileSync(paste, pasteIni(mode))
  writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(mode === 'noauth' ? { publicize_image: '@' } : {}))
  const conf = `[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${port}
workers = 0
enabled_backends = fs:file
log_file = ${dir}/glance-api.log
use_stderr = false
[database]
connection = sqlite:///${dir}/glance.sqlite
[paste_deploy]
flavor =
config_file = ${paste}
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = ${dir}/images
[os_glance_staging_store]
filesystem_store_datadir = ${dir}/staging
[os_glance_tasks_store]
filesystem_store_datadir = ${dir}/tasks
[oslo_concurrency]
lock_path = ${dir}/lock
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
policy_file = ${dir}/policy.json
`
  const file = path.join(dir, 'glance-api.conf')
  writeFileSync(file, conf)
  return file
}

/** Start glance-api on a free port; resolves once /versions answers (about 5 s with db_sync). */
export async function startGlance(opts: { mode?: GlanceAuthMode } = {}): Promise<GlanceServer> {
  const mode = opts.mode ?? 'noauth'
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-glance-'))
  const port = await freePort()
  const conf = writeConfig(dir, port, mode)
  await promisify(execFile)(GLANCE_MANAGE, ['--config-file', conf, 'db_sync'], { timeout: 120_000 })
  const child = spawn(GLANCE_API, ['--config-file', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  let exited: number | null = null
  child.on('exit', (code) => (exited = code ?? -1))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  for (;;) {
    if (exited !== null) throw new Error(`glance-api exited with ${exited}: ${stderr}\n${logTail(dir)}`)
    if (await probe(`${url}/versions`)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`glance-api did not answer on ${url}: ${stderr}\n${logTail(dir)}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const pid = child.pid!
  return {
    url,
    pid,
    dir,
    storeDir: path.join(dir, 'images'),
    stop: async () => {
      if (exited === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()))
        process.kill(pid, 'SIGTERM')
        const timer = setTimeout(() => exited === null && process.kill(pid, 'SIGKILL'), 10_000)
        await gone
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function logTail(dir: string): string {
  try {
    return readFileSync(path.join(dir, 'glance-api.log'), 'utf8').split('\n').slice(-20).join('\n')
  } catch {
    return ''
  }
}

// ---- small real disk images for conversion and upload tests ----

const run = promisify(execFile)

/**
 * A small disk image in `format` whose content depends on `seed` (so two versions differ):
 * a raw file with seeded data converted by the real qemu-img. Returns its path.
 */
export async function makeDisk(dir: string, name: string, format: 'raw' | 'qcow2' | 'vmdk' | 'vdi' | 'vpc' | 'vhdx', seed: number, sizeKiB = 1024): Promise<string> {
  const raw = path.join(dir, `${name}.seed.raw`)
  const data = Buffer.alloc(sizeKiB * 1024)
  // deterministic, non-zero content: a few blocks stamped with the seed, the rest sparse zeroes
  for (let off = 0; off < data.length; off += 64 * 1024) data.write(`vmgit test disk seed ${seed} block ${off}\n`.repeat(16), off)
  writeFileSync(raw, data)
  const out = path.join(dir, name)
  if (format === 'raw') {
    writeFileSync(out, data)
  } else {
    await run('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(format === 'vmdk' ? ['-o', 'subformat=streamOptimized'] : []), raw, out])
  }
  rmSync(raw)
  return out
}

/** An OVA: `tar` (GNU, via execFile) of an .ovf descriptor and the given disk files, in that order. */
export async function makeOva(dir: string, name: string, disks: string[], tarFormat: 'ustar' | 'gnu' | 'pax' = 'ustar'): Promise<string> {
  const stage = mkdtempSync(path.join(dir, 'ova-'))
  const ovf = `${name}.ovf`
  const files = disks.map((d) => path.basename(d))
  writeFileSync(path.join(stage, ovf), `<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><References>${files.map((f, i) => `<File ovf:href="${f}" ovf:id="file${i}"/>`).join('')}</References></Envelope>\n`)
  for (const d of disks) writeFileSync(path.join(stage, path.basename(d)), readFileSync(d))
  const out = path.join(dir, `${name}.ova`)
  await run('tar', [`--format=${tarFormat}`, '-cf', out, '-C', stage, ovf, ...files])
  rmSync(stage, { recursive: true, force: true })
  return out
}

/** `qemu-img info` of a file (the format qemu-img detects). */
export async function diskFormat(file: string): Promise<string> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', file])
  return (JSON.parse(stdout) as { format: string }).format
}
