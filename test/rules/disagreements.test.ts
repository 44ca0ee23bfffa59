/**
 * Issue 14: the disagreements between commands that users saw, each fixed by the rulebook.
 * (The full rule × command matrix is table.test.ts.)
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { commitAll } from '../helpers/git.js'
import type { Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'
import { hepixDate, makeWorld, sharedPki, type World } from '../subscriber/world.js'

const F = path.resolve(__dirname, '../fixtures')
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-disagree-'))
let pki: Pki
beforeAll(async () => {
  pki = await sharedPki()
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('vmgit verify on a list that expired in 2025 (sync rejects it with LIST_EXPIRED)', () => {
  const list = path.join(F, 'synthetic/vmcaster-style.sha1.smime') // dc:date:expires 2025-01-29T00:00:00Z
  const ca = path.join(F, 'cloudkeeper/ca')
  it('fails with LIST_EXPIRED (exit 1), in text and in --json', async () => {
    const r = await runCli(['verify', list, '--ca-dir', ca, '--no-crl-check'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error \[LIST_EXPIRED\]: the list expired on 2025-01-29T00:00:00Z/)
    expect(r.stdout).not.toContain('verified')
    const j = await runCli(['verify', list, '--ca-dir', ca, '--no-crl-check', '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'LIST_EXPIRED' } })
  })
  it('passes at an --at inside its validity', async () => {
    const r = await runCli(['verify', list, '--ca-dir', ca, '--no-crl-check', '--at', '2025-01-15T00:00:00Z'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^verified /)
  })
  it('passes with --allow-expired, reporting LIST_EXPIRED as a warning', async () => {
    const r = await runCli(['verify', list, '--ca-dir', ca, '--no-crl-check', '--allow-expired', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, problems: [expect.objectContaining({ code: 'LIST_EXPIRED' })] })
  })
})

describe('the expires == now boundary', () => {
  let w: World
  beforeAll(async () => {
    w = await makeWorld({ pki })
  })
  afterAll(async () => w.close())
  const repoExpiring = (expires: Date): FixtureRepo => {
    const r = makeFixtureRepo(mkdtempSync(path.join(tmp, 'b-')), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${tmp}/pub/` }])
    const f = path.join(r.dir, 'imagelists/production.yaml')
    writeFileSync(f, execFileSync('sed', [`s/^endorser:/expires: "${hepixDate(expires)}"\\nendorser:/`, f]))
    return r
  }
  it('validate and sync both refuse a list at its expiry instant, and both accept it one second before', async () => {
    const at = new Date(w.now.getTime() + 3600_000)
    const atIso = at.toISOString()
    const before = new Date(at.getTime() - 1000).toISOString()
    const r = repoExpiring(at)
    const vAt = await runCli(['validate', '--repo', r.dir, '--now', atIso])
    const vBefore = await runCli(['validate', '--repo', r.dir, '--now', before])
    expect([vAt.code, vBefore.code]).toEqual([1, 0])
    expect(vAt.stdout).toContain('[LIST_EXPIRED]')

    await w.publish({ id: w.listId, version: '1', images: [], expires: at })
    expect((await w.trust()).code).toBe(0)
    const sAt = await w.cli(['sub', 'add', w.listUrl, '--now', atIso])
    expect(sAt.code).toBe(1)
    expect(sAt.stderr).toContain('LIST_EXPIRED')
    const sBefore = await w.cli(['sub', 'add', w.listUrl, '--now', before])
    expect(sBefore.code, sBefore.stderr).toBe(0)
  })
})

describe('a plain plan right after a successful publish', () => {
  it('shows no change (no `hv:endorser/hv:dn … -> (removed)`) without --cert', async () => {
    const pub = path.join(tmp, 'pub-plan')
    const r = makeFixtureRepo(path.join(tmp, 'repo-plan'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
    commitAll(r.dir, 'the repository as published') // issue 15: publish signs only what is committed
    const p = await runCli(['publish', '--repo', r.dir, '--key', pki.signer.key, '--cert', pki.signer.cert])
    expect(p.code, p.stderr).toBe(0)
    const plain = await runCli(['plan', '--repo', r.dir], { env: { VMGIT_SIGNING_CERT: undefined } })
    expect(plain.stdout).not.toContain('(removed)')
    expect(plain.stdout).toContain('No changes.')
    expect(plain.code).toBe(0)
    // a certificate, when given, decides the names: another signer's is a real change
    const withCert = await runCli(['plan', '--repo', r.dir, '--cert', pki.signer2.cert])
    expect(withCert.code).toBe(4)
    expect(withCert.stdout).toContain('hv:endorser/hv:dn')
  })
})

describe('vmgit sign --in on a list JSON that subscribers would refuse', () => {
  it('refuses an expired list with LIST_EXPIRED, as sync would refuse it', async () => {
    const json = path.join(F, 'synthetic/vmcaster-style.json') // dc:date:expires 2025-01-29T00:00:00Z
    const r = await runCli(['sign', '--in', json, '--key', pki.signer.key, '--cert', pki.signer.cert, '--allow-endorser-mismatch', '--out', path.join(tmp, 'x.smime')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('LIST_EXPIRED')
  })
})
