/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8.x) started on
 * 127.0.0.1:<free port> with filesystem storage in a temp dir and stopped by its PID. Three
 * flavours, as registries are run:
 * - `anonymous`: no auth at all;
 * - `basic`: htpasswd (distribution accepts bcrypt entries only; bcryptjs makes them);
 * - `token`: the bearer challenge flow (`auth: token: realm, service, issuer, rootcertbundle`), with
 *   a small token issuer of the test's own (token-issuer.mjs, its own process) on another loopback
 *   port, as Harbor runs one beside its registry. It checks basic credentials and signs an RS256 JWT
 *   whose `x5c` header carries a self-signed certificate that is the registry's root bundle.
 *
 * Binary missing: `needsRegistry()` skips with a reason, except under CI=true (then the test runs
 * and fails loudly: a CI machine must have docker-registry and skopeo).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import bcrypt from 'bcryptjs'
import { freePort } from './servers.js'

export const DOCKER_REGISTRY = '/usr/bin/docker-registry'
export const SKOPEO = '/usr/bin/skopeo'

export type RegistryAuth = 'anonymous' | 'basic' | 'token'

/** `describe.skipIf(needsRegistry().skip)`: skip with a reason off CI; under CI=true a missing binary fails the test. */
export function needsRegistry(...extra: string[]): { skip: boolean; reason: string } {
  const missing = [DOCKER_REGISTRY, ...extra].filter((f) => !existsSync(f))
  const reason = missing.length ? `missing ${missing.join(', ')} (apt-get install docker-registry skopeo)` : ''
  return { skip: missing.length > 0 && process.env.CI !== 'true', reason }
}

export interface TokenRequest {
  scope: string[]
  service: string | null
  account?: string
  authorized: boolean
}

export interface Registry {
  /** `127.0.0.1:<port>`, the host part of oci:// references */
  host: string
  port: number
  pid: number
  dir: string
  auth: RegistryAuth
  /** the credentials the registry (or its token issuer) accepts; undefined when anonymous */
  username?: string
  password?: string
  /** the token issuer's requests (token flavour): scopes asked, to assert the challenge flow */
  readonly tokenRequests: TokenRequest[]
  /** skopeo's `--creds user:pass` arguments, empty when anonymous */
  creds(): string[]
  stop(): Promise<void>
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

/** Start docker-registry with `auth`; the caller stops it (afterAll). */
export async function startRegistry(opts: { auth?: RegistryAuth; username?: string; password?: string } = {}): Promise<Registry> {
  const auth = opts.auth ?? 'anonymous'
  const username = opts.username ?? 'endorser'
  const password = opts.password ?? `pw-${randomBytes(6).toString('hex')}`
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-registry-'))
  const port = await freePort()
  let issuer: Awaited<ReturnType<typeof startTokenIssuer>> | undefined
  let authYaml = ''
  if (auth === 'basic') {
    writeFileSync(path.join(dir, 'htpasswd'), `${username}:${bcrypt.hashSync(password, 5)}\n`)
    authYaml = `auth:\n  htpasswd:\n    realm: vmgit-test\n    path: ${path.join(dir, 'htpasswd')}\n`
  } else if (auth === 'token') {
    const t = await startTokenIssuer(dir, username, password)
    issuer = t
    authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${t.port}/token\n    service: ${TOKEN_SERVICE}\n    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${t.bundle}\n`
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    authYaml,
  ].join('\n')
  writeFileSync(path.join(dir, 'config.yml'), config)
  const child: ChildProcess = spawn(DOCKER_REGISTRY, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  let exited: number | null = null
  child.on('exit', (code) => (exited = code ?? -1))
  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited !== null) throw new Error(`docker-registry exited with ${exited}: ${stderr}`)
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`docker-registry did not listen on ${port}: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const pid = child.pid!
  return {
    host: `127.0.0.1:${port}`,
    port,
    pid,
    dir,
    auth,
    ...(auth === 'anonymous' ? {} : { username, password }),
    get tokenRequests() {
      return issuer ? readFileSync(issuer.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TokenRequest) : []
    },
    creds: () => (auth === 'anonymous' ? [] : ['--creds', `${username}:${password}`]),
    stop: async () => {
      if (exited === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()))
        process.kill(pid, 'SIGTERM')
        await gone
      }
      if (issuer && issuer.child.exitCode === null) {
        const child = issuer.child
        const gone = new Promise<void>((r) => child.once('exit', () => r()))
        process.kill(child.pid!, 'SIGTERM')
        await gone
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const TOKEN_SERVICE = 'vmgit-test-registry'
export const TOKEN_ISSUER = 'vmgit-test-issuer'

/** Start test/helpers/token-issuer.mjs (its own process) with a fresh self-signed key and certificate. */
async function startTokenIssuer(dir: string, username: string, password: string): Promise<{ child: ChildProcess; port: number; bundle: string; log: string }> {
  const key = path.join(dir, 'token.key')
  const cert = path.join(dir, 'token.crt')
  const log = path.join(dir, 'token-requests.jsonl')
  writeFileSync(log, '')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=vmgit test token issuer'], { stdio: 'ignore' })
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'token-issuer.mjs')
  const child = spawn(process.execPath, [script, key, cert, username, password, TOKEN_SERVICE, TOKEN_ISSUER, log], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(Number(out.trim()))
    })
    child.once('exit', (code) => reject(new Error(`token issuer exited with ${code}`)))
  })
  return { child, port, bundle: cert, log }
}

/** Run skopeo against the loopback registry (plain http: --tls-verify=false) and return stdout. */
export function skopeo(reg: Registry, args: string[], input?: string): string {
  const [cmd, ...rest] = args
  const creds = ['inspect', 'list-tags'].includes(cmd!) ? [...reg.creds(), '--tls-verify=false'] : []
  return execFileSync(SKOPEO, [cmd!, ...creds, ...rest], { encoding: 'utf8', ...(input ? { input } : {}), env: { ...process.env, REGISTRY_AUTH_FILE: path.join(reg.dir, 'skopeo-auth.json') } })
}

/** `skopeo copy` into the registry (dest creds, no TLS on loopback). */
export function skopeoCopy(reg: Registry, from: string, to: string, extra: string[] = []): void {
  const creds = reg.auth === 'anonymous' ? [] : ['--dest-creds', `${reg.username}:${reg.password}`]
  execFileSync(SKOPEO, ['copy', '--quiet', '--dest-tls-verify=false', ...creds, ...extra, from, to], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, REGISTRY_AUTH_FILE: path.join(reg.dir, 'skopeo-auth.json') } })
}

/** A one-blob OCI layout dir that skopeo copies (the same shape vmgit pushes). */
export function ociLayout(dir: string, payload: Buffer): string {
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
  const blobs = path.join(dir, 'blobs', 'sha256')
  mkdirSync(blobs, { recursive: true })
  const empty = Buffer.from('{}')
  writeFileSync(path.join(blobs, sha(empty)), empty)
  writeFileSync(path.join(blobs, sha(payload)), payload)
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/x-qemu-disk',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${sha(empty)}`, size: 2, data: 'e30=' },
    layers: [{ mediaType: 'application/x-qemu-disk', digest: `sha256:${sha(payload)}`, size: payload.length, annotations: { 'org.opencontainers.image.title': 'x.qcow2' } }],
  }))
  writeFileSync(path.join(blobs, sha(manifest)), manifest)
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }] }))
  return dir
}
