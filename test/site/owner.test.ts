import { chmodSync, chownSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRoot, makeTestUser, type TestUser } from '../helpers/users.js'
import { makeWorld, sharedPki, snapshot, type World } from '../subscriber/world.js'

/**
 * Issue 16, one owner for the state: following the README's site steps (a service user owns the
 * state and cache directories; every admin command runs as that user), every file vmgit creates
 * belongs to that user; root running vmgit on that state refuses (STATE_OWNER) and creates nothing.
 * Needs root to make the second user (CI runs as root); elsewhere the file modes are the user's own.
 */
if (!isRoot() && process.env.CI) throw new Error('test/site/owner.test.ts needs root under CI (it creates a throwaway system user)')

describe.runIf(isRoot())('issue 16 one owner for the state (as root, with a service user)', () => {
  let w: World
  let user: TestUser
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    user = makeTestUser()
    // README: install -d -o vmgit -g vmgit -m 0700 /var/lib/vmgit; install -d -o vmgit -g vmgit -m 0755 /var/cache/vmgit
    for (const [d, mode] of [[path.dirname(w.db), 0o700], [w.cacheRoot, 0o755]] as const) {
      mkdirSync(d, { recursive: true })
      chownSync(d, user.uid, user.gid)
      chmodSync(d, mode)
    }
    // the test world (and its throwaway PKI) must be reachable by the service user
    for (const d of [w.dir, path.dirname(w.pki.caDir), w.pki.caDir]) chmodSync(d, 0o755)
    for (const f of readdirSync(w.pki.caDir)) chmodSync(path.join(w.pki.caDir, f), 0o644)
  }, 120_000)
  afterAll(async () => {
    user?.remove()
    await w?.close()
  })

  const asUser = (args: string[]): ReturnType<World['cli']> => w.cli(args, { ...user.spawn, env: { HOME: w.dir } })

  it('admin commands and sync run as the service user leave only files owned by that user', async () => {
    const img = w.image('owned.qcow2', 30_000)
    chmodSync(path.dirname(img.path), 0o755)
    await w.publish({ id: w.listId, version: '1.0', images: [img] })
    for (const args of [
      ['sub', 'trust', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer, '--name', 'owned'],
      ['sub', 'add', w.listUrl, '--now', w.nowIso],
      ['sub', 'select', img.id],
      ['sync', '--now', w.nowIso],
    ]) {
      const r = await asUser(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
    }
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]))
    const files = [...walk(path.dirname(w.db)), ...walk(w.cacheRoot)]
    expect(files.some((f) => f.endsWith('subscriber.db'))).toBe(true)
    expect(files.some((f) => f.endsWith(img.sha512))).toBe(true)
    for (const f of files) expect(statSync(f).uid, f).toBe(user.uid)
    expect(statSync(w.db).mode & 0o777).toBe(0o600)
  })

  it('root running sync or an admin command on that state refuses with STATE_OWNER and the command to run, changing nothing', async () => {
    const before = snapshot(w)
    for (const args of [['sync', '--now', w.nowIso], ['sub', 'add', w.listUrl], ['sub', 'trust', 'list']]) {
      const r = await w.cli(args)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('[STATE_OWNER]')
      expect(r.stderr).toContain(`belongs to ${user.name}`)
      expect(r.stderr).toContain(`runuser -u ${user.name} -- vmgit ${args[0]}`)
    }
    expect(snapshot(w)).toEqual(before)
    for (const f of readdirSync(path.dirname(w.db))) expect(statSync(path.join(path.dirname(w.db), f)).uid).toBe(user.uid)
  })

  it('the service user meeting a database root left behind gets DB_PERMISSION with path, owner, mode and the fix', async () => {
    const rootDb = path.join(w.dir, 'root-state/subscriber.db')
    mkdirSync(path.dirname(rootDb))
    chmodSync(path.dirname(rootDb), 0o755)
    const made = await w.cli(['sub', 'trust', '--subject', w.pki.signer.subject, '--issuer', w.pki.signer.issuer, '--name', 'x'], { env: { VMGIT_DB: rootDb } })
    expect(made.code).toBe(0)
    const r = await w.cli(['sync', '--now', w.nowIso], { ...user.spawn, env: { HOME: w.dir, VMGIT_DB: rootDb } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('[DB_PERMISSION]')
    expect(r.stderr).toContain(rootDb)
    expect(r.stderr).toContain('owner root (uid 0), mode 0600')
    expect(r.stderr).toContain('runuser -u root')
    expect(r.stderr).toContain(`chown -R ${user.name}: ${path.dirname(rootDb)}`)
  })
})
