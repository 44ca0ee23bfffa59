import { readFile, stat } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { fileURLToPath } from 'node:url'
import { networkError, usageError, VmgitError } from '../util/errors.js'
import { redactUrl } from '../net/redact.js'

/** An image list is a few MB at most; 16 MiB bounds memory against a hostile or broken server. */
export const MAX_SOURCE_BYTES = 16 * 1024 * 1024
export const MAX_REDIRECTS = 5

export interface ReadSourceOptions {
  maxBytes?: number
  /** Idle socket timeout (no bytes for this long). Default 30 s. */
  idleTimeoutMs?: number
  /** Whole request deadline, redirects included. Default 120 s. */
  deadlineMs?: number
}

/**
 * The net seam for small documents (image lists, checksum files): the bytes of a local file,
 * a file:// URL or an http(s) URL, with a size cap, idle and overall timeouts, at most 5
 * redirects and never a downgrade from https. URLs in messages have their credentials masked.
 */
export async function readSource(source: string, opts: ReadSourceOptions = {}): Promise<Buffer> {
  const max = opts.maxBytes ?? MAX_SOURCE_BYTES
  if (/^https?:\/\//i.test(source)) return fetchUrl(new URL(source), max, opts)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:/i.test(source))
    throw usageError('UNSUPPORTED_SOURCE', `cannot read ${source}: give a file path or an http(s) URL`)
  const file = /^file:/i.test(source) ? fileURLToPath(source) : source
  const st = await stat(file).catch(() => undefined)
  if (!st?.isFile()) throw usageError('SOURCE_NOT_FOUND', `${source} is not a readable file; check the path`)
  if (st.size > max) throw tooLarge(source, max)
  return readFile(file)
}

const tooLarge = (source: string, max: number) =>
  new VmgitError('SOURCE_TOO_LARGE', `${source} is larger than ${max} bytes; an image list is far smaller, so this is not one`)

async function fetchUrl(start: URL, max: number, opts: ReadSourceOptions): Promise<Buffer> {
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000)
  let url = start
  for (let hop = 0; ; hop++) {
    const r = await get(url, max, opts.idleTimeoutMs ?? 30_000, deadline)
    if ('body' in r) return r.body
    if (hop >= MAX_REDIRECTS) throw networkError('TOO_MANY_REDIRECTS', `${redactUrl(start)} redirected more than ${MAX_REDIRECTS} times; use the final URL`)
    const next = new URL(r.location, url)
    // a signed list may come over http, but never downgrade a URL the user gave as https
    if (url.protocol === 'https:' && next.protocol !== 'https:')
      throw networkError('INSECURE_REDIRECT', `${redactUrl(url)} redirected to ${next.protocol}//${next.host}; refusing to leave https`)
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw networkError('FETCH_FAILED', `${redactUrl(url)} redirected to unsupported ${next.protocol}`)
    url = next
  }
}

function get(url: URL, max: number, idleMs: number, deadline: number): Promise<{ body: Buffer } | { location: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http
    const fail = (e: Error) => reject(e instanceof VmgitError ? e : networkError('FETCH_FAILED', `cannot fetch ${redactUrl(url)}: ${e.message}`))
    const req = mod.get(url, { headers: { 'user-agent': 'vmgit', accept: '*/*' } }, (res) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume()
        resolve({ location: res.headers.location })
        return
      }
      if (status !== 200) {
        res.resume()
        fail(networkError('FETCH_HTTP_STATUS', `${redactUrl(url)} answered HTTP ${status}; check the URL`))
        return
      }
      const declared = Number(res.headers['content-length'] ?? 0)
      if (declared > max) {
        res.destroy()
        fail(tooLarge(redactUrl(url), max))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > max) {
          res.destroy()
          fail(tooLarge(redactUrl(url), max))
        } else chunks.push(c)
      })
      res.on('end', () => resolve({ body: Buffer.concat(chunks) }))
      res.on('error', fail)
    })
    req.setTimeout(idleMs, () => req.destroy(networkError('FETCH_TIMEOUT', `${redactUrl(url)} sent nothing for ${idleMs / 1000} s; try again later`)))
    const left = deadline - Date.now()
    const timer = setTimeout(() => req.destroy(networkError('FETCH_TIMEOUT', `${redactUrl(url)} took too long; try again later`)), Math.max(left, 1))
    req.on('close', () => clearTimeout(timer))
    req.on('error', fail)
  })
}
