import { createReadStream } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { Fetcher, readCapped } from '../net/http.js'
import { redactText } from '../net/redact.js'
import { caDirFromEnv } from '../net/trust.js'
import { isVmgitError, networkError } from '../util/errors.js'

/**
 * The Glance handler's requests (Glance and Keystone) go through the one network client
 * (src/net/): proxies (https_proxy, no_proxy), trust (system roots + the CA directory:
 * VMGIT_CA_DIR / X509_CERT_DIR + clouds.yaml `cacert` / OS_CACERT), connect and idle timeouts,
 * a cap on response bodies, the same failure codes as every other command, and a streamed
 * request body for image uploads. Redirects are not followed (an API answer is final).
 */
export interface HttpRequest {
  method: string
  url: URL
  headers?: Record<string, string>
  /** JSON or patch documents. */
  body?: string | Buffer
  /** Stream this file as the body (image upload), with its exact size as Content-Length; `tap` sees every chunk sent. */
  file?: { path: string; size: number; tap?: (chunk: Buffer) => void }
  /** Extra CA certificates (PEM) trusted beside the system ones (clouds.yaml `cacert`, OS_CACERT). */
  ca?: Buffer
  /** Idle timeout: no byte moved for this long aborts the request. */
  timeoutMs?: number
  /** Abort (tests: a crash in the middle of an upload). */
  signal?: AbortSignal
}

export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** Response bodies are JSON documents or error pages; nothing legitimate comes near this. */
const MAX_BODY = 64 * 1024 * 1024

export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const isHttps = req.url.protocol === 'https:'
  if (!isHttps && req.url.protocol !== 'http:') {
    throw networkError('GLANCE_BAD_URL', `${req.url.protocol} is not http or https in ${req.url.origin}; fix the endpoint or auth_url`)
  }
  const headers: Record<string, string> = { Accept: 'application/json', ...req.headers }
  const timeoutMs = req.timeoutMs ?? 120_000
  const fetcher = new Fetcher({ caDir: caDirFromEnv(undefined), ...(req.ca ? { ca: [req.ca] } : {}) })
  const file = req.file
  const body = file
    ? () => {
        const src = createReadStream(file.path, { highWaterMark: 1 << 20 })
        if (file.tap) src.on('data', (c) => file.tap!(c as Buffer))
        return src
      }
    : req.body
  try {
    const r = await fetcher.open(req.url.href, {
      // an image upload may take hours: no overall deadline; the idle timeout catches a stall
      limits: { connectTimeoutMs: Math.min(timeoutMs, 30_000), idleTimeoutMs: timeoutMs, deadlineMs: Infinity, maxRedirects: 0, maxImages: 0 },
      method: req.method,
      headers,
      // operator-configured cloud endpoints: no S32 address rule
      addressRule: 'none',
      followRedirects: false,
      ...(body !== undefined ? { body, ...(file ? { bodySize: file.size } : {}) } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    })
    const where = `${req.method} ${req.url.origin}${req.url.pathname}`
    return { status: r.status, headers: r.headers, body: await readCapped(r, MAX_BODY, where, 'RESPONSE_TOO_LARGE') }
  } catch (e) {
    if (req.signal?.aborted || (isVmgitError(e) && e.code === 'REQUEST_ABORTED')) {
      throw networkError('GLANCE_ABORTED', `${req.method} ${req.url.origin}${req.url.pathname} was aborted`, { cause: e })
    }
    throw e
  } finally {
    fetcher.close()
  }
}

/** A short human text out of an error body (Glance answers HTML or JSON, Keystone JSON). */
export function errorText(body: Buffer): string {
  // a server may echo the request (X-Auth-Token, Authorization, a URL with a token): one redaction policy
  const text = redactText(body.toString('utf8'))
  try {
    const j = JSON.parse(text) as { error?: { message?: string }; message?: string }
    const m = j.error?.message ?? j.message
    if (typeof m === 'string') return m.slice(0, 300)
  } catch {
    // not JSON
  }
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().replace(/^\d{3} [A-Za-z ]+? (?=\S)/, '').slice(0, 300)
}

/** Parse a JSON response body or fail with a clear code. */
export function jsonBody<T>(res: HttpResponse, what: string): T {
  try {
    return JSON.parse(res.body.toString('utf8')) as T
  } catch {
    throw networkError('GLANCE_BAD_RESPONSE', `${what}: the server answered ${res.status} with a body that is not JSON; is the URL really an OpenStack API?`)
  }
}
