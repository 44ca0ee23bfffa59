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
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import path from 'node:path'
import type { Readable } from 'node:stream'
import tls from 'node:tls'
import { configError, transferError, type TransferErrorCode } from './errors.js'
import { redactUrl, revealSecret } from './redact.js'
import { tempName, trackTemp } from './temps.js'
import type { PutOptions, PutResult, RemoteEntry, RemoteStat, Transfer, TransferOptions } from './types.js'

interface Req {
  headers?: Record<string, string>
  body?: () => Readable | Buffer
  size?: number
  onProgress?: (sent: number, total: number) => void
}

const readAll = async (res: IncomingMessage, limit = Infinity): Promise<Buffer> => {
  const parts: Buffer[] = []
  let n = 0
  for await (const c of res as AsyncIterable<Buffer>) {
    if (n < limit) parts.push(c)
    n += c.length
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
  private readonly agent: http.Agent
  private readonly auth?: string
  private readonly secrets: (string | undefined)[]
  private readonly timeoutMs: number
  private readonly collections = new Set<string>()

  constructor(url: URL, opts: TransferOptions = {}) {
    this.scheme = url.protocol === 'https:' ? 'https' : 'http'
    this.origin = new URL(`${url.protocol}//${url.host}`)
    this.location = redactUrl(this.origin.href).replace(/\/$/, '')
    this.timeoutMs = opts.timeoutMs ?? 30_000
    const username = decodeURIComponent(url.username) || opts.username
    const password = (url.password ? decodeURIComponent(url.password) : undefined) ?? revealSecret(opts.password)
    const token = revealSecret(opts.token)
    const keyPass = revealSecret(opts.clientKeyPassphrase)
    this.secrets = [password, token, keyPass]
    if (token) this.auth = `Bearer ${token}`
    else if (username && password) this.auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
    if (this.scheme === 'https') {
      const read = (f: string, what: string) => {
        try {
          return readFileSync(f)
        } catch {
          throw configError('TRANSFER_CONFIG', `cannot read the ${what} ${f}`)
        }
      }
      this.agent = new https.Agent({
        keepAlive: true,
        ...(opts.clientCert ? { cert: read(opts.clientCert, 'client certificate') } : {}),
        ...(opts.clientKey || opts.clientCert ? { key: read(opts.clientKey ?? opts.clientCert!, 'client key') } : {}),
        ...(keyPass ? { passphrase: keyPass } : {}),
        ...(opts.ca ? { ca: [...tls.rootCertificates, read(opts.ca, 'CA bundle').toString()] } : {}),
      })
    } else {
      this.agent = new http.Agent({ keepAlive: true })
    }
  }

  private url(p: string): URL {
    return new URL(p, this.origin)
  }

  private fail(code: TransferErrorCode, msg: string, cause?: unknown): never {
    throw transferError(code, msg, this.secrets, cause)
  }

  private async statusError(method: string, u: URL, res: IncomingMessage): Promise<never> {
    const text = (await readAll(res, 2048)).toString('utf8').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)
    const where = `${method} ${redactUrl(u)}`
    // nginx answers a missing/invalid client certificate with 400 "No required SSL certificate was sent" (495/496 inside)
    const certProblem = (res.statusCode === 400 || res.statusCode === 495 || res.statusCode === 496) && /certificate/i.test(text)
    if (res.statusCode === 401 || res.statusCode === 403 || certProblem) {
      this.fail('TRANSFER_AUTH_FAILED', `${where}: ${res.statusCode} ${res.statusMessage ?? ''}; check the token (VMGIT_DAV_TOKEN), the user/password (VMGIT_DAV_USER, VMGIT_DAV_PASSWORD) or the client certificate`)
    }
    this.fail(res.statusCode === 404 ? 'TRANSFER_NOT_FOUND' : 'TRANSFER_FAILED', `${where}: ${res.statusCode} ${res.statusMessage ?? ''}${text ? ` (${text})` : ''}`)
  }

  /** One request; follows up to 5 redirects; resolves with the final response (body unread). */
  private async send(method: string, u: URL, req: Req = {}, hops = 0): Promise<IncomingMessage> {
    const headers: Record<string, string | number> = { ...req.headers }
    if (this.auth && u.origin === this.origin.origin) headers.authorization = this.auth
    if (req.body) {
      headers['content-length'] = req.size ?? 0
      if ((req.size ?? 0) > 0) {
        headers.expect = '100-continue'
        // a refused PUT leaves the connection mid-request: never reuse it
        headers.connection = 'close'
      }
    }
    const mod = u.protocol === 'https:' ? https : http
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = mod.request(u, { method, headers, agent: u.origin === this.origin.origin ? this.agent : undefined, timeout: this.timeoutMs })
      r.on('timeout', () => r.destroy(new Error(`no answer within ${this.timeoutMs} ms`)))
      r.on('error', reject)
      let started = false
      r.on('response', (res) => {
        // answered before we sent the body (auth failure, redirect): drop this connection afterwards
        if (!started) {
          started = true
          if (req.body) res.on('close', () => r.destroy())
        }
        resolve(res)
      })
      const start = () => {
        if (started || !req.body) return
        started = true
        const body = req.body()
        if (Buffer.isBuffer(body)) {
          r.end(body)
          req.onProgress?.(body.length, body.length)
          return
        }
        let sent = 0
        body.on('data', (c: Buffer) => req.onProgress?.((sent += c.length), req.size ?? sent))
        body.on('error', (e) => r.destroy(e))
        body.pipe(r)
      }
      if (headers.expect) {
        r.on('continue', start)
        // servers that ignore Expect get the body after a short wait (RFC 9110 §10.1.1)
        setTimeout(start, 1000).unref()
        r.flushHeaders()
      } else if (req.body) start()
      else r.end()
    }).catch((e: NodeJS.ErrnoException) => {
      const tlsHint = /certificate|ssl|tls|handshake|alert/i.test(e.message ?? '') ? ' (TLS: check the server certificate trust (ca) and the client certificate)' : ''
      return this.fail('TRANSFER_CONNECT_FAILED', `${method} ${redactUrl(u)} failed${tlsHint}`, e)
    })
    const loc = res.headers.location
    if (res.statusCode && [301, 302, 307, 308].includes(res.statusCode) && loc && hops < 5) {
      res.resume()
      return this.send(method, new URL(loc, u), req, hops + 1)
    }
    return res
  }

  /** Make every missing collection above `p`, top-down (a PROPFIND per level until one exists). */
  private async ensureCollections(p: string): Promise<void> {
    const missing: string[] = []
    for (let dir = path.posix.dirname(p); dir !== '/' && dir !== '.'; dir = path.posix.dirname(dir)) {
      const col = dir + '/'
      if (this.collections.has(col)) break
      const res = await this.send('PROPFIND', this.url(col), { headers: { depth: '0' } })
      const code = res.statusCode ?? 0
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
      if (res.statusCode !== 201 && res.statusCode !== 405) await this.statusError('MKCOL', this.url(col), res)
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
      this.agent.destroy()
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
    if (put.statusCode !== 201 && put.statusCode !== 204 && put.statusCode !== 200) await this.statusError('PUT', this.url(tmpPath), put)
    await readAll(put)
    try {
      // atomic replace: the server swaps the complete temp file in
      const mv = await this.send('MOVE', this.url(tmpPath), { headers: { destination: this.url(remotePath).href, overwrite: 'T' } })
      if (mv.statusCode !== 201 && mv.statusCode !== 204) await this.statusError('MOVE', this.url(tmpPath), mv)
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
    if (res.statusCode === 404) {
      res.resume()
      return []
    }
    if (res.statusCode !== 207) return this.statusError('PROPFIND', this.url(dir), res)
    return parseMultistatus((await readAll(res)).toString('utf8'), this.url(dir).pathname)
  }

  async createReadStream(remotePath: string): Promise<Readable> {
    const res = await this.send('GET', this.url(remotePath))
    if (res.statusCode !== 200) await this.statusError('GET', this.url(remotePath), res)
    return res
  }

  async get(remotePath: string): Promise<Buffer> {
    return readAll((await this.createReadStream(remotePath)) as IncomingMessage)
  }

  async stat(remotePath: string): Promise<RemoteStat | undefined> {
    const res = await this.send('HEAD', this.url(remotePath))
    res.resume()
    if (res.statusCode === 404) return undefined
    if (res.statusCode !== 200) return this.statusError('HEAD', this.url(remotePath), res)
    const lm = res.headers['last-modified']
    return { size: Number(res.headers['content-length'] ?? NaN), ...(lm ? { mtime: new Date(lm) } : {}) }
  }

  async delete(remotePath: string): Promise<boolean> {
    const res = await this.send('DELETE', this.url(remotePath))
    await readAll(res)
    if (res.statusCode === 404) return false
    if (res.statusCode !== 200 && res.statusCode !== 204) return this.statusError('DELETE', this.url(remotePath), res)
    return true
  }

  async close(): Promise<void> {
    this.agent.destroy()
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
