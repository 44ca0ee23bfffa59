import { createReadStream } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import tls from 'node:tls'
import { networkError, usageError } from '../util/errors.js'

/**
 * The one HTTP seam of the Glance handler (Glance and Keystone): node http/https, TLS host
 * checks always on (a site CA may be added), an idle timeout, a cap on response bodies, and a
 * streamed request body for image uploads. No proxies.
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
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** Response bodies are JSON documents or error pages; nothing legitimate comes near this. */
const MAX_BODY = 64 * 1024 * 1024

export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const isHttps = req.url.protocol === 'https:'
  if (!isHttps && req.url.protocol !== 'http:') {
    return Promise.reject(usageError('GLANCE_BAD_URL', `${req.url.protocol} is not http or https in ${req.url.origin}; fix the endpoint or auth_url`))
  }
  const headers: Record<string, string> = { Accept: 'application/json', ...req.headers }
  if (req.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(req.body))
  if (req.file) headers['Content-Length'] = String(req.file.size)
  const options: https.RequestOptions = {
    method: req.method,
    headers,
    ...(req.signal ? { signal: req.signal } : {}),
    ...(isHttps && req.ca ? { ca: [...tlsRootCertificates(), req.ca.toString()] } : {}),
  }
  const where = `${req.method} ${req.url.origin}${req.url.pathname}`
  return new Promise<HttpResponse>((resolve, reject) => {
    const r = (isHttps ? https : http).request(req.url, options, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY) res.destroy(new Error(`response body larger than ${MAX_BODY} bytes`))
        else chunks.push(c)
      })
      res.on('error', (e) => reject(unreachable(where, e)))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    r.setTimeout(req.timeoutMs ?? 120_000, () => r.destroy(new Error(`no data for ${Math.round((req.timeoutMs ?? 120_000) / 1000)} s`)))
    r.on('error', (e) => reject(unreachable(where, e)))
    if (req.file) {
      const src = createReadStream(req.file.path, { highWaterMark: 1 << 20 })
      src.on('error', (e) => r.destroy(e))
      const tap = req.file.tap
      if (tap) src.on('data', (c) => tap(c as Buffer))
      src.pipe(r)
    } else {
      r.end(req.body)
    }
  })
}

// node's bundled roots: giving `ca` replaces them, so the site CA is added to them
const tlsRootCertificates = (): readonly string[] => tls.rootCertificates

function unreachable(where: string, e: Error): Error {
  if (e.name === 'AbortError') return networkError('GLANCE_ABORTED', `${where} was aborted`, { cause: e })
  const code = (e as NodeJS.ErrnoException).code
  return networkError('GLANCE_UNREACHABLE', `${where} failed: ${code ? `${code} ` : ''}${e.message}; check that the service is up and the URL is right`, { cause: e })
}

/** A short human text out of an error body (Glance answers HTML or JSON, Keystone JSON). */
export function errorText(body: Buffer): string {
  const text = body.toString('utf8')
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
