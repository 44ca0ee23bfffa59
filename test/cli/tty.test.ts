import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makePki, type Pki } from '../helpers/pki.js'
import { runCliOnTty } from '../helpers/pty.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'
import { type ImageFile, makeWorld, type World } from '../subscriber/world.js'

/**
 * What a person at a terminal sees: the no-echo passphrase prompt and the progress bars, on a
 * real pseudo-terminal (pipes, cron and --json never get either; other tests check that).
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-tty-'))
const PASS = 'tty-s3cret-passphrase'
let pki: Pki
let repo: FixtureRepo
let encKey: string
const pub = path.join(tmp, 'pub')
// no passphrase from the environment, so the CLI has to ask on the terminal
const NO_PASS_ENV = { VMGIT_KEY_PASSPHRASE: undefined, VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined, VMCASTER_X509_KEY: undefined, VMCASTER_X509_CERT: undefined }

beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
  encKey = path.join(tmp, 'signer-enc.pem')
  execFileSync('openssl', ['pkcs8', '-topk8', '-in', pki.signer.key, '-v2', 'aes-256-cbc', '-passout', `pass:${PASS}`, '-out', encKey])
  repo = makeFixtureRepo(path.join(tmp, 'repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${pub}/` }])
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('on a terminal', () => {
  describe('vmgit sign with an encrypted key and no VMGIT_KEY_PASSPHRASE', () => {
    it('asks for the passphrase without echoing it, then signs a list openssl verifies', async () => {
      const out = path.join(tmp, 'signed')
      const r = await runCliOnTty(['sign', 'production', '--repo', repo.dir, '--out-dir', out, '--key', encKey, '--cert', pki.signer.cert],
        { env: NO_PASS_ENV, answers: [['Passphrase for', `${PASS}\r`]] })
      expect(r.screen).toContain(`Passphrase for ${encKey}`)
      expect(r.screen).not.toContain(PASS)
      expect(r.code).toBe(0)
      const signed = readFileSync(path.join(out, 'production.smime'))
      execFileSync('openssl', ['smime', '-verify', '-CApath', pki.caDir, '-crl_check', '-out', '/dev/null'], { input: signed, stdio: ['pipe', 'pipe', 'pipe'] })
    })

    it('refuses a wrong passphrase with KEY_PASSPHRASE_WRONG (exit 2), still without echoing it', async () => {
      const r = await runCliOnTty(['sign', 'production', '--repo', repo.dir, '--out-dir', path.join(tmp, 'x'), '--key', encKey, '--cert', pki.signer.cert],
        { env: NO_PASS_ENV, answers: [['Passphrase for', 'not-the-passphrase\r']] })
      expect(r.screen).not.toContain('not-the-passphrase')
      expect(r.screen).toContain('KEY_PASSPHRASE_WRONG')
      expect(r.code).toBe(2)
    })

    it('stops on Ctrl-C at the prompt (exit 2) without echoing what was typed', async () => {
      const r = await runCliOnTty(['sign', 'production', '--repo', repo.dir, '--out-dir', path.join(tmp, 'y'), '--key', encKey, '--cert', pki.signer.cert],
        { env: NO_PASS_ENV, answers: [['Passphrase for', 'half\u0003']] })
      expect(r.screen).toContain('passphrase entry cancelled')
      expect(r.screen).not.toContain('half')
      expect(r.code).toBe(2)
    })
  })

  describe('vmgit publish', () => {
    it('draws an upload bar per image that ends at 100%', async () => {
      const r = await runCliOnTty(['publish', '--repo', repo.dir, '--allow-dirty', '--key', pki.signer.key, '--cert', pki.signer.cert], { env: NO_PASS_ENV })
      expect(r.code).toBe(0)
      for (const name of ['alma', 'ubuntu']) expect(r.screen).toMatch(new RegExp(`\\rupload Image ${name} +\\[#{30}\\] 100% `))
      expect(r.screen).toContain('production: published version')
    })
  })

  describe('vmgit sync', () => {
    let w: World
    let big: ImageFile
    beforeAll(async () => {
      w = await makeWorld({ pki })
      big = w.image('big.raw', 3 * 1024 * 1024)
      // about 5 MB/s: the download lasts long enough for the bar to be redrawn
      w.server.set(big.route, { file: big.path, trickle: { bytes: 128 * 1024, everyMs: 25 } })
      await w.publish({ id: w.listId, version: '1', images: [big] })
      for (const r of [await w.trust(), await w.add(w.listUrl), await w.cli(['sub', 'select', big.id])]) expect(r.code).toBe(0)
    })
    afterAll(async () => w.close())

    it('shows a download bar while an image downloads and erases it afterwards', async () => {
      const r = await runCliOnTty(['sync', '--now', w.nowIso], { env: w.env })
      expect(r.code).toBe(0)
      const bars = r.screen.match(/\r\x1b\[K[^\r]*\[[#.]{20}\] [\d.]+\/3\.0 MiB/g) ?? []
      expect(bars.length).toBeGreaterThan(1)
      expect(bars.at(-1)).toMatch(/\[#+\.*\]/) // it moved
      expect(r.screen).toContain('\r\x1b[K') // erased when done
      expect(w.cacheFiles()[`cache/${big.id}`]).toBe(big.sha512)
    })
  })
})
