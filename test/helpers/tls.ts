/** Test TLS material and a forward proxy for the network-client tests (real openssl, real sockets on 127.0.0.1). */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'

/** A server CA and a certificate for `san` (e.g. IP:127.0.0.1), made with openssl. */
export function tlsMaterial(dir: string, san = 'IP:127.0.0.1'): { key: string; cert: string; ca: string } {
  mkdirSync(dir, { recursive: true })
  const o = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' })
  const p = (n: string): string => path.join(dir, n)
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=vmgit net test CA', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  o(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=server', '-keyout', p('srv.key'), '-out', p('srv.csr')])
  writeFileSync(p('ext'), `subjectAltName=${san}\n`)
  o(['x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', '9', '-days', '2', '-extfile', p('ext'), '-out', p('srv.pem')])
  return { key: readFileSync(p('srv.key'), 'utf8'), cert: readFileSync(p('srv.pem'), 'utf8'), ca: p('ca.pem') }
}

export interface ForwardProxy {
  url: string
  /** `GET <absolute URL>` / `<METHOD> <absolute URL>` for http, `CONNECT host:port` for https */
  seen: string[]
  stop(): Promise<void>
}

/** A minimal forward proxy: absolute-URI requests for http (any method, body piped), CONNECT tunnels for https. */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const u = new URL(req.url!)
    const up = http.request({ host: u.hostname, port: u.port, method: req.method, path: u.pathname + u.search, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  const tunnels = new Set<net.Socket>()
  server.on('connect', (req, sock: net.Socket) => {
    seen.push(`CONNECT ${req.url}`)
    tunnels.add(sock)
    sock.on('close', () => tunnels.delete(sock))
    const [h, p] = req.url!.split(':')
    const up = net.connect(Number(p), h, () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      up.pipe(sock)
      sock.pipe(up)
    })
    up.on('error', () => sock.destroy())
    sock.on('error', () => up.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () => new Promise((r) => {
      for (const t of tunnels) t.destroy()
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}
