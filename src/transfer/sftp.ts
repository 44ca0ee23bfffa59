/**
 * `sftp://[user@]host[:port]/absolute/path` backend (ssh2-sftp-client). A path starting `/~/` is
 * relative to the login directory. Auth: key file (OpenSSH or PEM, optional passphrase), the ssh
 * agent ($SSH_AUTH_SOCK), or a password. The host key must be known (hostkey.ts).
 * put = upload to a temp name in the target directory, then posix-rename@openssh.com over it.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import SftpClient from 'ssh2-sftp-client'
import { configError, transferError, type TransferErrorCode } from './errors.js'
import { checkHostKey, knownTypesFor, normaliseFingerprint, parseKnownHosts, type HostKeyVerdict, type KnownHostEntry } from './hostkey.js'
import { redactUrl, revealSecret } from '../net/redact.js'
import type { PutOptions, PutResult, RemoteStat, Transfer, TransferOptions } from './types.js'

const RSA_ALGOS = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
const toList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

export class SftpTransfer implements Transfer {
  readonly scheme = 'sftp' as const
  readonly canReadBack = true
  readonly location: string
  private readonly client = new SftpClient('vmgit')
  private readonly madeDirs = new Set<string>()
  /** read streams still open: close() waits for their remote handles */
  private readonly streams = new Set<Readable>()
  private readonly secrets: (string | undefined)[]

  private constructor(location: string, secrets: (string | undefined)[]) {
    this.location = location
    this.secrets = secrets
  }

  static async connect(url: URL, opts: TransferOptions = {}): Promise<SftpTransfer> {
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const port = url.port ? Number(url.port) : 22
    const username = decodeURIComponent(url.username) || opts.username || os.userInfo().username
    const password = (url.password ? decodeURIComponent(url.password) : undefined) ?? revealSecret(opts.password)
    const passphrase = revealSecret(opts.passphrase)
    const secrets = [password, passphrase]
    const location = redactUrl(`sftp://${username}@${url.host}`)
    const t = new SftpTransfer(location, secrets)

    // host key policy: pinned fingerprints replace known_hosts
    let fingerprints: string[]
    try {
      fingerprints = toList(opts.hostFingerprint).map(normaliseFingerprint)
    } catch (e) {
      throw configError('TRANSFER_CONFIG', (e as Error).message)
    }
    const sources = toList(opts.knownHosts ?? path.join(os.homedir(), '.ssh', 'known_hosts')).filter((f) => existsSync(f))
    const entries: KnownHostEntry[] = fingerprints.length ? [] : sources.flatMap((f) => parseKnownHosts(readFileSync(f, 'utf8'), f))
    let verdict: HostKeyVerdict | undefined
    const hostVerifier = (key: Buffer): boolean => {
      verdict = checkHostKey(key, host, port, { entries, fingerprints, sources })
      return verdict.ok
    }
    // ask for a key type we can check, so a known ed25519 host is not refused for offering RSA first
    const known = knownTypesFor(entries, host, port).flatMap((k) => (k === 'ssh-rsa' ? RSA_ALGOS : [k]))

    let privateKey: Buffer | undefined
    if (opts.identity) {
      try {
        privateKey = readFileSync(opts.identity)
      } catch {
        throw configError('TRANSFER_CONFIG', `cannot read the ssh key ${opts.identity}; check the target's identity option or VMGIT_SSH_KEY`)
      }
    }
    const agent = privateKey || password ? undefined : (opts.agent ?? process.env.SSH_AUTH_SOCK)
    if (!privateKey && !password && !agent) {
      throw configError('TRANSFER_CONFIG', `no ssh credentials for ${location}: set the target's identity (a private key file), VMGIT_SSH_KEY, or run an ssh agent (SSH_AUTH_SOCK)`)
    }
    try {
      await t.client.connect({
        host,
        port,
        username,
        ...(privateKey ? { privateKey, ...(passphrase ? { passphrase } : {}) } : {}),
        ...(password ? { password } : {}),
        ...(agent ? { agent } : {}),
        hostVerifier,
        ...(known.length ? { algorithms: { serverHostKey: known as never } } : {}),
        readyTimeout: opts.timeoutMs ?? 30_000,
        retries: 0,
      } as SftpClient.ConnectOptions)
    } catch (e) {
      await t.client.end().catch(() => undefined)
      if (verdict && !verdict.ok) throw transferError(verdict.code, verdict.message)
      const msg = (e as Error).message ?? String(e)
      let code: TransferErrorCode = 'TRANSFER_CONNECT_FAILED'
      let hint = 'check the host, port and that sshd is running'
      if (/authentication|auth methods|permission denied/i.test(msg)) {
        code = 'TRANSFER_AUTH_FAILED'
        hint = `the server refused ${username}'s credentials; check the key (identity), its passphrase, or the agent`
      } else if (/passphrase|encrypted|parse|privateKey/i.test(msg)) {
        code = 'TRANSFER_AUTH_FAILED'
        hint = 'the private key could not be used; check the passphrase (VMGIT_SSH_PASSPHRASE) and the key format'
      }
      throw transferError(code, `cannot connect to ${location} (${hint})`, secrets, e)
    }
    // without TCP_NODELAY put() crawls at ~2 MB/s (design.md)
    ;(t.client as unknown as { client: { setNoDelay(v: boolean): void } }).client.setNoDelay(true)
    return t
  }

  /** `/~/rel` → `rel` (relative to the login directory); other paths are absolute. */
  private resolve(p: string): string {
    return p.startsWith('/~/') ? p.slice(3) : p
  }

  private fail(code: TransferErrorCode, what: string, e: unknown): never {
    throw transferError(code, `${what} on ${this.location}`, this.secrets, e)
  }

  private async mkdirp(dir: string): Promise<void> {
    if (dir === '' || dir === '.' || dir === '/' || this.madeDirs.has(dir)) return
    if (!(await this.client.exists(dir))) await this.client.mkdir(dir, true)
    this.madeDirs.add(dir)
  }

  async put(source: string | Buffer, remotePath: string, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.resolve(remotePath)
    const dir = path.posix.dirname(target)
    const tmp = path.posix.join(dir, `.${path.posix.basename(target)}.vmgit-${randomBytes(6).toString('hex')}.tmp`)
    let size: number
    try {
      await this.mkdirp(dir)
      if (typeof source === 'string') {
        await this.client.fastPut(source, tmp, {
          // 2 MiB in flight as 128 KiB requests: OpenSSH's channel window is 2 MiB, so more only
          // queues in ssh2's buffers (32 requests measured ~15% slower on loopback, bench/publish-sftp.mjs)
          concurrency: 16,
          chunkSize: 128 * 1024,
          step: (sent: number, _chunk: number, total: number) => opts.onProgress?.(sent, total),
        })
      } else {
        await this.client.put(source, tmp)
        opts.onProgress?.(source.length, source.length)
      }
      size = (await this.client.stat(tmp)).size
      // atomic replace: readers see the old or the new file
      await this.client.posixRename(tmp, target)
    } catch (e) {
      await this.client.delete(tmp, true).catch(() => undefined)
      this.fail('TRANSFER_FAILED', `cannot upload ${target}`, e)
    }
    return { size }
  }

  async get(remotePath: string): Promise<Buffer> {
    const p = this.resolve(remotePath)
    if (!(await this.stat(remotePath))) this.fail('TRANSFER_NOT_FOUND', `${p} does not exist`, undefined)
    try {
      return (await this.client.get(p)) as Buffer
    } catch (e) {
      this.fail('TRANSFER_FAILED', `cannot read ${p}`, e)
    }
  }

  async createReadStream(remotePath: string): Promise<Readable> {
    const p = this.resolve(remotePath)
    if (!(await this.stat(remotePath))) this.fail('TRANSFER_NOT_FOUND', `${p} does not exist`, undefined)
    const s = this.client.createReadStream(p, { highWaterMark: 1 << 20 } as never) as unknown as Readable
    // after the last byte the stream still closes its remote handle; a failure of that close (the
    // channel ended first: ssh2's "No response from server") concerns no byte the reader got
    s.once('end', () => s.on('error', () => undefined))
    this.streams.add(s)
    s.once('close', () => this.streams.delete(s))
    return s
  }

  async stat(remotePath: string): Promise<RemoteStat | undefined> {
    const p = this.resolve(remotePath)
    try {
      if (!(await this.client.exists(p))) return undefined
      const s = await this.client.stat(p)
      return { size: s.size, mtime: new Date(s.modifyTime) }
    } catch (e) {
      this.fail('TRANSFER_FAILED', `cannot stat ${p}`, e)
    }
  }

  async delete(remotePath: string): Promise<boolean> {
    const p = this.resolve(remotePath)
    try {
      if (!(await this.client.exists(p))) return false
      await this.client.delete(p, true)
      return true
    } catch (e) {
      this.fail('TRANSFER_FAILED', `cannot delete ${p}`, e)
    }
  }

  async close(): Promise<void> {
    // let read streams close their remote handles before the channel goes (bounded wait)
    await Promise.all([...this.streams].map((st) => new Promise((r) => {
      st.once('close', r)
      setTimeout(r, 5000).unref()
    })))
    await this.client.end().catch(() => undefined)
  }
}
