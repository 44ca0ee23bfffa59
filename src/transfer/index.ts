/**
 * The transfer seam: one `Transfer` interface, four backends chosen by the target URL's scheme.
 *   file:///abs/path (or a plain absolute path)   sftp://[user@]host[:port]/path
 *   https://host/path, http://host/path (WebDAV)   s3://bucket/prefix
 * `parseTarget` splits a target URL into the connection it needs and the path on it;
 * `TransferPool` opens one connection per server and reuses it for every file.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { StreamingDigest, type Digest } from '../util/hash.js'
import { configError, transferError } from './errors.js'
import { FileTransfer } from './file.js'
import { redactUrl, Secret } from '../net/redact.js'
import type { Transfer, TransferOptions, TransferScheme } from './types.js'

export type { PutOptions, PutResult, RemoteStat, Transfer, TransferOptions, TransferScheme } from './types.js'
export { redactText, redactUrl, Secret } from '../net/redact.js'

export interface Target {
  scheme: TransferScheme
  url: URL
  /** identifies the connection (scheme, user, host, port / bucket): equal keys share one Transfer */
  key: string
  /** the path on that connection, as the backend's methods take it */
  path: string
  /** printable form, secrets masked */
  display: string
}

export function parseTarget(target: string): Target {
  // a plain absolute path is a local target (vmcaster's "local" protocol wrote to one)
  const raw = path.isAbsolute(target) && !target.startsWith('//') ? `file://${encodeURI(target)}` : target
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw configError('TRANSFER_URL_INVALID', `"${redactUrl(target)}" is not a URL; targets look like file:///srv/lists, sftp://user@host/path, https://host/path or s3://bucket/prefix`)
  }
  const scheme = url.protocol.replace(/:$/, '')
  const display = redactUrl(url)
  switch (scheme) {
    case 'file':
      if (url.host && url.host !== 'localhost') throw configError('TRANSFER_URL_INVALID', `${display}: file URLs must be local (file:///path)`)
      return { scheme, url, key: 'file://', path: fileURLToPath(url), display }
    case 'sftp':
      if (!url.hostname) throw configError('TRANSFER_URL_INVALID', `${display}: an sftp URL needs a host (sftp://user@host/path)`)
      return { scheme, url, key: `sftp://${url.username}@${url.host}`, path: decodeURIComponent(url.pathname), display }
    case 'http':
    case 'https':
      return { scheme, url, key: `${url.protocol}//${url.username}@${url.host}`, path: url.pathname + url.search, display }
    case 's3':
      if (!url.hostname) throw configError('TRANSFER_URL_INVALID', `${display}: an s3 URL names the bucket as host (s3://bucket/prefix)`)
      return { scheme, url, key: `s3://${url.hostname}`, path: url.pathname, display }
    default:
      throw configError('TRANSFER_SCHEME_UNSUPPORTED', `${display}: scheme "${scheme}" is not supported; use file, sftp, https/http (WebDAV) or s3`)
  }
}

/** Open the backend for a target (its connection, not yet any file). Backends load lazily:
 *  the S3 SDK and ssh2 are heavy, and most commands never touch them (cold start). */
export async function openTransfer(target: Target | string, opts: TransferOptions = {}): Promise<Transfer> {
  const t = typeof target === 'string' ? parseTarget(target) : target
  switch (t.scheme) {
    case 'file':
      return new FileTransfer()
    case 'sftp':
      return (await import('./sftp.js')).SftpTransfer.connect(t.url, opts)
    case 'http':
    case 'https':
      return new (await import('./webdav.js')).WebDavTransfer(t.url, opts)
    case 's3':
      return new (await import('./s3.js')).S3Transfer(t.url, opts)
  }
}

/** Secrets and settings from the environment; explicit options win. Secrets become `Secret`s. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): TransferOptions {
  const o: TransferOptions = {}
  const s = (v: string | undefined) => (v ? new Secret(v) : undefined)
  const set = <K extends keyof TransferOptions>(k: K, v: TransferOptions[K] | undefined) => {
    if (v !== undefined && v !== '') o[k] = v
  }
  set('identity', env.VMGIT_SSH_KEY)
  set('passphrase', s(env.VMGIT_SSH_PASSPHRASE))
  set('knownHosts', env.VMGIT_SSH_KNOWN_HOSTS)
  set('hostFingerprint', env.VMGIT_SSH_HOST_FINGERPRINT?.split(',').map((x) => x.trim()))
  set('token', s(env.VMGIT_DAV_TOKEN))
  set('username', env.VMGIT_DAV_USER)
  set('password', s(env.VMGIT_DAV_PASSWORD))
  set('clientCert', env.VMGIT_DAV_CERT)
  set('clientKey', env.VMGIT_DAV_KEY)
  set('clientKeyPassphrase', s(env.VMGIT_DAV_KEY_PASSPHRASE))
  set('ca', env.VMGIT_DAV_CA)
  set('endpoint', env.VMGIT_S3_ENDPOINT)
  set('region', env.VMGIT_S3_REGION)
  if (env.VMGIT_S3_PATH_STYLE) o.forcePathStyle = /^(1|true|yes)$/i.test(env.VMGIT_S3_PATH_STYLE)
  return o
}

/** One open Transfer per connection key; `optionsFor` picks the options of each target. */
export class TransferPool {
  private readonly open = new Map<string, Promise<Transfer>>()
  constructor(private readonly optionsFor: (t: Target) => TransferOptions = () => optionsFromEnv()) {}

  async get(target: string | Target): Promise<{ transfer: Transfer; target: Target }> {
    const t = typeof target === 'string' ? parseTarget(target) : target
    let p = this.open.get(t.key)
    if (!p) {
      p = openTransfer(t, this.optionsFor(t))
      this.open.set(t.key, p)
      p.catch(() => this.open.delete(t.key))
    }
    return { transfer: await p, target: t }
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()]
    this.open.clear()
    await Promise.all(all.map((p) => p.then((t) => t.close()).catch(() => undefined)))
  }
}

/**
 * Check what landed: the size always, the sha512 too when `expected.sha512` is given and the
 * backend can read back (streams the file once). Throws TRANSFER_VERIFY_FAILED on a difference.
 */
export async function verifyRemote(transfer: Transfer, remotePath: string, expected: { size: number; sha512?: string }): Promise<Digest | { size: number }> {
  const st = await transfer.stat(remotePath)
  const where = `${transfer.location} ${remotePath}`
  if (!st) throw transferError('TRANSFER_VERIFY_FAILED', `${where} is missing right after the upload`)
  if (st.size !== expected.size) throw transferError('TRANSFER_VERIFY_FAILED', `${where} has ${st.size} bytes, expected ${expected.size}; upload again`)
  if (!expected.sha512 || !transfer.canReadBack) return { size: st.size }
  const d = new StreamingDigest()
  for await (const c of (await transfer.createReadStream(remotePath)) as AsyncIterable<Buffer>) d.update(c)
  const got = d.digest()
  if (got.sha512 !== expected.sha512 || got.size !== expected.size) {
    throw transferError('TRANSFER_VERIFY_FAILED', `${where} reads back as sha512 ${got.sha512.slice(0, 16)}… (${got.size} bytes), expected ${expected.sha512.slice(0, 16)}… (${expected.size}); upload again`)
  }
  return got
}
