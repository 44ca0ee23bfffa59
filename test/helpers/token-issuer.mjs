/**
 * The registry's token issuer for tests (distribution's token auth, docs/spec/auth/token.md), run
 * as its own process (so a test may block on skopeo with execFileSync while the issuer answers):
 *   node token-issuer.mjs <key.pem> <cert.pem> <username> <password> <service> <issuer> <log.jsonl>
 * prints its port on stdout, then serves GET /token?service=…&scope=… with basic credentials:
 * {token, access_token, expires_in, issued_at}. The RS256 JWT carries the certificate in `x5c`
 * (the registry's rootcertbundle) and grants every scope asked for when the credentials are right,
 * none (an anonymous token) without credentials; wrong credentials get 401. Each request is
 * appended to the log as one JSON line.
 */
import { appendFileSync, readFileSync } from 'node:fs'
import { createSign, randomBytes } from 'node:crypto'
import http from 'node:http'

const [keyFile, certFile, username, password, service, issuer, log] = process.argv.slice(2)
const keyPem = readFileSync(keyFile, 'utf8')
const der = Buffer.from(readFileSync(certFile, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64')
const b64url = (b) => Buffer.from(b).toString('base64url')

const server = http.createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://issuer')
  if (u.pathname !== '/token') return res.writeHead(404).end()
  const scopes = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean)
  const given = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')
  const [user, ...rest] = given ? Buffer.from(given[1], 'base64').toString('utf8').split(':') : []
  const ok = user === username && rest.join(':') === password
  appendFileSync(log, JSON.stringify({ scope: scopes, service: u.searchParams.get('service'), ...(user ? { account: user } : {}), authorized: ok }) + '\n')
  if (given && !ok) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}')
  const now = Math.floor(Date.now() / 1000)
  const access = ok
    ? scopes.map((s) => {
        const [type, ...mid] = s.split(':')
        const actions = mid.pop() ?? ''
        return { type, name: mid.join(':'), actions: actions.split(',') }
      })
    : []
  const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }
  const claims = { iss: issuer, sub: ok ? username : '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
  const token = `${input}.${b64url(createSign('sha256').update(input).sign(keyPem))}`
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }))
})
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
