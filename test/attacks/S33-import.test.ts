import { createHash, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeWorld, sharedPki, type World } from '../subscriber/world.js'

/**
 * S33 publisher import: `vmgit import URL` trusts a list fetched over the network only through its
 * signature, checked as `vmgit verify` checks it (chain to the trust directory, CRL, and the endorser:
 * hv:dn/hv:ca = the signer's subject/issuer). A refused import writes nothing into the repository.
 */
function repoFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    if (!existsSync(d)) return
    for (const e of readdirSync(d)) {
      const p = path.join(d, e)
      if (statSync(p).isDirectory()) walk(p)
      else out[path.relative(dir, p)] = createHash('sha512').update(readFileSync(p)).digest('hex')
    }
  }
  walk(dir)
  return out
}

describe('S33 publisher import of a list URL', () => {
  let w: World
  let repo: string
  const id = randomUUID()
  const importUrl = (url: string, ...extra: string[]) => w.cli(['import', url, '--repo', repo, '--ca-dir', w.pki.caDir, ...extra])

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    repo = path.join(w.dir, 'repo')
    mkdirSync(repo)
  }, 120_000)
  afterAll(async () => w.close())

  describe('when a bare JSON is served in place of the signed file', () => {
    it.each([
      ['the list JSON itself', (json: string) => ({ body: json, headers: { 'content-type': 'application/json' } })],
      ['the JSON behind MIME headers that are not multipart/signed', (json: string) => ({ body: `MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${json}` })],
      ['the JSON with a multipart/signed word in its body only', (json: string) => ({ body: `${json}\n// Content-Type: multipart/signed\n` })],
    ])('refuses %s (UNSIGNED_SOURCE, exit 1) and writes nothing', async (_what, serve) => {
      w.server.set('/plain.smime', serve(w.listJson({ id, version: '1.0', images: [] })))
      const before = repoFiles(repo)
      const r = await importUrl(w.server.url('/plain.smime'))
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[UNSIGNED_SOURCE]')
      expect(r.stderr).toContain('--allow-unsigned')
      expect(repoFiles(repo)).toEqual(before)
    })

    it('refuses it behind a redirect from the signed list\'s URL too', async () => {
      w.server.set('/moved.json', { body: w.listJson({ id, version: '1.0', images: [] }) })
      w.server.set('/redirected.smime', { redirect: '/moved.json' })
      const before = repoFiles(repo)
      const r = await importUrl(w.server.url('/redirected.smime'))
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[UNSIGNED_SOURCE]')
      expect(repoFiles(repo)).toEqual(before)
    })

    it('imports it only with --allow-unsigned, and says so loudly', async () => {
      const other = path.join(w.dir, 'unsigned-repo')
      w.server.set('/plain.json', { body: w.listJson({ id: randomUUID(), version: '1.0', images: [] }) })
      const r = await w.cli(['import', w.server.url('/plain.json'), '--repo', other, '--allow-unsigned'])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('INSECURE: the list was not signed')
    })
  })

  describe('when the list is signed', () => {
    it.each([
      ['names another endorser in hv:dn', { dn: '/DC=org/DC=vmgit-test/O=Test Grid/CN=Somebody Else' }, undefined, 'ENDORSER_MISMATCH'],
      ['names another CA in hv:ca', { ca: '/C=XX/O=Other Federation/CN=Other Root CA' }, undefined, 'ENDORSER_MISMATCH'],
      ['comes from a signer outside the trust directory', {}, 'signer2', 'UNTRUSTED_SIGNER'],
      ['comes from a revoked signer', {}, 'revoked', 'SIGNER_REVOKED'],
    ] as const)('refuses a list that %s and writes nothing', async (_what, claim, who, code) => {
      const signer = who ? w.pki[who] : w.pki.signer
      w.server.set('/bad.smime', { body: await w.signed({ id, version: '1.0', images: [], ...claim }, signer) })
      const before = repoFiles(repo)
      const r = await importUrl(w.server.url('/bad.smime'))
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`[${code}]`)
      expect(repoFiles(repo)).toEqual(before)
    })

    it('imports a list whose signature and endorser verify', async () => {
      await w.publish({ id, version: '1.0', images: [] })
      const r = await importUrl(w.listUrl, '--name', 'prod')
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(readFileSync(path.join(repo, 'imagelists/prod.yaml'), 'utf8')).toContain(id)
    })

    it('refuses a newer version of that list signed and endorsed by another valid certificate (ENDORSER_CHANGED), repository unchanged', async () => {
      // the intermediate CA's signer: a valid chain, and hv:dn/hv:ca name it correctly
      await w.publish({ id, version: '2.0', images: [] }, { signer: w.pki.subSigner })
      const before = repoFiles(repo)
      const r = await importUrl(w.listUrl)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[ENDORSER_CHANGED]')
      expect(repoFiles(repo)).toEqual(before)
    })

    it('accepts a hv:dn mismatch only with --allow-endorser-mismatch, reported as vmgit verify reports it', async () => {
      const other = path.join(w.dir, 'mismatch-repo')
      w.server.set('/mismatch.smime', { body: await w.signed({ id: randomUUID(), version: '1.0', images: [], dn: '/CN=Claimed' }) })
      const r = await w.cli(['import', w.server.url('/mismatch.smime'), '--repo', other, '--ca-dir', w.pki.caDir, '--allow-endorser-mismatch'])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('[ENDORSER_MISMATCH]')
    })
  })
})
