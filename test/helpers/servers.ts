/**
 * Real servers for transfer tests, started by the test on 127.0.0.1 and stopped by PID:
 * Debian's openssh-server (sftp), nginx + dav-ext (WebDAV, strict like dCache: 409 on a PUT
 * into a missing collection) and s3rver (S3, path-style). Each helper makes its own throwaway
 * keys/certificates in a temp dir.
 *
 * Binaries missing: `needs(bin)` says to skip with a reason on a laptop, but under CI=true the
 * test runs and fails loudly (a CI machine must have every server).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from './cli.js'

export const SSHD = '/usr/sbin/sshd'
export const NGINX = '/usr/sbin/nginx'
export const DAV_EXT_MODULE = ['/usr/lib/nginx/modules/ngx_http_dav_ext_module.so', '/usr/share/nginx/modules/ngx_http_dav_ext_module.so'].find(existsSync)
export const S3RVER = path.join(ROOT, 'node_modules/s3rver/bin/s3rver.js')

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/** `it.skipIf(needs(X).skip)(...)`: skip (with a reason) only outside CI; under CI a missing binary fails. */
export function needs(...files: (string | undefined)[]): { skip: boolean; reason: string } {
  const missing = files.filter((f) => !f || !existsSync(f))
  const reason = missing.length ? `missing ${missing.map((m) => m ?? 'nginx dav-ext module').join(', ')} (apt-get install openssh-server openssh-client nginx libnginx-mod-http-dav-ext qemu-utils)` : ''
  return { skip: missing.length > 0 && process.env.CI !== 'true', reason }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

export interface RunningServer {
  port: number
  pid: number
  dir: string
  /** SIGTERM by PID and wait; the temp dir is removed unless keep */
  stop(opts?: { keep?: boolean }): Promise<void>
}

/** Spawn a daemon in the foreground and wait until it accepts TCP connections on 127.0.0.1:port. */
async function launch(cmd: string, args: string[], port: number, dir: string, env?: NodeJS.ProcessEnv): Promise<RunningServer> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  let exited: number | null = null
  child.on('exit', (code) => (exited = code ?? -1))
  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited !== null) throw new Error(`${path.basename(cmd)} exited with ${exited}: ${stderr}`)
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${path.basename(cmd)} did not listen on ${port}: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const pid = child.pid!
  return {
    port,
    pid,
    dir,
    stop: async (opts = {}) => {
      if (exited === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()))
        process.kill(pid, 'SIGTERM')
        await gone
      }
      if (!opts.keep) rmSync(dir, { recursive: true, force: true })
    },
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()

// ---------- sshd ----------

export interface Sshd extends RunningServer {
  user: string
  /** unencrypted OpenSSH ed25519 client key authorised on the server */
  clientKey: string
  /** RSA client key in PEM form, encrypted with `passphrase` */
  pemKey: string
  passphrase: string
  /** known_hosts file with the server's host key at [127.0.0.1]:port */
  knownHosts: string
  /** SHA256:... fingerprint of the host key */
  fingerprint: string
  /** a known_hosts file naming the same host with a different key */
  wrongKnownHosts: string
  /** directory the tests may write into */
  root: string
}

export async function startSshd(): Promise<Sshd> {
  if (isRoot) mkdirSync('/run/sshd', { recursive: true })
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-sshd-'))
  const port = await freePort()
  const key = (name: string, ...extra: string[]) => {
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(dir, name), ...extra])
    return path.join(dir, name)
  }
  const hostKey = key('host_ed25519')
  const otherHost = key('other_host_ed25519')
  const clientKey = key('client_ed25519')
  const passphrase = 'correct horse battery staple'
  const pemKey = path.join(dir, 'client_rsa.pem')
  run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', passphrase, '-C', 'pem', '-f', pemKey])
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(clientKey + '.pub', 'utf8') + readFileSync(pemKey + '.pub', 'utf8'))
  const hostLine = (pub: string) => `[127.0.0.1]:${port} ${readFileSync(pub, 'utf8').split(' ').slice(0, 2).join(' ')}\n`
  const knownHosts = path.join(dir, 'known_hosts')
  writeFileSync(knownHosts, hostLine(hostKey + '.pub'))
  const wrongKnownHosts = path.join(dir, 'known_hosts.wrong')
  writeFileSync(wrongKnownHosts, hostLine(otherHost + '.pub'))
  const fingerprint = run('ssh-keygen', ['-l', '-E', 'sha256', '-f', hostKey + '.pub']).split(' ')[1]!
  const root = path.join(dir, 'data')
  mkdirSync(root)
  const config = path.join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PermitRootLogin ${isRoot ? 'yes' : 'no'}`,
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  const server = await launch(SSHD, ['-D', '-e', '-f', config], port, dir)
  return { ...server, user: os.userInfo().username, clientKey, pemKey, passphrase, knownHosts, wrongKnownHosts, fingerprint, root }
}

// ---------- nginx WebDAV ----------

export type DavAuth = 'none' | 'basic' | 'bearer' | 'x509'
export interface NginxDav extends RunningServer {
  url: string
  root: string
  auth: DavAuth
  username: string
  password: string
  token: string
  /** TLS (x509 mode): CA that signed the server and client certificates, client cert + key */
  ca?: string
  clientCert?: string
  clientKey?: string
}

export async function startNginxDav(opts: { auth?: DavAuth } = {}): Promise<NginxDav> {
  const auth = opts.auth ?? 'none'
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-nginx-'))
  const port = await freePort()
  const root = path.join(dir, 'htdocs')
  mkdirSync(root)
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, t))
  const username = 'publisher'
  const password = 's3cret-pa55'
  const token = 'tok-0123456789abcdef'
  let authConf = ''
  let listen = `listen 127.0.0.1:${port};`
  const tls: Partial<NginxDav> = {}
  if (auth === 'basic') {
    writeFileSync(path.join(dir, 'htpasswd'), `${username}:{PLAIN}${password}\n`)
    authConf = `auth_basic "vmgit"; auth_basic_user_file ${path.join(dir, 'htpasswd')};`
  } else if (auth === 'bearer') {
    authConf = `if ($http_authorization != "Bearer ${token}") { return 401; }`
  } else if (auth === 'x509') {
    Object.assign(tls, makeTlsPki(dir))
    listen = `listen 127.0.0.1:${port} ssl;
      ssl_certificate ${path.join(dir, 'server.pem')}; ssl_certificate_key ${path.join(dir, 'server.key')};
      ssl_client_certificate ${tls.ca}; ssl_verify_client on;`
  }
  const conf = path.join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `${isRoot ? 'user root;' : ''}
daemon off;
# one process: the PID we stop is the whole server (no worker left behind)
master_process off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
load_module ${DAV_EXT_MODULE};
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  server {
    ${listen}
    root ${root};
    location / {
      ${authConf}
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_ext_methods PROPFIND OPTIONS;
      create_full_put_path off;
      dav_access user:rw group:r all:r;
    }
  }
}
`,
  )
  const server = await launch(NGINX, ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf], port, dir)
  const scheme = auth === 'x509' ? 'https' : 'http'
  return { ...server, url: `${scheme}://127.0.0.1:${port}`, root, auth, username, password, token, ...tls }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeTlsPki(dir: string): { ca: string; clientCert: string; clientKey: string } {
  const p = (n: string) => path.join(dir, n)
  const ossl = (...a: string[]) => run('openssl', a)
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=vmgit test CA')
  for (const [name, subj, ext] of [
    ['server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', '/DC=org/DC=example/CN=vmgit publisher', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(p(`${name}.ext`), ext)
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', subj)
    ossl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p(`${name}.ext`), '-out', p(`${name}.pem`))
  }
  return { ca: p('ca.pem'), clientCert: p('client.pem'), clientKey: p('client.key') }
}

// ---------- s3rver ----------

export interface S3 extends RunningServer {
  endpoint: string
  bucket: string
  /** s3rver's fixed credentials */
  accessKeyId: string
  secretAccessKey: string
}

/** `reuse` restarts on the data dir and port of a stopped server (stop({keep: true})); `tls` (PEM key and certificate, e.g. tlsMaterial) serves https. */
export async function startS3rver(bucket = 'vmgit-test', reuse?: { dir: string; port: number }, opts: { atomicPut?: boolean; tls?: { key: string; cert: string } } = {}): Promise<S3> {
  const dir = reuse?.dir ?? mkdtempSync(path.join(os.tmpdir(), 'vmgit-s3-'))
  const port = reuse?.port ?? (await freePort())
  // atomicPut: PUT as real S3 does it (s3rver-atomic-put.mjs); s3rver alone writes objects in place
  const preload = opts.atomicPut ? ['--import', pathToFileURL(path.join(ROOT, 'test/helpers/s3rver-atomic-put.mjs')).href] : []
  // the TLS files live beside the data dir (s3rver takes every entry of its data dir for a bucket)
  const tlsDir = opts.tls ? mkdtempSync(path.join(os.tmpdir(), 'vmgit-s3tls-')) : undefined
  if (opts.tls && tlsDir) {
    writeFileSync(path.join(tlsDir, 'key.pem'), opts.tls.key)
    writeFileSync(path.join(tlsDir, 'cert.pem'), opts.tls.cert)
  }
  const tlsArgs = tlsDir ? ['--key', path.join(tlsDir, 'key.pem'), '--cert', path.join(tlsDir, 'cert.pem')] : []
  const server = await launch(process.execPath, [...preload, S3RVER, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent', ...tlsArgs, '--configure-bucket', bucket], port, dir)
  const stop = server.stop
  server.stop = async (o = {}) => {
    await stop(o)
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true })
  }
  return { ...server, endpoint: `${tlsDir ? 'https' : 'http'}://127.0.0.1:${port}`, bucket, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
}
