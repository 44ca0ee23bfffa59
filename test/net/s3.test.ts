/**
 * Issue 14, one network client, for the S3 publish backend too: `vmgit publish` to an s3:// target
 * goes through src/net (not the AWS SDK's own HTTP handler), so it honours http_proxy / https_proxy
 * / no_proxy, the one trust order (VMGIT_CA_DIR > X509_CERT_DIR > …) for an https endpoint with a
 * private CA, the shared timeouts (VMGIT_IDLE_TIMEOUT, …), reports the network codes every other
 * caller reports (TLS_VERIFY, FETCH_CONNECTION_REFUSED, FETCH_IDLE_TIMEOUT; exit 3), and prints no
 * secret. Real s3rver (http and https), a real forward proxy and the real CLI, all on 127.0.0.1.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openTransfer } from '../../src/transfer/index.js'
import { type CliResult, runCli } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { needs, S3RVER, startS3rver, type S3 } from '../helpers/servers.js'
import { type ForwardProxy, startForwardProxy, tlsMaterial } from '../helpers/tls.js'
import { makeFixtureRepo } from '../publish/repo-fixture.js'

const need = needs(S3RVER)
const BASE = 'http://127.0.0.1:9/'

/** Every variable that could steer the network client, unset: each test says what it sets. */
const CLEAN = {
  http_proxy: undefined, HTTP_PROXY: undefined, https_proxy: undefined, HTTPS_PROXY: undefined, no_proxy: undefined, NO_PROXY: undefined,
  VMGIT_CA_DIR: undefined, X509_CERT_DIR: undefined, VMCATCHER_DIR_CERT: undefined,
  VMGIT_CONNECT_TIMEOUT: undefined, VMGIT_IDLE_TIMEOUT: undefined, VMGIT_DEADLINE: undefined,
  VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined, VMGIT_S3_ENDPOINT: undefined,
  AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_SESSION_TOKEN: undefined, AWS_REGION: 'us-east-1', AWS_PROFILE: undefined,
}

describe.skipIf(need.skip)(`the S3 publish backend on the one network client${need.reason ? ` (${need.reason})` : ''}`, { timeout: 240_000 }, () => {
  let tmp: string
  let pki: Pki
  let plain: S3
  let secure: S3
  let proxy: ForwardProxy
  /** an IGTF-style directory holding the private CA of the https s3rver */
  let caDir: string
  /** a trust directory without it */
  let otherDir: string
  let caFile: string
  let n = 0

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-net-s3-'))
    const t = tlsMaterial(path.join(tmp, 'tls'))
    caFile = t.ca
    ;[pki, plain, secure, proxy] = await Promise.all([makePki(path.join(tmp, 'pki')), startS3rver(), startS3rver('vmgit-tls', undefined, { tls: t }), startForwardProxy()])
    caDir = path.join(tmp, 'ca-dir')
    otherDir = path.join(tmp, 'other-ca-dir')
    mkdirSync(caDir)
    mkdirSync(otherDir)
    copyFileSync(t.ca, path.join(caDir, 'tls-ca.pem'))
  })
  afterAll(async () => {
    await proxy?.stop()
    await plain?.stop()
    await secure?.stop()
    rmSync(tmp, { recursive: true, force: true })
  })
  afterEach(() => void proxy.seen.splice(0))

  /** A committed endorser repository whose one target is `s3://<bucket>/<fresh prefix>/` at `endpoint`. */
  const repo = (s: S3, extra: Record<string, unknown> = {}): { dir: string; prefix: string } => {
    const prefix = `run${++n}`
    const dir = mkdtempSync(path.join(tmp, 'repo-'))
    makeFixtureRepo(dir, BASE, [{ match: BASE, replace: `s3://${s.bucket}/${prefix}/`, endpoint: s.endpoint, path_style: true, ...extra }], { git: true, imageBytes: 4096 })
    return { dir, prefix }
  }
  const publish = (dir: string, env: Record<string, string | undefined>, args: string[] = []): Promise<CliResult> =>
    runCli(['publish', '--repo', dir, '--key', pki.signer.key, '--cert', pki.signer.cert, ...args], { env: { ...CLEAN, ...env }, timeoutMs: 90_000 })
  /** What landed below the prefix (read in-process, directly, trusting the private CA by file). */
  const published = async (s: S3, prefix: string): Promise<string[]> => {
    const t = await openTransfer(`s3://${s.bucket}/`, { endpoint: s.endpoint, forcePathStyle: true, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, ca: caFile })
    try {
      return [...(await t.list(`/${prefix}/lists/`)).map((e) => `lists/${e.name}`), ...(await t.list(`/${prefix}/images/`)).map((e) => `images/${e.name}`)].sort()
    } finally {
      await t.close()
    }
  }
  const ALL = ['images/alma-1.0.qcow2', 'images/ubuntu-1.0.qcow2', 'lists/production.list']

  describe('http_proxy (absolute-URI requests to an http endpoint)', () => {
    it('carries every request of the publish (list, HEAD, PUT, read-back GET), and the objects land', async () => {
      const { dir, prefix } = repo(plain)
      const r = await publish(dir, { http_proxy: proxy.url })
      expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
      // publish also reads the list back from its public URL (http://127.0.0.1:9/…), through the proxy as well
      const s3 = proxy.seen.filter((s) => s.includes(` ${plain.endpoint}/`))
      // ListObjectsV2 (stale temps), HEAD, PUT, GET (read back): all to the bucket, below the target's prefix
      expect(s3.filter((s) => !s.includes(` ${plain.endpoint}/${plain.bucket}/`) || !(s.includes(`/${prefix}/`) || s.includes(`prefix=${prefix}%2F`))), s3.join('\n')).toEqual([])
      expect(new Set(s3.map((s) => s.split(' ')[0]))).toEqual(new Set(['GET', 'HEAD', 'PUT']))
      expect(s3.filter((s) => s.startsWith('PUT '))).toHaveLength(3)
      expect(await published(plain, prefix)).toEqual(ALL)
    })

    it('is bypassed for hosts in no_proxy (NO_PROXY too)', async () => {
      for (const noProxy of [{ no_proxy: '127.0.0.1' }, { NO_PROXY: 'localhost,127.0.0.1:' + plain.port }]) {
        const { dir, prefix } = repo(plain)
        const r = await publish(dir, { http_proxy: proxy.url, HTTP_PROXY: proxy.url, ...noProxy })
        expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
        expect(await published(plain, prefix)).toEqual(ALL)
      }
      expect(proxy.seen.filter((s) => s.includes(plain.endpoint))).toEqual([])
    })
  })

  describe('an https endpoint with a private CA (the trust order of every command)', () => {
    it('fails with TLS_VERIFY, exit 3, when no trust directory holds the CA, and uploads nothing', async () => {
      const { dir, prefix } = repo(secure)
      const r = await publish(dir, { VMGIT_CA_DIR: otherDir })
      expect([r.code, r.stderr]).toEqual([3, expect.stringContaining('[TLS_VERIFY]')])
      // publish's --json reports the same failure (transfer code, network code in the message)
      const j = await publish(dir, { VMGIT_CA_DIR: otherDir }, ['--json'])
      expect(j.code).toBe(3)
      expect(j.stdout).toContain('TLS_VERIFY')
      expect(JSON.parse(j.stdout)).toMatchObject({ ok: false })
      expect(await published(secure, prefix)).toEqual([])
    })

    it('publishes once VMGIT_CA_DIR points at the CA', async () => {
      const { dir, prefix } = repo(secure)
      const r = await publish(dir, { VMGIT_CA_DIR: caDir })
      expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
      expect(await published(secure, prefix)).toEqual(ALL)
    })

    it('publishes with X509_CERT_DIR alone (and VMCATCHER_DIR_CERT alone)', async () => {
      for (const env of [{ X509_CERT_DIR: caDir }, { VMCATCHER_DIR_CERT: caDir }]) {
        const { dir, prefix } = repo(secure)
        const r = await publish(dir, env)
        expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
        expect(await published(secure, prefix)).toEqual(ALL)
      }
    })

    it('publishes with the target\'s own ca: file (vmgit.yaml) beside an unrelated trust directory', async () => {
      const { dir, prefix } = repo(secure, { ca: caFile })
      const r = await publish(dir, { VMGIT_CA_DIR: otherDir })
      expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
      expect(await published(secure, prefix)).toEqual(ALL)
    })

    it('takes VMGIT_CA_DIR before X509_CERT_DIR (flag > VMGIT_CA_DIR > X509_CERT_DIR > VMCATCHER_DIR_CERT > IGTF default)', async () => {
      const { dir } = repo(secure)
      const r = await publish(dir, { VMGIT_CA_DIR: otherDir, X509_CERT_DIR: caDir })
      expect([r.code, r.stderr]).toEqual([3, expect.stringContaining('[TLS_VERIFY]')])
      const r2 = await publish(dir, { X509_CERT_DIR: otherDir, VMCATCHER_DIR_CERT: caDir })
      expect([r2.code, r2.stderr]).toEqual([3, expect.stringContaining('[TLS_VERIFY]')])
    })

    it('goes through https_proxy as a CONNECT tunnel, TLS verified end to end against the endpoint', async () => {
      const { dir, prefix } = repo(secure)
      const bad = await publish(dir, { https_proxy: proxy.url, VMGIT_CA_DIR: otherDir })
      expect([bad.code, bad.stderr]).toEqual([3, expect.stringContaining('[TLS_VERIFY]')])
      const r = await publish(dir, { https_proxy: proxy.url, VMGIT_CA_DIR: caDir })
      expect([r.code, r.stderr]).toEqual([0, expect.not.stringMatching(/error/i)])
      expect(proxy.seen.length).toBeGreaterThanOrEqual(2)
      expect(new Set(proxy.seen)).toEqual(new Set([`CONNECT 127.0.0.1:${secure.port}`]))
      expect(await published(secure, prefix)).toEqual(ALL)
    })
  })

  describe('refused connections and timeouts: the codes of every other caller, exit 3', () => {
    it('a closed port is FETCH_CONNECTION_REFUSED', async () => {
      const port = await closedPort()
      const { dir } = repo({ ...plain, endpoint: `http://127.0.0.1:${port}` })
      const r = await publish(dir, {})
      expect([r.code, r.stderr]).toEqual([3, expect.stringContaining('[FETCH_CONNECTION_REFUSED]')])
    })

    it('an endpoint that accepts and never answers is FETCH_IDLE_TIMEOUT after VMGIT_IDLE_TIMEOUT, not the SDK default', async () => {
      const mute = await muteServer()
      try {
        const { dir } = repo({ ...plain, endpoint: mute.url })
        const started = Date.now()
        const r = await publish(dir, { VMGIT_IDLE_TIMEOUT: '1' })
        expect([r.code, r.stderr]).toEqual([3, expect.stringContaining('[FETCH_IDLE_TIMEOUT]')])
        expect(Date.now() - started).toBeLessThan(30_000)
      } finally {
        await mute.stop()
      }
    })

    it('a malformed VMGIT_IDLE_TIMEOUT is BAD_TIMEOUT, as for every command (the list fails: publish exits 1)', async () => {
      const { dir, prefix } = repo(plain)
      const r = await publish(dir, { VMGIT_IDLE_TIMEOUT: 'soon' })
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('[BAD_TIMEOUT]')])
      expect(await published(plain, prefix)).toEqual([])
    })
  })

  describe('one failure, one code: the S3 and WebDAV backends side by side (in-process)', () => {
    const withEnv = async <T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> => {
      const saved = { ...process.env }
      for (const k of Object.keys(CLEAN)) delete process.env[k]
      Object.assign(process.env, vars)
      try {
        return await fn()
      } finally {
        process.env = saved
      }
    }
    /** [transfer code, network code] of a small put to `origin` through each backend */
    const codes = async (origin: string, env: Record<string, string>): Promise<[string, string][]> =>
      withEnv(env, async () => {
        const out: [string, string][] = []
        for (const target of [`${origin}/dav/`, 's3://vmgit-test/']) {
          const t = await openTransfer(target, target.startsWith('s3') ? { endpoint: origin, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' } : {})
          const e = (await t.put(Buffer.from('x'), target.startsWith('s3') ? '/a' : '/dav/a').catch((x: unknown) => x)) as { code: string; exit: number; details?: { net?: string } }
          await t.close()
          expect(e.exit).toBe(3)
          out.push([e.code, e.details?.net ?? ''])
        }
        return out
      })

    it('an untrusted certificate is TRANSFER_CONNECT_FAILED with TLS_VERIFY from both', async () => {
      expect(await codes(secure.endpoint, { VMGIT_CA_DIR: otherDir })).toEqual(Array(2).fill(['TRANSFER_CONNECT_FAILED', 'TLS_VERIFY']))
    })
    it('a closed port is TRANSFER_CONNECT_FAILED with FETCH_CONNECTION_REFUSED from both', async () => {
      expect(await codes(`http://127.0.0.1:${await closedPort()}`, {})).toEqual(Array(2).fill(['TRANSFER_CONNECT_FAILED', 'FETCH_CONNECTION_REFUSED']))
    })
    it('a stall is TRANSFER_FAILED with FETCH_IDLE_TIMEOUT after VMGIT_IDLE_TIMEOUT from both', async () => {
      const mute = await muteServer()
      try {
        const started = Date.now()
        expect(await codes(mute.url, { VMGIT_IDLE_TIMEOUT: '1' })).toEqual(Array(2).fill(['TRANSFER_FAILED', 'FETCH_IDLE_TIMEOUT']))
        // 1 s each, not the backends' own 30 s / 60 s defaults
        expect(Date.now() - started).toBeLessThan(15_000)
      } finally {
        await mute.stop()
      }
    })
    it('a trickling answer is TRANSFER_FAILED with FETCH_DEADLINE after VMGIT_DEADLINE from both (the idle timeout never fires)', async () => {
      const slow = await trickleServer()
      try {
        const started = Date.now()
        expect(await codes(slow.url, { VMGIT_DEADLINE: '2', VMGIT_IDLE_TIMEOUT: '30' })).toEqual(Array(2).fill(['TRANSFER_FAILED', 'FETCH_DEADLINE']))
        expect(Date.now() - started).toBeLessThan(20_000)
      } finally {
        await slow.stop()
      }
    })
  })

  describe('secrets', () => {
    const S = { key: 'AKIA-SECRETKEYID-4e1f', secret: 'aws-SECRETACCESS-8d2c', session: 'sts-SECRETSESSION-6b0a', amz: 'amz-SECRETAMZ-19fe', puser: 'pu-SECRETPROXYUSER-22', ppass: 'pp-SECRETPROXYPASS-33' }
    const clean = (r: CliResult): void => {
      for (const s of Object.values(S)) for (const text of [r.stdout, r.stderr]) expect(text, `a secret (${s}) leaked`).not.toContain(s)
    }
    const env = { AWS_ACCESS_KEY_ID: S.key, AWS_SECRET_ACCESS_KEY: S.secret, AWS_SESSION_TOKEN: S.session }

    it('no access key, secret key, session token, signed query or proxy password appears when publish fails on TLS, a refused port, a stall or a 403 echoing the request', async () => {
      const echo = await echoServer()
      const mute = await muteServer()
      const port = await closedPort()
      const proxied = `http://${S.puser}:${S.ppass}@127.0.0.1:${new URL(proxy.url).port}`
      try {
        const cases: [S3, Record<string, string>, number][] = [
          [secure, { https_proxy: proxied, VMGIT_CA_DIR: otherDir }, 3],
          [secure, { VMGIT_CA_DIR: otherDir }, 3],
          [{ ...plain, endpoint: `http://127.0.0.1:${port}` }, { http_proxy: proxied }, 3],
          [{ ...plain, endpoint: mute.url }, { VMGIT_IDLE_TIMEOUT: '1' }, 3],
          [{ ...plain, endpoint: echo.url }, {}, 3],
        ]
        for (const [s, extra, exit] of cases) {
          const dir = mkdtempSync(path.join(tmp, 'repo-'))
          makeFixtureRepo(dir, BASE, [{ match: BASE, replace: `s3://${s.bucket}/p/?X-Amz-Signature=${S.amz}`, endpoint: s.endpoint, path_style: true }], { git: true, imageBytes: 1024 })
          for (const json of [[], ['--json']]) {
            const r = await publish(dir, { ...env, ...extra }, json)
            expect(r.code, `${s.endpoint} ${JSON.stringify(extra)}: ${r.stderr}`).toBe(exit)
            clean(r)
          }
        }
      } finally {
        await echo.stop()
        await mute.stop()
      }
    })

    it('an endpoint with credentials in its URL is refused as configuration (TRANSFER_CONFIG; the list fails: exit 1), naming none of them', async () => {
      const { dir } = repo({ ...plain, endpoint: `http://${S.key}:${S.secret}@127.0.0.1:${plain.port}` })
      const r = await publish(dir, env)
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('[TRANSFER_CONFIG]')])
      clean(r)
    })
  })
})

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

/** Accepts connections and never answers (a stalled gateway). */
async function muteServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const socks = new Set<net.Socket>()
  const s = net.createServer((c) => {
    socks.add(c)
    c.on('error', () => {})
    c.on('close', () => socks.delete(c))
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    stop: () => new Promise((r) => {
      for (const c of socks) c.destroy()
      s.close(() => r())
    }),
  }
}

/** Answers every request with 403 and a body repeating its request line and headers (Authorization included). */
async function echoServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume()
    const text = `${req.method} ${req.url}\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n')}`
    res.writeHead(403, { 'content-type': 'text/plain' }).end(text)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}

/** Answers every request with 200 and a body of 10,000 bytes sent one byte every 200 ms (never idle, never done). */
async function trickleServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>()
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': '10000' })
      const t = setInterval(() => res.write(' '), 200)
      timers.add(t)
      res.on('close', () => {
        clearInterval(t)
        timers.delete(t)
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise((r) => {
      for (const t of timers) clearInterval(t)
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}
