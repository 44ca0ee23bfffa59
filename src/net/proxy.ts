import http from 'node:http'
import type { Socket } from 'node:net'

/**
 * Proxies from the usual environment variables (`https_proxy`, `http_proxy`, `no_proxy`, either
 * case), as curl and wget read them. http targets go through the proxy in absolute form; https
 * targets through a CONNECT tunnel, with TLS verified end to end against the target host.
 */
export type Env = Record<string, string | undefined>

export function proxyFor(target: URL, env: Env = process.env): URL | undefined {
  const raw = target.protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY) : (env.http_proxy ?? env.HTTP_PROXY)
  if (!raw) return undefined
  if (bypassed(target, env.no_proxy ?? env.NO_PROXY ?? '')) return undefined
  try {
    return new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`)
  } catch {
    return undefined
  }
}

function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.toLowerCase().replace(/^\[|\]$/g, '')
  const port = target.port
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase()
    if (entry === '') continue
    if (entry === '*') return true
    const [rawHost, p] = entry.split(':') as [string, string | undefined]
    if (p !== undefined && p !== port) continue
    const h = rawHost.replace(/^\*?\./, '')
    if (host === h || host.endsWith('.' + h)) return true
  }
  return false
}

/** Open a CONNECT tunnel to host:port through an http proxy; resolves with the raw socket. */
export function connectTunnel(proxy: URL, host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: `${host}:${port}` }
    if (proxy.username !== '') {
      headers['proxy-authorization'] = 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')
    }
    const req = http.request({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: `${host}:${port}`, headers, agent: false })
    const timer = setTimeout(() => req.destroy(new Error(`proxy ${proxy.host} did not open a tunnel within ${timeoutMs} ms`)), timeoutMs)
    req.once('connect', (res, socket) => {
      clearTimeout(timer)
      if (res.statusCode !== 200) {
        socket.destroy()
        reject(new Error(`proxy ${proxy.host} refused the tunnel to ${host}:${port} (HTTP ${res.statusCode})`))
        return
      }
      resolve(socket)
    })
    req.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    req.end()
  })
}
