/**
 * A loopback HTTP(S) simulator for subscriber tests (attacks.md "Harness"): real files served on
 * 127.0.0.1 with ETag, Last-Modified, conditional GET and Range; per-path request counters; and
 * fault injection — trickle, stall, endless body, wrong length, redirects and redirect loops,
 * basic auth, ignoring Range, dropping the connection mid-body.
 */
import { createHash } from 'node:crypto'
import { createReadStream, readFileSync, statSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export interface Route {
  /** a file on disk (streamed; large files are fine) or bytes in memory */
  file?: string
  body?: Buffer | string
  status?: number
  headers?: Record<string, string>
  /** send at most `bytes` every `everyMs` (slow retrieval) */
  trickle?: { bytes: number; everyMs: number }
  /** send this many bytes, then nothing more while keeping the connection open */
  stallAfter?: number
  /** stream zeros forever (no Content-Length) */
  endless?: boolean
  /** close the connection after this many body bytes */
  dropAfter?: number
  /** answer 302 to this location (relative or absolute) */
  redirect?: string
  /** require this basic-auth user:password, else 401 */
  auth?: { username: string; password: string }
  /** ignore Range headers (always 200 with the whole body) */
  noRange?: boolean
  /** no ETag / Last-Modified (no conditional requests possible) */
  noValidators?: boolean
}

export interface Seen {
  method: string
  path: string
  headers: IncomingMessage['headers']
  status?: number
}

export interface TestServer {
  port: number
  base: string
  url(path: string): string
  set(path: string, route: Route): void
  remove(path: string): void
  /** requests per path */
  count(path: string): number
  requests: Seen[]
  reset(): void
  stop(): Promise<void>
  /** TCP connections accepted since the start (issue 6: kept-alive connections are reused) */
  connections(): number
}

const etagOf = (r: Route): string | undefined => {
  if (r.noValidators) return undefined
  if (r.body !== undefined) return `"${createHash('sha1').update(r.body).digest('hex')}"`
  if (r.file) {
    const s = statSync(r.file)
    return `"${s.size.toString(16)}-${Math.trunc(s.mtimeMs).toString(16)}"`
  }
  return undefined
}

const sizeOf = (r: Route): number => (r.body !== undefined ? Buffer.byteLength(r.body) : r.file ? statSync(r.file).size : 0)

function handler(routes: Map<string, Route>, requests: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const seen: Seen = { method: req.method ?? 'GET', path, headers: req.headers }
    requests.push(seen)
    const send = (status: number, headers: Record<string, string | number> = {}, body?: string): void => {
      seen.status = status
      res.writeHead(status, headers)
      res.end(body)
    }
    const r = routes.get(path)
    if (!r) return send(404, {}, 'not found')
    if (r.auth) {
      const want = 'Basic ' + Buffer.from(`${r.auth.username}:${r.auth.password}`).toString('base64')
      if (req.headers.authorization !== want) return send(401, { 'www-authenticate': 'Basic realm="t"' })
    }
    if (r.redirect) return send(302, { location: r.redirect })
    if (r.status && r.status !== 200) return send(r.status, r.headers ?? {}, `status ${r.status}`)
    if (r.endless) {
      seen.status = 200
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...r.headers })
      const chunk = Buffer.alloc(64 * 1024)
      const pump = (): void => {
        while (res.write(chunk)) if (res.destroyed) return
        res.once('drain', pump)
      }
      res.on('close', () => res.removeAllListeners('drain'))
      pump()
      return
    }
    const etag = etagOf(r)
    const mtime = r.file ? statSync(r.file).mtime : new Date('2024-01-01T00:00:00Z')
    const lastModified = r.noValidators ? undefined : mtime.toUTCString()
    const validators: Record<string, string> = {}
    if (etag) validators.etag = etag
    if (lastModified) validators['last-modified'] = lastModified
    if (etag && req.headers['if-none-match'] === etag) return send(304, validators)
    if (!etag && lastModified && req.headers['if-modified-since'] === lastModified) return send(304, validators)
    const total = sizeOf(r)
    let start = 0
    let end = total - 1
    let status = 200
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''))
    if (range && !r.noRange) {
      start = Number(range[1])
      if (range[2]) end = Math.min(Number(range[2]), total - 1)
      if (start >= total) return send(416, { 'content-range': `bytes */${total}` })
      status = 206
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      ...validators,
      ...r.headers,
    }
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${total}`
    seen.status = status
    res.writeHead(status, headers)
    if (req.method === 'HEAD' || total === 0) return void res.end()
    const data = r.body !== undefined ? Buffer.from(r.body).subarray(start, end + 1) : undefined
    const slow = r.trickle !== undefined || r.stallAfter !== undefined || r.dropAfter !== undefined
    if (!slow) {
      if (data) res.end(data)
      else createReadStream(r.file!, { start, end, highWaterMark: 1 << 20 }).pipe(res)
      return
    }
    const all = data ?? readFileSync(r.file!).subarray(start, end + 1)
    let pos = 0
    const step = r.trickle?.bytes ?? 64 * 1024
    const limit = Math.min(all.length, r.stallAfter ?? Infinity, r.dropAfter ?? Infinity)
    const tick = (): void => {
      if (res.destroyed) return
      if (pos >= limit) {
        if (r.dropAfter !== undefined) res.socket?.destroy()
        return // stall: keep the socket open, send nothing
      }
      res.write(all.subarray(pos, Math.min(pos + step, limit)))
      pos = Math.min(pos + step, limit)
      setTimeout(tick, r.trickle?.everyMs ?? 0)
    }
    tick()
  }
}

/** Start the simulator on 127.0.0.1 (https when `tls` key+cert PEMs are given). */
export async function startServer(opts: { tls?: { key: string | Buffer; cert: string | Buffer } } = {}): Promise<TestServer> {
  const routes = new Map<string, Route>()
  const requests: Seen[] = []
  const h = handler(routes, requests)
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, h) : http.createServer(h)
  const sockets = new Set<import('node:net').Socket>()
  let accepted = 0
  server.on('connection', (s) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const base = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`
  return {
    port,
    base,
    url: (p) => base + p,
    set: (p, r) => void routes.set(p, r),
    remove: (p) => void routes.delete(p),
    count: (p) => requests.filter((q) => q.path === p).length,
    requests,
    reset: () => void requests.splice(0),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
    connections: () => accepted,
  }
}
