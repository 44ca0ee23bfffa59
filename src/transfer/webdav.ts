/**
 * `https://` / `http://` WebDAV backend (nginx dav, Apache mod_dav, dCache). put = make missing
 * collections (MKCOL, parents first: strict servers refuse a PUT into a missing collection), PUT to a
 * temp name beside the target, then MOVE with `Overwrite: T` (atomic on the server). Auth: bearer
 * token, basic (URL userinfo or options), or an X.509 client certificate (dCache). Redirects
 * (dCache doors send PUT/GET to pools) are followed for the same request; `Expect: 100-continue`
 * keeps a refused or redirected PUT from sending the whole image first.
 */
import { createReadStream, readFileSync } from 'node:fs'
import { stat as fsStat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { type FetchLimits, Fetcher, guardedBody, type OpenResponse } from '../net/http.js'
import { redactUrl, revealSecret } from '../net/redact.js'
import { transferLimits } from '../net/source.js'
import { caDirFromEnv } from '../net/trust.js'
import { configError, fromNetError, transferError, type TransferErrorCode } from './errors.js'
import { tempName, trackTemp } from './temps.js'
import type { PutOptions, PutResult, RemoteEntry, RemoteStat, Transfer, TransferOptions } from './types.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

interface Req {
  headers?: Record<string, string>
  body?: () => Readable | Buffer
  size?: number
  onProgress?: (sent: number, total: number) => void
}

const readAll = async (res: OpenResponse, limit = Infinity): Promise<Buffer> => {
  const parts: Buffer[] = []
  let n = 0
  try {
    for await (const c of guardedBody(res)) {
      if (n < limit) parts.push(c)
      n += c.length
    }
  } catch (e) {
    // an answer that stalls, trickles past VMGIT_DEADLINE or breaks off: the transfer code, as for a failed request
    throw fromNetError(e)
  }
  return Buffer.concat(parts)
}

export class WebDavTransfer implements Transfer {
  readonly scheme: 'http' | 'https'
  readonly canReadBack = true
  // nginx dav-ext leaves dot files out of PROPFIND (found by the chaos test): temp files and
  // markers get visible names here, or a killed run's temp files could never be found again
  readonly listsDotFiles = false
  readonly location: string
  private readonly origin: URL
  /** the one network client (src/net/): proxies, the CA directory + `ca`, the client certificate, timeouts */
  private readonly fetcher: Fetcher
  /** SIGINT/SIGTERM cut the requests in flight (trackTemp); a fresh controller serves the clean-up after */
  private aborter = new AbortController()
  private readonly limits: FetchLimits
  private readonly auth?: string
  private readonly secrets: (string | undefined)[]
  private readonly collections = new Set<string>()

  constructor(url: URL, opts: TransferOptions = {}) {
    this.scheme = url.protocol === 'https:' ? 'https' : 'http'
    this.origin = new URL(`${url.protocol}//${url.host}`)
    this.location = redactUrl(this.origin.href).replace(/\/$/, '')
    // an upload may take hours: no overall deadline unless VMGIT_DEADLINE says so, but no connection and
    // no byte for the timeout fails (timeoutMs, else VMGIT_CONNECT_TIMEOUT / VMGIT_IDLE_TIMEOUT, else 30 s)
    this.limits = { ...transferLimits(opts.timeoutMs, { connectMs: 30_000, idleMs: 30_000 }), maxRedirects: 5 }
    const username = decodeURIComponent(url.username) || opts.username
    const password = (url.password ? decodeURIComponent(url.password) : undefined) ?? revealSecret(opts.password)
    const token = revealSecret(opts.token)
    const keyPass = revealSecret(opts.clientKeyPassphrase)
    this.secrets = [password, token, keyPass, url.username ? decodeURIComponent(url.username) : undefined]
    if (token) this.auth = `Bearer ${token}`
    else if (username && password) this.auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
    // a server echoing the header back shows the encoded credential: masked like the secrets themselves
    if (this.auth) this.secrets.push(this.auth.replace(/^\S+ /, ''))
    const read = (f: string, what: string) => {
      checkRegularFile(f, what, CAP.credential)
      try {
        return readFileSync(f)
      } catch {
        throw configError('TRANSFER_CONFIG', `cannot read the ${what} ${f}`)
      }
    }
    const cert = this.scheme === 'https' && opts.clientCert ? read(opts.clientCert, 'client certificate') : undefined
    const key = this.scheme === 'https' && (opts.clientKey || opts.clientCert) ? read(opts.clientKey ?? opts.clientCert!, 'client key') : undefined
    this.fetcher = new Fetcher({
      caDir: caDirFromEnv(undefined),
      ...(this.scheme === 'https' && opts.ca ? { ca: [read(opts.ca, 'CA bundle')] } : {}),
      ...(cert && key ? { clientCert: { cert, key, ...(keyPass ? { passphrase: keyPass } : {}) } } : {}),
    })
  }

  private url(p: string): URL {
    return new URL(p, this.origin)
  }

  private fail(code: TransferErrorCode, msg: string, cause?: unknown): never {
    throw transferError(code, msg, this.secrets, cause)
  }

  private async statusError(method: string, u: URL, res: OpenResponse): Promise<never> {
    const text = (await readAll(res, 2048).catch(() => Buffer.alloc(0))).toString('utf8').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)
    const where = `${method} ${redactUrl(u)}`
    // nginx answers a missing/invalid client certificate with 400 "No required SSL certificate was sent" (495/496 inside)
    const certProblem = (res.status === 400 || res.status === 495 || res.status === 496) && /certificate/i.test(text)
    if (res.status === 401 || res.status === 403 || certProblem) {
      this.fail('TRANSFER_AUTH_FAILED', `${where}: ${res.status}; check the token (VMGIT_DAV_TOKEN), the user/password (VMGIT_DAV_USER, VMGIT_DAV_PASSWORD) or the client certificate`)
    }
    // TRANSFER_NOT_FOUND: the backend contract (file, sftp, s3 and WebDAV say the same for a missing remote file)
    this.fail(res.status === 404 ? 'TRANSFER_NOT_FOUND' : 'TRANSFER_FAILED', `${where}: ${res.status}${text ? ` (${text})` : ''}`)
  }

  /** One request through src/net (up to 5 redirects, credentials to this origin only); resolves with the final response (body unread). */
  private async send(method: string, u: URL, req: Req = {}): Promise<OpenResponse> {
    try {
      return await this.fetcher.open(u.href, {
        limits: this.limits,
        method,
        // operator-configured endpoint: no S32 address rule (a dCache door may send to pools inside the site)
        addressRule: 'none',
        ...(req.headers ? { headers: req.headers } : {}),
        ...(this.auth ? { originHeaders: { authorization: this.auth } } : {}),
        ...(req.body ? { body: req.body, bodySize: req.size ?? 0, expectContinue: true } : {}),
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        signal: this.aborter.signal,
      })
    } catch (e) {
      // a publish backend speaks the transfer contract (file, sftp, s3 and WebDAV alike): the
      // network code of src/net becomes TRANSFER_CONNECT_FAILED / TRANSFER_FAILED, and stays in details.net
      throw fromNetError(e, this.secrets)
    }
  }

  /** Make every missing collection above `p`, top-down (a PROPFIND per level until one exists). */
  private async ensureCollections(p: string): Promise<void> {
    const missing: string[] = []
    for (let dir = path.posix.dirname(p); dir !== '/' && dir !== '.'; dir = path.posix.dirname(dir)) {
      const col = dir + '/'
      if (this.collections.has(col)) break
      const res = await this.send('PROPFIND', this.url(col), { headers: { depth: '0' } })
      const code = res.status ?? 0
      if (code === 404 || code === 409) {
        await readAll(res)
        missing.unshift(col)
        continue
      }
      // 2xx: it exists; 405/501: no PROPFIND here, so assume it exists and let the PUT tell
      if (!(code >= 200 && code < 300) && code !== 405 && code !== 501) return this.statusError('PROPFIND', this.url(col), res)
      await readAll(res)
      this.collections.add(col)
      break
    }
    for (const col of missing) {
      const res = await this.send('MKCOL', this.url(col))
      // 405: it exists already (someone else made it meanwhile)
      if (res.status !== 201 && res.status !== 405) await this.statusError('MKCOL', this.url(col), res)
      await readAll(res)
      this.collections.add(col)
    }
  }

  async put(source: string | Buffer, remotePath: string, opts: PutOptions = {}): Promise<PutResult> {
    const size = typeof source === 'string' ? (await fsStat(source)).size : source.length
    const tmpPath = path.posix.join(path.posix.dirname(remotePath), tempName(path.posix.basename(remotePath), this.listsDotFiles))
    await this.ensureCollections(remotePath)
    // SIGINT/SIGTERM: cut the PUT (the server drops an incomplete body) and delete a completed temp file
    const untrack = trackTemp(async () => {
      this.aborter.abort()
      this.aborter = new AbortController()
      await this.delete(tmpPath)
    })
    try {
      return await this.putVia(source, tmpPath, remotePath, size, opts)
    } finally {
      untrack()
    }
  }

  private async putVia(source: string | Buffer, tmpPath: string, remotePath: string, size: number, opts: PutOptions): Promise<PutResult> {
    const body = () => (typeof source === 'string' ? createReadStream(source, { highWaterMark: 1 << 20 }) : source)
    const headers = { 'content-type': opts.contentType ?? 'application/octet-stream' }
    const put = await this.send('PUT', this.url(tmpPath), { headers, body, size, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) })
    if (put.status !== 201 && put.status !== 204 && put.status !== 200) await this.statusError('PUT', this.url(tmpPath), put)
    await readAll(put)
    try {
      // atomic replace: the server swaps the complete temp file in
      const mv = await this.send('MOVE', this.url(tmpPath), { headers: { destination: this.url(remotePath).href, overwrite: 'T' } })
      if (mv.status !== 201 && mv.status !== 204) await this.statusError('MOVE', this.url(tmpPath), mv)
      await readAll(mv)
    } catch (e) {
      await this.delete(tmpPath).catch(() => undefined)
      throw e
    }
    return { size }
  }

  async list(remoteDir: string): Promise<RemoteEntry[]> {
    const dir = remoteDir.endsWith('/') ? remoteDir : remoteDir + '/'
    const res = await this.send('PROPFIND', this.url(dir), { headers: { depth: '1' } })
    if (res.status === 404) {
      res.close()
      return []
    }
    if (res.status !== 207) return this.statusError('PROPFIND', this.url(dir), res)
    return parseMultistatus((await readAll(res)).toString('utf8'), this.url(dir).pathname)
  }

  async createReadStream(remotePath: string): Promise<Readable> {
    const res = await this.send('GET', this.url(remotePath))
    if (res.status !== 200) await this.statusError('GET', this.url(remotePath), res)
    // a connection that breaks mid-body is DOWNLOAD_INTERRUPTED (exit 3), a stall FETCH_IDLE_TIMEOUT
    return Readable.from(guardedBody(res), { objectMode: false })
  }

  async get(remotePath: string): Promise<Buffer> {
    const res = await this.send('GET', this.url(remotePath))
    if (res.status !== 200) await this.statusError('GET', this.url(remotePath), res)
    return readAll(res)
  }

  async stat(remotePath: string): Promise<RemoteStat | undefined> {
    const res = await this.send('HEAD', this.url(remotePath))
    res.close()
    if (res.status === 404) return undefined
    if (res.status !== 200) return this.statusError('HEAD', this.url(remotePath), res)
    const lm = res.headers['last-modified']
    return { size: Number(res.headers['content-length'] ?? NaN), ...(lm ? { mtime: new Date(lm) } : {}) }
  }

  async delete(remotePath: string): Promise<boolean> {
    const res = await this.send('DELETE', this.url(remotePath))
    await readAll(res)
    if (res.status === 404) return false
    if (res.status !== 200 && res.status !== 204) return this.statusError('DELETE', this.url(remotePath), res)
    return true
  }

  async close(): Promise<void> {
    this.fetcher.close()
  }
}

const tag = (body: string, name: string): string | undefined => new RegExp(`<(?:[\\w-]+:)?${name}\\b[^>]*>([\\s\\S]*?)</(?:[\\w-]+:)?${name}>`).exec(body)?.[1]
const xmlText = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')

/** The files (not collections) of a PROPFIND Depth: 1 answer, directly below `dirPath`. */
export function parseMultistatus(xml: string, dirPath: string): RemoteEntry[] {
  const out: RemoteEntry[] = []
  for (const m of xml.matchAll(/<(?:[\w-]+:)?response\b[^>]*>([\s\S]*?)<\/(?:[\w-]+:)?response>/g)) {
    const body = m[1]!
    const href = tag(body, 'href')
    if (!href || /<(?:[\w-]+:)?collection\b/.test(tag(body, 'resourcetype') ?? '')) continue
    const p = decodeURIComponent(new URL(xmlText(href.trim()), 'http://x').pathname)
    // only direct children of the directory asked for
    if (path.posix.dirname(p) + '/' !== decodeURIComponent(dirPath)) continue
    const len = tag(body, 'getcontentlength')
    const lm = tag(body, 'getlastmodified')
    out.push({ name: path.posix.basename(p), size: len === undefined ? NaN : Number(len.trim()), ...(lm ? { mtime: new Date(lm.trim()) } : {}) })
  }
  return out
}
