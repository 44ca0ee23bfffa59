/** Repository mode of `vmgit sign`: render from the YAML repository, fill dn/ca, check, sign. */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initRepository } from '../../src/repo/init.js'
import { loadRepository } from '../../src/model/load.js'
import { loadCredentials } from '../../src/smime/credentials.js'
import { verifyImageList } from '../../src/smime/imagelist.js'
import { signRepoList } from '../../src/publish/sign-repo.js'
import type { SigningCredentials } from '../../src/smime/sign.js'
import { loadTrustStore } from '../../src/smime/trust.js'
import { runCli } from '../helpers/cli.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'

const NOW = new Date('2026-01-01T00:00:00Z')

describe('sign: repository mode', () => {
  let tmp: string
  let pki: Pki
  let repoDir: string
  let creds: SigningCredentials
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vmgit-repo-sign-'))
    pki = await makePki(path.join(tmp, 'pki'))
    repoDir = path.join(tmp, 'repo')
    await initRepository(repoDir)
    creds = await loadCredentials({ key: pki.signer.key, cert: pki.signer.cert })
  })
  afterAll(async () => rm(tmp, { recursive: true, force: true }))

  describe('when the endorser leaves dn/ca out (the template does)', () => {
    it('fills them from the certificate, so the strict endorser check passes in vmgit verify', async () => {
      const repo = await loadRepository(repoDir, { now: NOW })
      const list = [...repo.lists.values()][0]!
      const r = await signRepoList(repo, list, creds, { now: new Date() })
      expect(r.json).toContain(`"hv:dn": "${pki.signer.subject}"`)
      expect(r.json).toContain(`"hv:ca": "${pki.signer.issuer}"`)
      const v = await verifyImageList(r.smime, { trust: await loadTrustStore(pki.caDir), at: new Date(), crlCheck: true })
      expect(v.problems).toEqual([])
      expect(v.content.toString()).toBe(r.json.replace(/\r?\n/g, '\r\n'))
      expect((await opensslVerify(r.smime, pki.caDir, { crlCheck: true })).ok).toBe(true)
    })
    it('uses the digest of vmgit.yaml unless told otherwise', async () => {
      const repo = await loadRepository(repoDir, { now: NOW })
      const list = [...repo.lists.values()][0]!
      expect((await signRepoList(repo, list, creds, { now: new Date() })).smime.toString()).toContain('micalg="sha-256"')
      expect((await signRepoList(repo, list, creds, { now: new Date(), digest: 'sha1' })).smime.toString()).toContain('micalg="sha1"')
    })
  })

  describe('when the endorser names another certificate', () => {
    it('refuses with ENDORSER_MISMATCH', async () => {
      const dir = path.join(tmp, 'repo2')
      await initRepository(dir)
      const endorsers = await readdir(path.join(dir, 'endorsers'))
      const file = path.join(dir, 'endorsers', endorsers[0]!)
      await writeFile(file, (await readFile(file, 'utf8')).replace('# dn: /DC=org', 'dn: /DC=org').replace('# ca: /DC=org', 'ca: /DC=org'))
      const repo = await loadRepository(dir, { now: NOW })
      await expect(signRepoList(repo, [...repo.lists.values()][0]!, creds, { now: new Date() })).rejects.toMatchObject({ code: 'ENDORSER_MISMATCH' })
    })
  })

  describe('vmgit sign --all --out-dir (CLI)', () => {
    it('writes DIR/<name>.smime per list, each verifiable with openssl -crl_check', async () => {
      const out = path.join(tmp, 'out')
      const r = await runCli(['sign', '--all', '--repo', repoDir, '--out-dir', out, '--key', pki.signer.key, '--cert', pki.signer.cert, '--json'])
      expect(r.code).toBe(0)
      const res = JSON.parse(r.stdout) as { signed: { name: string; out: string }[] }
      expect(res.signed.length).toBeGreaterThan(0)
      for (const s of res.signed) {
        expect(s.out).toBe(path.join(out, `${s.name}.smime`))
        expect((await opensslVerify(s.out, pki.caDir, { crlCheck: true })).ok).toBe(true)
      }
    })
  })
})
