import { Readable } from 'node:stream'
import type { HeaderBag, HttpHandlerOptions, HttpRequest, HttpResponse, QueryParameterBag } from '@smithy/types'
import { usageError } from '../util/errors.js'
import type { FetchLimits, Fetcher } from './http.js'
import { redactText } from './redact.js'

/**
 * The AWS SDK v3 `requestHandler` of the S3 publish backend, built on the one network client
 * (issue 14). The SDK's own NodeHttpHandler ignores https_proxy/http_proxy/no_proxy and the site
 * CA directory; this handler sends every signed request through `Fetcher.open` instead, so S3
 * (Ceph RGW, MinIO, AWS) gets the same proxies (CONNECT for https, absolute URI for http), the same
 * trust (system roots + flag/VMGIT_CA_DIR/X509_CERT_DIR/VMCATCHER_DIR_CERT/IGTF directory, never
 * skipped), the same connect/idle/overall timeouts and the same error codes (TLS_VERIFY,
 * FETCH_CONNECTION_REFUSED, FETCH_*_TIMEOUT, …) as verify, sync and the WebDAV backend.
 *
 * The SDK handles redirects itself (a 301 PermanentRedirect names the bucket's region), so 3xx
 * answers are handed back as they are. Errors of src/net are VmgitErrors: the SDK's retry strategy
 * does not recognise them as transient, so an untrusted certificate or a refused connection fails
 * at once instead of three times.
 */
export class SdkHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' }

  constructor(
    private readonly fetcher: Fetcher,
    private readonly limits: FetchLimits,
  ) {}

  async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const url = requestUrl(request)
    const headers: Record<string, string> = {}
    let expectContinue = false
    let length: number | undefined
    for (const [k, v] of Object.entries(request.headers as HeaderBag)) {
      const name = k.toLowerCase()
      // host and content-length come from the URL and the body; Expect is the client's own choice (both unsigned)
      if (name === 'host' || name === 'transfer-encoding') continue
      if (name === 'expect') {
        expectContinue = /100-continue/i.test(v)
        continue
      }
      if (name === 'content-length') {
        length = Number(v)
        continue
      }
      headers[name] = v
    }
    const body = await this.bodyOf(request.body, length)
    const signal = options.abortSignal as AbortSignal | undefined
    const r = await this.fetcher.open(url.href, {
      limits: this.limits,
      method: request.method,
      headers,
      // an operator-configured endpoint (like the WebDAV backend): no S32 address rule
      addressRule: 'none',
      followRedirects: false,
      ...(body !== undefined ? { body: body.send, bodySize: body.size, ...(expectContinue && body.size > 0 ? { expectContinue: true } : {}) } : {}),
      ...(signal && typeof signal.addEventListener === 'function' ? { signal } : {}),
    })
    const out: HeaderBag = {}
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v
    return { response: { statusCode: r.status, headers: out, body: r.body } }
  }

  /** streams handed to a request already (see bodyOf) */
  private readonly sent = new WeakSet<Readable>()

  private bodyOf(body: unknown, length: number | undefined): ReturnType<typeof bodyOf> {
    return bodyOf(body, length, this.sent)
  }

  updateHttpClientConfig(): void {
    // limits come from vmgit's environment (VMGIT_CONNECT_TIMEOUT, VMGIT_IDLE_TIMEOUT, VMGIT_DEADLINE), not from the SDK
  }

  httpHandlerConfigs(): Record<string, never> {
    return {}
  }

  destroy(): void {
    this.fetcher.close()
  }
}

/** RFC 3986 escaping as the SDK signs it (encodeURIComponent leaves !'()* alone). */
const escapeUri = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

function queryString(query: QueryParameterBag | undefined): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(query ?? {})) {
    const key = escapeUri(k)
    if (Array.isArray(v)) for (const x of v) parts.push(`${key}=${escapeUri(x)}`)
    else parts.push(v === null || v === undefined ? key : `${key}=${escapeUri(v)}`)
  }
  return parts.join('&')
}

/** The request's URL; refuses a path that URL parsing would change (`.`/`..` segments), which would reach another key than the one signed. */
export function requestUrl(request: HttpRequest): URL {
  const host = request.hostname.includes(':') && !request.hostname.startsWith('[') ? `[${request.hostname}]` : request.hostname
  const qs = queryString(request.query)
  const raw = `${request.protocol}//${host}${request.port ? `:${request.port}` : ''}${request.path}${qs ? `?${qs}` : ''}`
  const url = new URL(raw)
  if (url.pathname !== request.path) {
    throw usageError('TRANSFER_URL_INVALID', `${redactText(raw)}: the object key has "." or ".." path segments, which HTTP collapses into another key; rename the target path`)
  }
  return url
}

/** The body as src/net sends it: bytes, or a stream factory that may be called once (a second call fails the request). */
async function bodyOf(body: unknown, length: number | undefined, sent: WeakSet<Readable>): Promise<{ send: Buffer | (() => Readable | Buffer); size: number } | undefined> {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return { send: Buffer.from(body), size: Buffer.byteLength(body) }
  if (Buffer.isBuffer(body)) return { send: body, size: body.length }
  if (body instanceof Uint8Array) return { send: Buffer.from(body.buffer, body.byteOffset, body.byteLength), size: body.byteLength }
  if (body instanceof ArrayBuffer) return { send: Buffer.from(body), size: body.byteLength }
  if (body instanceof Readable) {
    // the SDK repeats a request after a 5xx or a dropped connection with the same body object: a
    // stream already sent cannot be sent again, and piping it would send nothing and stall until
    // the idle timeout; fail this attempt at once (the caller reports it, publish can run again)
    if (sent.has(body) || body.readableDidRead || body.destroyed) {
      throw Object.assign(new Error('the S3 request had to be repeated (a server error or a dropped connection), but its body is a stream that was already sent; run the command again'), { name: 'RequestBodyConsumed' })
    }
    sent.add(body)
    if (length === undefined || !Number.isFinite(length)) {
      // no declared length: read it into memory (only small SDK-made bodies are streams without one)
      const parts: Buffer[] = []
      for await (const c of body as AsyncIterable<Buffer | string>) parts.push(Buffer.from(c))
      const all = Buffer.concat(parts)
      return { send: all, size: all.length }
    }
    let used = false
    return {
      size: length,
      send: () => {
        if (!used) {
          used = true
          return body
        }
        // a stream cannot be sent twice (a retry on a fresh connection): fail this request instead of sending a short body
        const again = new Readable({ read() {} })
        process.nextTick(() => again.destroy(new Error('the request body was already sent once and cannot be repeated')))
        return again
      },
    }
  }
  throw new TypeError(`unsupported request body type ${Object.prototype.toString.call(body)}`)
}
