/**
 * Read a signed list from a file or an http(s) URL, with the subscriber's limits
 * (attacks S11, S13, S14): a size cap (16 MiB), connect/idle timeouts, at most 5 redirects,
 * and no scheme other than http/https/file paths.
 */
import { readFile, stat } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { networkError, usageError, VmgitError } from '../util/errors.js'

export interface FetchLimits {
  maxBytes?: number
  timeoutMs?: number
  maxRedirects?: number
}

export const DEFAULT_LIMITS = { maxBytes: 16 * 1024 * 1024, timeoutMs: 30_000, maxRedirects: 5 }

const tooLarge = (src: string, max: number): VmgitError =>
  new VmgitError('SOURCE_TOO_LARGE', `${src} is larger than ${max} bytes, the list size cap; an image list is never that big — refusing it`,
    { details: { maxBytes: max } })

export async function readSource(source: string, limits: FetchLimits = {}): Promise<Buffer> {
  const l = { ...DEFAULT_LIMITS, ...limits }
  if (/^https?:\/\//i.test(source)) return fetchUrl(new URL(source), l, 0)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw usageError('SOURCE_SCHEME', `unsupported source ${source}: give a file path or an http(s) URL`)
  }
  try {
    const st = await stat(source)
    if (st.size > l.maxBytes) throw tooLarge(source, l.maxBytes)
    return await readFile(source)
  } catch (e) {
    if (e instanceof VmgitError) throw e
    throw usageError('SOURCE_NOT_FOUND', `cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; check the path`)
  }
}

function fetchUrl(url: URL, l: typeof DEFAULT_LIMITS, redirects: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http
    const req = mod.get(url, { timeout: l.timeoutMs, headers: { 'user-agent': 'vmgit', accept: '*/*' } }, (res) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume()
        if (redirects >= l.maxRedirects) {
          reject(networkError('FETCH_REDIRECTS', `${url} redirected more than ${l.maxRedirects} times; fix the URL or the server`))
          return
        }
        let next: URL
        try {
          next = new URL(res.headers.location, url)
        } catch {
          reject(networkError('FETCH_FAILED', `${url} redirected to an invalid location`))
          return
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          reject(networkError('FETCH_REDIRECTS', `${url} redirected to ${next.protocol} URL; only http(s) is followed`))
          return
        }
        fetchUrl(next, l, redirects + 1).then(resolve, reject)
        return
      }
      if (status !== 200) {
        res.resume()
        reject(networkError('FETCH_HTTP_STATUS', `GET ${url} answered HTTP ${status}; check the URL`, { details: { status } }))
        return
      }
      const declared = Number(res.headers['content-length'] ?? -1)
      if (declared > l.maxBytes) {
        res.destroy()
        reject(tooLarge(url.toString(), l.maxBytes))
        return
      }
      const chunks: Buffer[] = []
      let n = 0
      res.on('data', (c: Buffer) => {
        n += c.length
        if (n > l.maxBytes) {
          res.destroy()
          reject(tooLarge(url.toString(), l.maxBytes)) // S11: abort at cap+1 bytes
          return
        }
        chunks.push(c)
      })
      res.on('end', () => resolve(Buffer.concat(chunks)))
      res.on('error', (e) => reject(networkError('FETCH_FAILED', `reading ${url} failed: ${e.message}`)))
    })
    // the socket timeout is an idle timeout: it fires on a stalled connect or a trickle that stops (S13)
    req.on('timeout', () => req.destroy(networkError('FETCH_TIMEOUT', `${url} did not answer within ${l.timeoutMs} ms; try again later`)))
    req.on('error', (e) => reject(e instanceof VmgitError ? e : networkError('FETCH_FAILED', `cannot fetch ${url}: ${e.message}; check the URL and the network`)))
  })
}
