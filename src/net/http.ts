import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Readable } from 'node:stream'
import tls from 'node:tls'
import { networkError, VmgitError } from '../util/errors.js'
import { interruptedError, transportError } from './errors.js'
import { connectTunnel, proxyFor } from './proxy.js'
import { type AddressRange, allowed, type Resolver, checkingLookup, classify, isIpLiteral, rangeOfUrl, refused } from './ssrf.js'
import { basicAuthHeader, redactText } from './redact.js'
import { trustedCas } from './trust.js'
import type { OpenResponse } from './body.js'

export { loadCaDirPems } from './trust.js'

/**
 * The only network seam of vmgit (issue 14: every HTTP(S) read and write — verify, import,
 * sub add, sync, image add, --checksums, the WebDAV and S3 backends (sdk-handler.ts), Glance — goes through it; a lint
 * rule forbids node:http, node:https and node:tls elsewhere): node's http/https with hard limits. Every request has
 * a connect timeout, an idle timeout and an overall deadline (attack S13), follows at most
 * `maxRedirects` redirects to http(s) only (S14), verifies TLS always (the site's CA directory is
 * added to the system roots), and sends credentials only to the origin they were given for.
 */
export interface FetchLimits {
  connectTimeoutMs: number
  idleTimeoutMs: number
  /** Overall deadline for the request and its body. */
  deadlineMs: number
  maxRedirects: number
  /** Attack S31: a verified list with more images than this is refused (TOO_MANY_IMAGES). */
  maxImages: number
  /** Attack S32: address ranges (ssrf.ts names) the operator lets every URL reach besides public ones. */
  allowRanges?: readonly string[]
}

/**
 * S31 default: 8192 images per list. The largest lists in use (AppDB VO-wide lists) hold a few
 * hundred, and the S15 crash test applies an 8000-image version atomically, which must keep
 * working; tens of thousands are a mistake or an amplification attack (each image is a row, a
 * possible download and events under the sync lock). Raise it with --max-images / VMGIT_MAX_IMAGES.
 */
export const DEFAULT_MAX_IMAGES = 8192

export const DEFAULT_LIMITS: FetchLimits = { connectTimeoutMs: 30_000, idleTimeoutMs: 60_000, deadlineMs: 300_000, maxRedirects: 5, maxImages: DEFAULT_MAX_IMAGES }
/** Attack S11: a list larger than this is refused (the read aborts at cap + 1 byte). */
export const LIST_SIZE_CAP = 16 * 1024 * 1024

export interface RequestOptions {
  limits: FetchLimits
  headers?: Record<string, string>
  auth?: { username?: string | null; password?: string | null }
  /** Refuse an https → http redirect (lists); images are protected by their sha512 instead. */
  noDowngrade?: boolean
  /**
   * S32: which addresses a connection may reach (ssrf.ts). `signed` (the default: image hv:uri
   * values) allows public addresses and the range the URL itself names; `origin` (operator-chosen
   * list URLs) also trusts where the first URL's host name resolves, and pins that range;
   * `none` checks nothing (endpoints the operator configured for publishing and Glance, whose
   * redirects may lead inside the site: a dCache door sends uploads to its pools).
   */
  addressRule?: 'signed' | 'origin' | 'none'
  /** HTTP method (default GET). A 303 answer turns the next hop into a GET without a body. */
  method?: string
  /** The request body: bytes, or a factory called once per attempt (redirects re-send it). */
  body?: Buffer | string | (() => Readable | Buffer)
  /** The body's size in bytes (Content-Length) when `body` is a factory. */
  bodySize?: number
  /** Send `Expect: 100-continue` and the body only once the server agrees (a refused or redirected upload sends nothing). */
  expectContinue?: boolean
  /** Called with the bytes of the body sent so far. */
  onProgress?: (sent: number, total: number) => void
  /** Headers that carry credentials (a bearer token, X-Auth-Token): sent to the first URL's origin only, like `auth`. */
  originHeaders?: Record<string, string>
  /** false: return a 3xx answer as it is instead of following it. */
  followRedirects?: boolean
  /** Abort the request (and its body) when this signal fires; the promise rejects with REQUEST_ABORTED. */
  signal?: AbortSignal
}

/** A TLS client certificate (WebDAV on dCache). */
export interface ClientCertificate {
  cert: Buffer | string
  key: Buffer | string
  passphrase?: string
}

export interface FetcherOptions {
  /** The site CA directory added to the system roots (IGTF layout). */
  caDir?: string
  /** More CA certificates (PEM) to trust beside the system roots and the CA directory. */
  ca?: readonly (string | Buffer)[]
  clientCert?: ClientCertificate
  env?: Record<string, string | undefined>
  resolve?: Resolver
}

export type { OpenResponse } from './body.js'

class StaleSocket extends Error {}

export class Fetcher {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  private readonly httpsAgent: https.Agent
  private readonly ca: string[]

  /** the DNS resolver behind the S32 connect-time check (tests inject one: no DNS here) */
  private readonly resolve?: Resolver

  /** TLS options of every https connection: trust anchors and the client certificate */
  private readonly tlsOpts: https.AgentOptions

  constructor(opts: FetcherOptions = {}) {
    this.env = opts.env ?? process.env
    if (opts.resolve) this.resolve = opts.resolve
    this.ca = trustedCas(opts.caDir, opts.ca)
    const c = opts.clientCert
    this.tlsOpts = { ca: this.ca, ...(c ? { cert: c.cert, key: c.key, ...(c.passphrase ? { passphrase: c.passphrase } : {}) } : {}) }
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ...this.tlsOpts })
  }

  private readonly env: Record<string, string | undefined>
  /** S32: keep-alive agents per allowed address range, so a socket checked under one range is never reused under another */
  private readonly checked = new Map<string, http.Agent>()

  close(): void {
    this.httpAgent.destroy()
    this.httpsAgent.destroy()
    for (const a of this.checked.values()) a.destroy()
  }

  /** The agent whose connections resolve through the S32 check for `range` (undefined: resolved, not restricted). */
  private agentFor(range: AddressRange | undefined, extra: readonly string[], isHttps: boolean): http.Agent {
    const key = `${range ?? 'any'} ${[...extra].sort().join(',')} ${isHttps ? 'https' : 'http'}`
    let agent = this.checked.get(key)
    if (!agent) {
      const lookup = checkingLookup(range, extra, (address, hostname) => refused(`the host name ${hostname}`, address, range!), this.resolve)
      agent = isHttps ? new https.Agent({ keepAlive: true, maxSockets: 8, ...this.tlsOpts, lookup }) : new http.Agent({ keepAlive: true, maxSockets: 8, lookup })
      this.checked.set(key, agent)
    }
    return agent
  }

  /** GET `url`, following redirects; resolves once the final response's headers have arrived. */
  async open(url: string, opts: RequestOptions): Promise<OpenResponse> {
    const started = Date.now()
    const origin = new URL(url).origin
    let current = new URL(url)
    const first = redactText(current.href)
    // S32: the range connections may reach besides public addresses; `origin` with a host name pins it at the first connection
    const literal = isIpLiteral(current.hostname) || rangeOfUrl(current) === 'loopback'
    const rule = opts.addressRule ?? 'signed'
    let range: AddressRange | undefined = rule === 'none' ? undefined : rule === 'signed' || literal ? rangeOfUrl(current) : undefined
    let send: Send = { method: opts.method ?? 'GET', ...pick(opts) }
    for (let hop = 0; ; hop++) {
      const remaining = opts.limits.deadlineMs - (Date.now() - started)
      const headers: Record<string, string> = { 'user-agent': 'vmgit', ...opts.headers }
      // credentials go to the origin they were given for, never to where a redirect points
      const auth = current.origin === origin ? basicAuthHeader(opts.auth?.username, opts.auth?.password) : undefined
      if (auth) headers.authorization = auth
      if (current.origin === origin) Object.assign(headers, opts.originHeaders)
      let r: OpenResponse
      const check = { range, first }
      try {
        r = await this.once(current, headers, opts.limits, Math.max(remaining, 1), check, send)
      } catch (e) {
        // a kept-alive socket the server closed meanwhile: retry once on a fresh connection
        if (!(e instanceof StaleSocket)) throw e
        r = await this.once(current, headers, opts.limits, Math.max(remaining, 1), check, send)
      }
      if (range === undefined && rule !== 'none') range = r.remoteAddress && !proxyFor(current, this.env) ? classify(r.remoteAddress) : rangeOfUrl(current)
      const loc = r.headers.location
      if ([301, 302, 303, 307, 308].includes(r.status) && loc && opts.followRedirects !== false) {
        r.close()
        if (hop >= opts.limits.maxRedirects) {
          throw networkError('TOO_MANY_REDIRECTS', `${redactText(url)} redirected more than ${opts.limits.maxRedirects} times; fix the URL or the server`)
        }
        const next = new URL(loc, current)
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new VmgitError('REDIRECT_SCHEME', `${redactText(current.href)} redirected to a ${next.protocol} URL; only http(s) redirects are followed`)
        }
        if (opts.noDowngrade && current.protocol === 'https:' && next.protocol === 'http:') {
          throw new VmgitError('REDIRECT_DOWNGRADE', `${redactText(current.href)} redirected from https to plain http (${redactText(next.href)}); refused`)
        }
        current = next
        if (r.status === 303 && send.method !== 'HEAD') send = { method: 'GET' }
        continue
      }
      return r
    }
  }

  private async once(u: URL, headers: Record<string, string>, limits: FetchLimits, deadlineMs: number, check: { range: AddressRange | undefined; first: string }, send: Send = { method: 'GET' }): Promise<OpenResponse> {
    const shown = send.method === 'GET' ? redactText(u.href) : `${send.method} ${redactText(u.href)}`
    if (send.signal?.aborted) throw abortedError(shown)
    const isHttps = u.protocol === 'https:'
    const proxy = proxyFor(u, this.env)
    const port = Number(u.port || (isHttps ? 443 : 80))
    const host = u.hostname.replace(/^\[|\]$/g, '')
    // S32: an IP literal is never looked up, so it is checked here, before any connection (proxied or not)
    if (check.range !== undefined && isIpLiteral(host) && !allowed(host, check.range, limits.allowRanges)) throw refused(shown, host, check.range, check.first)
    let tunnel: import('node:net').Socket | undefined
    if (proxy && isHttps) {
      try {
        tunnel = await connectTunnel(proxy, u.hostname, port, limits.connectTimeoutMs)
      } catch (e) {
        throw transportError(shown, e as Error)
      }
    }
    return new Promise<OpenResponse>((resolve, reject) => {
      let settled = false
      let res: IncomingMessage | undefined
      const fail = (e: Error): void => {
        clearTimeout(deadline)
        clearTimeout(connectTimer)
        send.signal?.removeEventListener('abort', onAbort)
        req.destroy(e)
        res?.destroy(e)
        if (!settled) {
          settled = true
          reject(e)
        }
      }
      const size = send.body === undefined ? undefined : typeof send.body === 'function' ? (send.bodySize ?? 0) : Buffer.byteLength(send.body)
      const reqHeaders: Record<string, string | number> = { ...headers, host: u.host }
      if (size !== undefined) reqHeaders['content-length'] = size
      if (size && send.expectContinue) {
        reqHeaders.expect = '100-continue'
        // a refused upload leaves the connection mid-request: never reuse it
        reqHeaders.connection = 'close'
      }
      const reqOpts: https.RequestOptions = { method: send.method, headers: reqHeaders, timeout: limits.idleTimeoutMs }
      if (proxy && !isHttps) {
        if (proxy.username !== '') reqHeaders['proxy-authorization'] = basicAuthHeader(decodeURIComponent(proxy.username), decodeURIComponent(proxy.password))!
        Object.assign(reqOpts, { host: proxy.hostname, port: proxy.port || 80, path: u.href, agent: this.httpAgent })
      } else {
        // an IPv6 literal without its URL brackets (getaddrinfo does not know "[::1]")
        Object.assign(reqOpts, { host, port, path: u.pathname + u.search })
        // SNI carries host names only (RFC 6066), never an IP address
        if (isHttps && net.isIP(u.hostname.replace(/^\[|\]$/g, '')) === 0) reqOpts.servername = u.hostname
        if (isHttps && tunnel) {
          // TLS inside the CONNECT tunnel, verified against the target host like a direct connection
          const sock = tunnel
          const agent = new https.Agent({ ...this.tlsOpts })
          Object.assign(agent, { createConnection: (o: tls.ConnectionOptions) => tls.connect({ ...o, socket: sock }) })
          reqOpts.agent = agent
        } else if ((check.range !== undefined || this.resolve) && !isIpLiteral(host)) {
          // S32: the name is resolved and every address checked at connect time (no rebinding window)
          reqOpts.agent = this.agentFor(check.range, limits.allowRanges ?? [], isHttps)
        } else {
          reqOpts.agent = isHttps ? this.httpsAgent : this.httpAgent
        }
      }
      const req = (isHttps ? https : http).request(reqOpts)
      // an overall deadline beyond what a timer holds (2^31 ms, about 24 days) is no deadline
      const deadline = deadlineMs < 2 ** 31 - 1
        ? setTimeout(() => fail(networkError('FETCH_DEADLINE', `${shown}: not complete within ${Math.round(deadlineMs / 1000)} s; the server is too slow or stalled`)), deadlineMs)
        : undefined
      const onAbort = (): void => fail(abortedError(shown))
      send.signal?.addEventListener('abort', onAbort, { once: true })
      let connectTimer: NodeJS.Timeout | undefined
      req.on('socket', (s) => {
        if (!s.connecting) return
        connectTimer = setTimeout(() => fail(networkError('FETCH_CONNECT_TIMEOUT', `${shown}: no connection within ${Math.round(limits.connectTimeoutMs / 1000)} s`)), limits.connectTimeoutMs)
        s.once('connect', () => clearTimeout(connectTimer))
      })
      req.on('timeout', () => fail(networkError('FETCH_IDLE_TIMEOUT', `${shown}: no data for ${Math.round(limits.idleTimeoutMs / 1000)} s; the server stalled`)))
      req.on('error', (e) => {
        if (e instanceof VmgitError) return fail(e)
        if (!res && req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return fail(new StaleSocket())
        // a connection that broke after the answer began is an interrupted body, not a failed connect
        fail(res ? interruptedError(shown, e) : transportError(shown, e))
      })
      req.on('response', (r) => {
        res = r
        settled = true
        const done = (): void => {
          clearTimeout(deadline)
          clearTimeout(connectTimer)
          send.signal?.removeEventListener('abort', onAbort)
        }
        r.once('end', done)
        r.once('close', done)
        resolve({
          status: r.statusCode ?? 0,
          headers: r.headers,
          url: shown,
          ...(req.socket?.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
          body: r,
          close: () => {
            done()
            r.destroy()
            req.destroy()
          },
          release: () => {
            // RFC 9110 §6.4.1: these answers end with their headers; reading that end frees the socket for reuse
            if (r.statusCode === 304 || r.statusCode === 204 || send.method === 'HEAD') r.resume()
            else {
              done()
              r.destroy()
              req.destroy()
            }
          },
        })
      })
      startBody(req, send, size)
    })
  }
}

/** What a hop sends besides headers (a 303 drops the body). */
interface Send {
  method: string
  body?: RequestOptions['body']
  bodySize?: number
  expectContinue?: boolean
  onProgress?: RequestOptions['onProgress']
  signal?: AbortSignal
}

const pick = (o: RequestOptions): Omit<Send, 'method'> => ({
  ...(o.body !== undefined ? { body: o.body } : {}),
  ...(o.bodySize !== undefined ? { bodySize: o.bodySize } : {}),
  ...(o.expectContinue ? { expectContinue: true } : {}),
  ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  ...(o.signal ? { signal: o.signal } : {}),
})

const abortedError = (shown: string): VmgitError => networkError('REQUEST_ABORTED', `${shown} was aborted`)

/** Send the body (at once, or after 100 Continue / a 1 s wait for servers that ignore Expect, RFC 9110 §10.1.1). */
function startBody(req: http.ClientRequest, send: Send, size: number | undefined): void {
  if (send.body === undefined) {
    req.end()
    return
  }
  let started = false
  const start = (): void => {
    if (started || req.destroyed) return
    started = true
    const body = typeof send.body === 'function' ? send.body() : Buffer.from(send.body!)
    if (Buffer.isBuffer(body)) {
      req.end(body)
      send.onProgress?.(body.length, body.length)
      return
    }
    let sent = 0
    body.on('data', (c: Buffer) => send.onProgress?.((sent += c.length), size ?? sent))
    body.on('error', (e) => req.destroy(e))
    req.once('close', () => body.destroy())
    body.pipe(req)
  }
  // an answer before the body was sent (auth failure, redirect): the body is never sent on this connection
  req.once('response', () => {
    started = true
  })
  if (size && send.expectContinue) {
    req.on('continue', start)
    setTimeout(start, 1000).unref()
    req.flushHeaders()
  } else start()
}

export { guardedBody, httpStatusError, readCapped } from './body.js'
