import { readdirSync, readFileSync } from 'node:fs'
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { networkError, VmgitError } from '../util/errors.js'
import { connectTunnel, proxyFor } from './proxy.js'
import { type AddressRange, allowed, type Resolver, checkingLookup, classify, isIpLiteral, rangeOfUrl, refused } from './ssrf.js'
import { basicAuthHeader, redactText } from './redact.js'

/**
 * The only network seam of the subscriber: node's http/https with hard limits. Every request has
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
   * list URLs) also trusts where the first URL's host name resolves, and pins that range.
   */
  addressRule?: 'signed' | 'origin'
  /** HTTP method (default GET). Only GET and HEAD follow redirects: a request body is never replayed elsewhere. */
  method?: string
  /** The request body: bytes, or a stream read once (then a stale keep-alive socket is not retried). */
  body?: Buffer | NodeJS.ReadableStream
  /** A ready Authorization value (a registry's Bearer token); like `auth`, sent to the first URL's origin only. */
  authorization?: string
}

export interface OpenResponse {
  status: number
  headers: IncomingMessage['headers']
  /** The URL that answered, after redirects (without credentials). */
  url: string
  /** The peer the response came from (the proxy, when there is one). */
  remoteAddress?: string
  body: AsyncIterable<Buffer>
  /** Abort the transfer (and free its socket). */
  close(): void
}

/** Extra trust anchors for https: the PEM files of the site CA directory (IGTF `<hash>.0`). */
export function loadCaDirPems(dir: string | undefined): string[] {
  if (!dir) return []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const pems: string[] = []
  for (const n of names.sort()) {
    if (!/\.(\d+|pem|crt)$/.test(n)) continue
    try {
      const text = readFileSync(path.join(dir, n), 'utf8')
      if (text.includes('-----BEGIN CERTIFICATE-----')) pems.push(text)
    } catch {
      // unreadable entry: skip
    }
  }
  return pems
}

class StaleSocket extends Error {}

export class Fetcher {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  private readonly httpsAgent: https.Agent
  private readonly ca: string[]

  /** the DNS resolver behind the S32 connect-time check (tests inject one: no DNS here) */
  private readonly resolve?: Resolver

  constructor(opts: { caDir?: string; env?: Record<string, string | undefined>; resolve?: Resolver } = {}) {
    this.env = opts.env ?? process.env
    if (opts.resolve) this.resolve = opts.resolve
    this.ca = [...tls.rootCertificates, ...loadCaDirPems(opts.caDir)]
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: this.ca })
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
      agent = isHttps ? new https.Agent({ keepAlive: true, maxSockets: 8, ca: this.ca, lookup }) : new http.Agent({ keepAlive: true, maxSockets: 8, lookup })
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
    let range: AddressRange | undefined = (opts.addressRule ?? 'signed') === 'signed' || literal ? rangeOfUrl(current) : undefined
    for (let hop = 0; ; hop++) {
      const remaining = opts.limits.deadlineMs - (Date.now() - started)
      const headers: Record<string, string> = { 'user-agent': 'vmgit', ...opts.headers }
      const auth = current.origin === origin ? (opts.authorization ?? basicAuthHeader(opts.auth?.username, opts.auth?.password)) : undefined
      if (auth) headers.authorization = auth
      let r: OpenResponse
      const check = { range, first, method: opts.method ?? 'GET', body: opts.body }
      try {
        r = await this.once(current, headers, opts.limits, Math.max(remaining, 1), check)
      } catch (e) {
        // a kept-alive socket the server closed meanwhile: retry once on a fresh connection (a stream body cannot be sent twice)
        if (!(e instanceof StaleSocket)) throw e
        if (opts.body !== undefined && !Buffer.isBuffer(opts.body)) throw networkError('FETCH_FAILED', `${redactText(current.href)}: the connection was reset`)
        r = await this.once(current, headers, opts.limits, Math.max(remaining, 1), check)
      }
      if (range === undefined) range = r.remoteAddress && !proxyFor(current, this.env) ? classify(r.remoteAddress) : rangeOfUrl(current)
      const loc = r.headers.location
      if ([301, 302, 303, 307, 308].includes(r.status) && loc && ['GET', 'HEAD'].includes(check.method)) {
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
        continue
      }
      return r
    }
  }

  private async once(u: URL, headers: Record<string, string>, limits: FetchLimits, deadlineMs: number, check: { range: AddressRange | undefined; first: string; method?: string; body?: Buffer | NodeJS.ReadableStream | undefined }): Promise<OpenResponse> {
    const shown = redactText(u.href)
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
        throw networkError('FETCH_FAILED', `${shown}: ${(e as Error).message}`)
      }
    }
    return new Promise<OpenResponse>((resolve, reject) => {
      let settled = false
      let res: IncomingMessage | undefined
      const fail = (e: Error): void => {
        clearTimeout(deadline)
        clearTimeout(connectTimer)
        req.destroy(e)
        res?.destroy(e)
        if (!settled) {
          settled = true
          reject(e)
        }
      }
      const reqOpts: https.RequestOptions = {
        method: check.method ?? 'GET',
        headers: { ...headers, host: u.host },
        timeout: limits.idleTimeoutMs,
      }
      if (proxy && !isHttps) {
        Object.assign(reqOpts, { host: proxy.hostname, port: proxy.port || 80, path: u.href, agent: this.httpAgent })
      } else {
        // an IPv6 literal without its URL brackets (getaddrinfo does not know "[::1]")
        Object.assign(reqOpts, { host, port, path: u.pathname + u.search })
        // SNI carries host names only (RFC 6066), never an IP address
        if (isHttps && net.isIP(u.hostname.replace(/^\[|\]$/g, '')) === 0) reqOpts.servername = u.hostname
        if (isHttps && tunnel) {
          // TLS inside the CONNECT tunnel, verified against the target host like a direct connection
          const sock = tunnel
          const agent = new https.Agent({ ca: this.ca })
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
      const deadline = setTimeout(() => fail(networkError('FETCH_DEADLINE', `${shown}: not complete within ${Math.round(deadlineMs / 1000)} s; the server is too slow or stalled`)), deadlineMs)
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
        const code = (e as NodeJS.ErrnoException).code
        const tlsProblem = typeof code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|VERIFY|ISSUER/.test(code)
        fail(tlsProblem
          ? networkError('TLS_VERIFY', `${shown}: TLS verification failed (${e.message}); vmgit never skips it — add the server's CA to the trust directory`)
          : networkError('FETCH_FAILED', `${shown}: ${e.message}`))
      })
      req.on('response', (r) => {
        res = r
        settled = true
        const done = (): void => {
          clearTimeout(deadline)
          clearTimeout(connectTimer)
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
        })
      })
      const body = check.body
      if (body === undefined) req.end()
      else if (Buffer.isBuffer(body)) req.end(body)
      else {
        body.on('error', (e: Error) => fail(e instanceof VmgitError ? e : networkError('FETCH_FAILED', `${shown}: reading the upload failed: ${e.message}`)))
        body.pipe(req)
      }
    })
  }
}

/** Read a whole body into memory, refusing more than `cap` bytes (the read stops at cap + 1). */
export async function readCapped(r: OpenResponse, cap: number, what: string): Promise<Buffer> {
  const declared = Number(r.headers['content-length'])
  if (Number.isFinite(declared) && declared > cap) {
    r.close()
    throw new VmgitError('LIST_TOO_LARGE', `${what} declares ${declared} bytes, more than the ${cap}-byte cap; refused`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const c of r.body) {
    total += c.length
    if (total > cap) {
      r.close()
      throw new VmgitError('LIST_TOO_LARGE', `${what} sent more than the ${cap}-byte cap; refused (attack S11: endless data)`)
    }
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}

export function httpStatusError(r: OpenResponse): VmgitError {
  r.close()
  return networkError('HTTP_STATUS', `${r.url} answered HTTP ${r.status}`, { details: { status: r.status } })
}
