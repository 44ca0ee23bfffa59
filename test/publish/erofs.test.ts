/**
 * Issue 14 (environment failures) for a file:// publish target on a read-only file system: publish
 * fails with FS_READONLY (exit 2) naming the path and the fix, never INTERNAL, and what was
 * published before stays exactly as it was and still verifies.
 *
 * The read-only file system is a real one: a read-only bind mount of the target directory, made in
 * a private mount namespace (`unshare --mount`, as root; `--user --map-root-user` otherwise) that
 * only the publish process sees, so nothing on the machine changes and nothing needs unmounting.
 * /proc and /sys are no substitute: creating a file there fails with ENOENT or EACCES, not EROFS.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, runCli, runProcess, type CliResult } from '../helpers/cli.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from './repo-fixture.js'

const UNSHARE = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount']
const probe = spawnSync('unshare', [...UNSHARE, 'sh', '-c', 'd=$(mktemp -d) && mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && ! touch "$d/x" 2>/dev/null; r=$?; umount "$d"; rmdir "$d"; exit $r'], { encoding: 'utf8' })
const why = probe.error ? `unshare: ${probe.error.message}` : probe.status !== 0 ? `unshare ${UNSHARE.join(' ')} cannot make a read-only bind mount here: ${probe.stderr.trim() || `exit ${probe.status}`}` : undefined
if (why && process.env.CI === 'true') throw new Error(`${why} (CI=true: the EROFS test must run)`)
if (why) console.warn(`skipping the EROFS publish test: ${why}`)

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-erofs-'))
const PUB = path.join(tmp, 'pub')
let pki: Pki
let repo: FixtureRepo
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const publishArgs = () => ['publish', '--repo', repo.dir, '--key', pki.signer.key, '--cert', pki.signer.cert, '--json']
const env = { VMGIT_SIGNING_KEY: undefined, VMGIT_SIGNING_CERT: undefined }

/** `vmgit publish` with the target directory mounted read-only, in a mount namespace of its own. */
function publishOnReadOnly(): Promise<CliResult> {
  const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
  return runProcess('unshare', [...UNSHARE, 'sh', '-c', script, 'sh', PUB, process.execPath, BIN, ...publishArgs()], { env, timeoutMs: 60_000 })
}

/** Every file under the target with its bytes. */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries((readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort().flatMap((f) => {
    try {
      return [[f, readFileSync(path.join(dir, f)).toString('base64')]]
    } catch {
      return [] // a directory
    }
  }))

describe.skipIf(why !== undefined)('publish to a file:// target on a read-only file system (EROFS)', () => {
  let before: Record<string, string>
  let r: CliResult
  beforeAll(async () => {
    pki = await makePki(path.join(tmp, 'pki'))
    repo = makeFixtureRepo(path.join(tmp, 'repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${PUB}/` }], { git: true })
    repo.commit('first')
    const first = await runCli(publishArgs(), { env })
    if (first.code !== 0) throw new Error(`the first (writable) publish failed: ${first.stderr}`)
    // a new image version, committed: the next publish must upload it and re-sign the list
    repo.updateImage('alma')
    repo.commit('alma 2.0')
    before = snapshot(PUB)
    r = await publishOnReadOnly()
  }, 120_000)

  it('fails with FS_READONLY, exit 2, in text on stderr and as the one --json document', () => {
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain('[FS_READONLY]')
    expect(r.stderr).not.toContain('INTERNAL')
    const doc = JSON.parse(r.stdout) as { ok: boolean; error?: { code: string; exit: number; message: string; details?: { path?: string } } }
    expect(doc.ok).toBe(false)
    expect(doc.error).toMatchObject({ code: 'FS_READONLY', exit: 2 })
  })

  it('names a path under the target and says what to do', () => {
    const doc = JSON.parse(r.stdout) as { error: { message: string; details?: { path?: string } } }
    expect(doc.error.details?.path ?? doc.error.message).toContain(PUB)
    expect(doc.error.message).toMatch(/read-only file system \(EROFS\); remount it read-write or give a writable path/)
  })

  it('leaves the published list and images exactly as they were, and the list still verifies', async () => {
    expect(snapshot(PUB)).toEqual(before)
    const v = await opensslVerify(path.join(PUB, 'lists/production.list'), pki.caDir, { crlCheck: true })
    expect(v.ok).toBe(true)
  })

  it('publishes the change once the target is writable again', async () => {
    const again = await runCli(publishArgs(), { env })
    expect(again.code, again.stderr).toBe(0)
    expect(snapshot(PUB)).not.toEqual(before)
  })
})
