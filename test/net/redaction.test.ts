/**
 * Issue 14, one redaction policy (src/net/redact.ts), end to end: secrets planted as URL user
 * name and password, as ?token= / ?sig= / X-Amz-Signature values, in Authorization headers a
 * server echoes back, and in the environment; every command that can fail on such a URL fails;
 * no secret appears in stdout, stderr (the log), --json, or the SQLite database.
 */
import Database from 'better-sqlite3'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GlanceClient } from '../../src/glance/client.js'
import { redactText, redactUrl } from '../../src/net/redact.js'
import { openTransfer } from '../../src/transfer/index.js'
import type { CliResult } from '../helpers/cli.js'
import { commitAll } from '../helpers/git.js'
import { makeFixtureRepo } from '../publish/repo-fixture.js'
import { makeWorld, sharedPki, type World } from '../subscriber/world.js'

const S = {
  user: 'usr-SECRETUSER-7f3a',
  pass: 'pw-SECRETPASS-91c2',
  token: 'tok-SECRETTOKEN-55aa',
  sig: 'sig-SECRETSIG-0b1d',
  amz: 'amz-SECRETAMZ-77ee',
  bearer: 'bearer-SECRETBEARER-3c4d',
  env: 'env-SECRETENV-9e8f',
}
const SECRETS = [...Object.values(S), Buffer.from(`${S.user}:${S.pass}`).toString('base64')]

const clean = (text: string): void => {
  for (const s of SECRETS) expect(text, `a secret (${s.slice(0, 12)}…) leaked`).not.toContain(s)
}
const cleanRun = (r: CliResult): void => {
  clean(r.stdout)
  clean(r.stderr)
}
/** The URL with every kind of secret planted. */
const planted = (base: string, p: string): string => {
  const u = new URL(base)
  return `${u.protocol}//${S.user}:${S.pass}@${u.host}${p}?token=${S.token}&sig=${S.sig}&X-Amz-Signature=${S.amz}&x=1`
}

describe('one redaction policy', () => {
  describe('the functions', () => {
    it('masks the whole userinfo (a token as user name too) and credential query values', () => {
      expect(redactUrl(`https://${S.token}@appdb.example/list`)).toBe('https://***@appdb.example/list')
      expect(redactUrl(planted('https://h', '/l'))).toBe('https://***@h/l?token=***&sig=***&X-Amz-Signature=***&x=1')
      const t = redactText(`GET ${planted('https://h', '/l')} failed; Authorization: Bearer ${S.bearer}; X-Auth-Token: ${S.env}`)
      clean(t)
      expect(t).toContain('https://***@h/l?token=***')
    })
  })

  describe('a SigV4 signature repeated from an Authorization header', () => {
    it('is masked like the X-Amz-Signature query value', () => {
      const sig = 'a'.repeat(24) + '0123456789abcdef'.repeat(2)
      const t = redactText(`authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261130/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${sig}`)
      expect(t).not.toContain(sig)
      expect(t).toContain('Signature=***')
    })
  })

  describe('every command failing on a URL full of secrets', { timeout: 180_000 }, () => {
    let w: World
    let repo: string
    const env = { VMGIT_DAV_TOKEN: S.env, VMGIT_DAV_PASSWORD: S.env, AWS_SECRET_ACCESS_KEY: S.env }
    beforeAll(async () => {
      w = await makeWorld({ pki: await sharedPki() })
      repo = mkdtempSync(path.join(os.tmpdir(), 'vmgit-net-redact-'))
      writeFileSync(path.join(repo, 'vmgit.yaml'), 'version: 1\n')
      expect((await w.trust()).code).toBe(0)
    })
    afterAll(async () => w.close())

    const both = async (args: string[]): Promise<void> => {
      for (const a of [args, [...args, '--json']]) {
        const r = await w.cli(a, { env })
        expect(r.code).not.toBe(0)
        cleanRun(r)
      }
    }

    it('verify, import, sub add and image add print no secret, and sub add stores none', async () => {
      const url = planted(w.server.base, '/missing.smime')
      await both(['verify', url, '--ca-dir', w.pki.caDir])
      await both(['import', url, '--repo', repo, '--ca-dir', w.pki.caDir])
      await both(['sub', 'add', url, '--now', w.nowIso])
      await both(['image', 'add', 'x', '--url', url, '--repo', repo])
      await both(['image', 'add', 'x', '--url', w.server.url('/images/none.img'), '--checksums', url, '--repo', repo])
      if (existsSync(w.db)) clean(readFileSync(w.db).toString('latin1'))
    })

    it('sync of a subscription whose server now fails prints no secret and records none outside the stored credentials', async () => {
      const img = w.image('r.img', 2000)
      w.server.set('/auth.smime', { body: await w.signed({ id: w.listId, version: '1', images: [img] }), auth: { username: S.user, password: S.pass } })
      const add = await w.cli(['sub', 'add', planted(w.server.base, '/auth.smime'), '--now', w.nowIso], { env })
      expect(add.code).toBe(0)
      cleanRun(add)
      w.server.set('/auth.smime', { status: 500 })
      for (const extra of [[], ['--json'], ['--log-format', 'json']]) {
        const r = await w.sync(extra, { env })
        expect(r.code).toBe(3)
        cleanRun(r)
      }
      for (const a of [['sub', 'list'], ['sub', 'list', '--json'], ['sub', 'show', w.listId], ['sub', 'show', w.listId, '--json']]) cleanRun(await w.cli(a, { env }))
      // the subscription's own credentials (user, password, the URL's query) are what sync needs to
      // fetch: they live in subscription_url only; no message, status or history row repeats them
      const db = new Database(w.db, { readonly: true })
      try {
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name)
        for (const t of tables) {
          for (const row of db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[]) {
            if (t === 'subscription_url') for (const k of ['url', 'username', 'password']) delete row[k]
            clean(JSON.stringify(row))
          }
        }
      } finally {
        db.close()
      }
    })

    describe('publish backends and Glance (in-process), against a server that echoes the request back', () => {
      let echo: { url: string; stop(): Promise<void> }
      beforeAll(async () => (echo = await startEcho()))
      afterAll(async () => echo.stop())

      it('WebDAV: a 403 whose body repeats the Authorization header and the URL shows neither', async () => {
        const t = await openTransfer(planted(echo.url, '/dav/'))
        const err = (await t.put(Buffer.from('x'), '/dav/a.smime').catch((e: unknown) => e)) as Error & { code: string }
        await t.close()
        expect(err.code).toBe('TRANSFER_AUTH_FAILED')
        clean(err.message)
        clean(JSON.stringify(err))
        const tok = await openTransfer(`${echo.url}/dav/`, { token: S.bearer })
        const e2 = (await tok.get('/dav/b').catch((e: unknown) => e)) as Error
        await tok.close()
        clean(e2.message)
      })

      it('S3: a 403 whose body repeats the signed request (access key id, session token, signature) shows none of them', async () => {
        const t = await openTransfer(`s3://s3echo/p/?X-Amz-Signature=${S.amz}`, { endpoint: echo.url, forcePathStyle: true, region: 'us-east-1', accessKeyId: S.user, secretAccessKey: S.env, sessionToken: S.token })
        for (const op of [() => t.put(Buffer.from('x'), '/p/a.smime'), () => t.get('/p/b'), () => t.list('/p/')]) {
          const err = (await op().catch((e: unknown) => e)) as Error & { code: string }
          expect(err.code).toBe('TRANSFER_AUTH_FAILED')
          clean(err.message)
          clean(JSON.stringify(err))
          // the gateway's message did reach the user, with the request's SigV4 signature masked
          expect(err.message).toContain('AccessDenied')
          expect(err.message).not.toMatch(/Signature=[0-9a-f]{16}/)
        }
        await t.close()
      })

      it('sftp and s3: connection failures with secrets in the URL and the options show none', async () => {
        const sftp = await openTransfer(`sftp://${S.user}:${S.pass}@127.0.0.1:1/x?token=${S.token}`).catch((e: unknown) => e)
        const e1 = sftp instanceof Error ? sftp : await (sftp as Awaited<ReturnType<typeof openTransfer>>).put(Buffer.from('x'), '/x/a').catch((e: unknown) => e)
        clean((e1 as Error).message)
        const s3 = await openTransfer(`s3://bucket/p?X-Amz-Signature=${S.amz}`, { endpoint: 'http://127.0.0.1:1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: S.env, timeoutMs: 2000 })
        const e2 = (await s3.put(Buffer.from('x'), '/p/a').catch((e: unknown) => e)) as Error
        await s3.close()
        expect(e2).toBeInstanceOf(Error)
        clean(e2.message)
      })

      it('publish to WebDAV, sftp and s3 targets from vmgit.yaml (secrets in the target URL and the environment) prints none', async () => {
        const base = 'http://127.0.0.1:9/'
        const host = new URL(echo.url).host
        // [target, environment, exit]: a password in a vmgit.yaml URL is refused as configuration (exit 2), the rest fail on the network (exit 3)
        const cases: [Record<string, unknown>, Record<string, string>, number][] = [
          [{ match: base, replace: planted(echo.url, '/dav/') }, {}, 2],
          [{ match: base, replace: `http://${S.user}@${host}/dav/?token=${S.token}&sig=${S.sig}` }, { VMGIT_DAV_PASSWORD: S.pass }, 3],
          [{ match: base, replace: `${echo.url}/dav/` }, { VMGIT_DAV_TOKEN: S.bearer }, 3],
          [{ match: base, replace: `sftp://${S.user}:${S.pass}@127.0.0.1:1/srv/` }, { VMGIT_SSH_PASSWORD: S.env }, 2],
          [{ match: base, replace: `sftp://${S.user}@127.0.0.1:1/srv/` }, { VMGIT_SSH_PASSWORD: S.env }, 3],
          [{ match: base, replace: 's3://bucket/p/', endpoint: 'http://127.0.0.1:1', path_style: true }, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: S.env, AWS_REGION: 'us-east-1' }, 3],
        ]
        for (const [target, extra, exit] of cases) {
          const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-net-publish-'))
          makeFixtureRepo(dir, base, [target])
          commitAll(dir, 'targets') // issue 15: publish signs only what is committed, so it reaches the target
          for (const json of [[], ['--json']]) {
            const r = await w.cli(['publish', '--repo', dir, '--key', w.pki.signer.key, '--cert', w.pki.signer.cert, ...json], { env: { ...env, ...extra, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }, timeoutMs: 60_000 })
            expect(r.code, `${JSON.stringify(target)}: ${r.stderr}`).toBe(exit)
            cleanRun(r)
          }
        }
      }, 300_000)

      it('Glance: a 401 echoing X-Auth-Token and a refused connection show no token', async () => {
        const e1 = (await new GlanceClient({ endpoint: echo.url, token: S.bearer }).listImages().catch((e: unknown) => e)) as Error
        expect(e1).toBeInstanceOf(Error)
        clean(e1.message)
        const e2 = (await new GlanceClient({ endpoint: `http://${S.user}:${S.pass}@127.0.0.1:1/?token=${S.token}`, token: S.bearer }).listImages().catch((e: unknown) => e)) as Error
        expect(e2).toMatchObject({ code: 'FETCH_CONNECTION_REFUSED' })
        clean(e2.message)
      })
    })
  })
})

/** Answers every request with 403 (401 for Glance paths) and a body repeating its method, URL and headers (an S3 error document for the bucket s3echo). */
async function startEcho(): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume()
    const text = `${req.method} ${req.url}\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n')}`
    // the S3 bucket "s3echo" answers an S3 error document whose Message repeats the request (as a chatty gateway might)
    if (req.url!.startsWith('/s3echo')) {
      const xml = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      return void res.writeHead(403, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${xml}</Message></Error>`)
    }
    res.writeHead(req.url!.startsWith('/v2') ? 401 : 403, { 'content-type': 'text/plain' }).end(text)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}
