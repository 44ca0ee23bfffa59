import Database from 'better-sqlite3'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CliResult } from '../helpers/cli.js'
import { isRoot, makeTestUser, type TestUser } from '../helpers/users.js'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

/**
 * S34 local state: a damaged, truncated, foreign, read-only or foreign-owned database, dropped
 * tables and an unreadable cache each end in a typed error that names the path and the fix (exit 2),
 * never INTERNAL; the damaged file is left exactly as it was (evidence for the operator) and the
 * verified state, cache and trust of the real world are unchanged. Read-only commands never create a
 * database at a mistyped path.
 */
const sha = (p: string): string => createHash('sha512').update(readFileSync(p)).digest('hex')
/** The files of a state directory (the SQLite side files a failed open may leave aside) with their content. */
const stateOf = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir).filter((n) => !/-(wal|shm)$/.test(n)).map((n) => [n, statSync(path.join(dir, n)).isFile() ? sha(path.join(dir, n)) : 'dir']))

function expectTyped(r: CliResult, code: string, ...mentions: string[]): void {
  expect(r.stderr).not.toContain('INTERNAL')
  expect(r.stderr).toContain(`[${code}]`)
  expect(r.code).toBe(2)
  for (const m of mentions) expect(r.stderr).toContain(m)
}

describe('S34 local state: corrupt, truncated, foreign, read-only or foreign-owned database, dropped tables, unreadable cache', () => {
  let b: Baseline
  let user: TestUser
  let n = 0
  beforeAll(async () => {
    b = await subscribed()
    user = makeTestUser()
  }, 120_000)
  afterAll(async () => {
    user?.remove()
    await b?.w.close()
  })

  /** A copy of the subscribed world's database in a directory of its own, damaged by `harm`. */
  function damaged(harm: (db: string) => void): { dir: string; db: string } {
    const dir = path.join(b.w.dir, `case-${++n}`)
    mkdirSync(dir, { recursive: true })
    const db = path.join(dir, 'subscriber.db')
    copyFileSync(b.w.db, db)
    if (existsSync(`${b.w.db}-wal`)) copyFileSync(`${b.w.db}-wal`, `${db}-wal`)
    harm(db)
    return { dir, db }
  }
  /** The case's own database, cache and home (oclif reads HOME; the second user cannot enter root's). */
  const caseEnv = (db: string): Record<string, string> => ({ VMGIT_DB: db, VMGIT_CACHE_DIR: path.join(path.dirname(db), 'cache'), HOME: path.dirname(db) })
  const sync = (db: string, extra: string[] = [], opts: { uid?: number; gid?: number } = {}): Promise<CliResult> =>
    b.w.cli(['sync', '--now', b.w.nowIso, ...extra], { env: caseEnv(db), ...opts })
  const list = (db: string, opts: { uid?: number; gid?: number } = {}): Promise<CliResult> =>
    b.w.cli(['sub', 'list'], { env: caseEnv(db), ...opts })

  /** Run `sync` and `sub list` on a damaged copy: both fail with `code`, the copy and the world stay as they were. */
  async function refusedBoth(c: { dir: string; db: string }, code: string, ...mentions: string[]): Promise<void> {
    const world = snapshot(b.w)
    const before = stateOf(c.dir)
    expectTyped(await sync(c.db), code, c.db, ...mentions)
    expectTyped(await list(c.db), code, c.db, ...mentions)
    expect(stateOf(c.dir)).toEqual(before)
    expect(snapshot(b.w)).toEqual(world)
  }

  describe('when the database is corrupt', () => {
    it('rejects a damaged header with DB_CORRUPT, the path and the fix, and keeps the file', async () => {
      const c = damaged((db) => {
        const fd = openSync(db, 'r+')
        writeSync(fd, randomBytes(16), 0, 16, 0)
        closeSync(fd)
      })
      await refusedBoth(c, 'DB_CORRUPT', 'restore it from a backup', 'sub add')
    })

    it('rejects damaged pages inside the file with DB_CORRUPT, never INTERNAL', async () => {
      const c = damaged((db) => {
        const size = statSync(db).size
        const fd = openSync(db, 'r+')
        // every page after the first (the schema) overwritten with noise
        writeSync(fd, randomBytes(size - 4096), 0, size - 4096, 4096)
        closeSync(fd)
      })
      const world = snapshot(b.w)
      expectTyped(await sync(c.db), 'DB_CORRUPT', c.db)
      expectTyped(await list(c.db), 'DB_CORRUPT', c.db)
      expect(snapshot(b.w)).toEqual(world)
    })

    it('rejects a file that is not SQLite at all (e.g. a list saved over it) with DB_CORRUPT', async () => {
      const c = damaged((db) => writeFileSync(db, '{"hv:imagelist": {}}\n'))
      await refusedBoth(c, 'DB_CORRUPT')
    })
  })

  describe('when the database is truncated', () => {
    it('rejects a file cut in half with DB_CORRUPT', async () => {
      const c = damaged((db) => truncateSync(db, Math.floor(statSync(db).size / 2 / 4096) * 4096 + 100))
      await refusedBoth(c, 'DB_CORRUPT', 'truncated')
    })

    it('rejects a file cut to 0 bytes with DB_CORRUPT instead of starting a fresh, empty state (which would forget every stored version)', async () => {
      const c = damaged((db) => truncateSync(db, 0))
      await refusedBoth(c, 'DB_CORRUPT', 'empty')
      expect(statSync(c.db).size).toBe(0)
    })
  })

  describe('when the database belongs to another program', () => {
    it('rejects it with DB_FOREIGN for sync, list and sub add, and never writes into it', async () => {
      const c = damaged((db) => {
        rmSync(db)
        rmSync(`${db}-wal`, { force: true })
        const f = new Database(db)
        f.exec("CREATE TABLE subscription (uuid TEXT, uri TEXT); CREATE TABLE imagelist (id INTEGER); INSERT INTO subscription VALUES ('x', 'https://example.org/list')")
        f.close()
      })
      await refusedBoth(c, 'DB_FOREIGN', 'imagelist', 'new file')
      const before = stateOf(c.dir)
      expectTyped(await b.w.cli(['sub', 'add', b.w.listUrl, '--now', b.w.nowIso], { env: { VMGIT_DB: c.db } }), 'DB_FOREIGN', c.db)
      expectTyped(await b.w.cli(['sub', 'trust', '--name', 'x', '--subject', b.w.pki.signer.subject, '--issuer', b.w.pki.signer.issuer], { env: { VMGIT_DB: c.db } }), 'DB_FOREIGN', c.db)
      expect(stateOf(c.dir)).toEqual(before)
    })
  })

  describe('when tables were dropped', () => {
    for (const table of ['subscription', 'image', 'subscription_status', 'sync_lock']) {
      it(`rejects a database without ${table} with DB_CORRUPT naming the table`, async () => {
        const c = damaged((db) => {
          const d = new Database(db)
          d.pragma('foreign_keys = OFF')
          d.exec(`DROP TABLE ${table}`)
          d.close()
        })
        await refusedBoth(c, 'DB_CORRUPT', table)
      })
    }
  })

  describe('when the path is mistyped', () => {
    for (const args of [['sync'], ['sub', 'list'], ['sub', 'images'], ['sub', 'trust', 'list'], ['sub', 'show', 'x'], ['sub', 'select', 'x']]) {
      it(`\`vmgit ${args.join(' ')}\` names the path and creates nothing there`, async () => {
        const dir = path.join(b.w.dir, `typo-${++n}`)
        const db = path.join(dir, 'subscribr.db')
        const r = await b.w.cli(args, { env: { VMGIT_DB: db } })
        expectTyped(r, 'NO_DATABASE', db, 'vmgit sub add')
        expect(existsSync(dir)).toBe(false)
      })
    }

    it('rejects a directory given as the database with DB_NOT_A_FILE', async () => {
      const dir = path.join(b.w.dir, `dir-${++n}`)
      mkdirSync(dir)
      expectTyped(await list(dir), 'DB_NOT_A_FILE', dir)
    })
  })

  describe('when the database cannot be written or read by the user running vmgit', () => {
    /** A copy owned by the unprivileged user (root ignores file modes, so the test runs the CLI as that user). */
    function owned(harm: (db: string, dir: string) => void): { dir: string; db: string } {
      const c = damaged(() => {})
      chmodSync(b.w.dir, 0o755)
      for (const p of [c.dir, ...readdirSync(c.dir).map((f) => path.join(c.dir, f))]) chownSync(p, user.uid, user.gid)
      harm(c.db, c.dir)
      return c
    }

    it('rejects a read-only database file with DB_READONLY, its mode and the chmod to run', async () => {
      const c = owned((db) => chmodSync(db, 0o400))
      const before = stateOf(c.dir)
      expectTyped(await sync(c.db, [], user.spawn), 'DB_READONLY', c.db, 'mode 0400', `chmod u+w ${c.db}`)
      expectTyped(await list(c.db, user.spawn), 'DB_READONLY', c.db)
      expect(stateOf(c.dir)).toEqual(before)
    })

    it('rejects a read-only directory (where SQLite writes its journal) with DB_READONLY naming the directory', async () => {
      const c = owned((_db, dir) => chmodSync(dir, 0o500))
      expectTyped(await list(c.db, user.spawn), 'DB_READONLY', c.dir, 'mode 0500')
      chmodSync(c.dir, 0o700)
    })

    it('rejects an unreadable database with DB_PERMISSION naming owner and mode', async () => {
      const c = owned((db) => {
        if (isRoot()) chownSync(db, 0, 0)
        chmodSync(db, isRoot() ? 0o600 : 0o000)
      })
      const owner = isRoot() ? 'owner root (uid 0)' : `owner ${user.name}`
      expectTyped(await list(c.db, user.spawn), 'DB_PERMISSION', c.db, owner, isRoot() ? 'runuser -u root' : 'chmod 0600')
    })
  })

  describe('when root runs vmgit on state that belongs to the service user', () => {
    it.runIf(isRoot())('refuses with STATE_OWNER naming the owner and the command to run, and creates no root-owned file', async () => {
      const c = damaged(() => {})
      chmodSync(b.w.dir, 0o755)
      for (const p of [c.dir, ...readdirSync(c.dir).map((f) => path.join(c.dir, f))]) chownSync(p, user.uid, user.gid)
      const before = stateOf(c.dir)
      for (const args of [['sync', '--now', b.w.nowIso], ['sub', 'list'], ['sub', 'add', b.w.listUrl]]) {
        const r = await b.w.cli(args, { env: { VMGIT_DB: c.db } })
        expectTyped(r, 'STATE_OWNER', c.db, user.name, `runuser -u ${user.name} -- vmgit ${args[0]}`)
      }
      expect(stateOf(c.dir)).toEqual(before)
      for (const f of readdirSync(c.dir)) expect(statSync(path.join(c.dir, f)).uid).toBe(user.uid)
      // a database not yet created, in a directory the service user owns
      const fresh = path.join(c.dir, 'new.db')
      expectTyped(await b.w.cli(['sub', 'trust', '--name', 'x', '--subject', b.w.pki.signer.subject, '--issuer', b.w.pki.signer.issuer], { env: { VMGIT_DB: fresh } }), 'STATE_OWNER', user.name)
      expect(existsSync(fresh)).toBe(false)
    })
  })

  describe('when the cache cannot be used', () => {
    it('rejects a cache root that is a file with CACHE_PERMISSION before touching the database', async () => {
      const c = damaged(() => {})
      const cacheRoot = path.join(c.dir, 'cache-file')
      writeFileSync(cacheRoot, 'x')
      const before = stateOf(c.dir)
      const r = await b.w.cli(['sync', '--now', b.w.nowIso], { env: { VMGIT_DB: c.db, VMGIT_CACHE_DIR: cacheRoot } })
      expectTyped(r, 'CACHE_PERMISSION', cacheRoot)
      expect(stateOf(c.dir)).toEqual(before)
    })

    it('reports a cached file the user cannot read (sync --check) as CACHE_PERMISSION with its path, never INTERNAL, and keeps it', async () => {
      const c = damaged(() => {})
      const cacheRoot = path.join(c.dir, 'cache')
      cpSync(b.w.cacheRoot, cacheRoot, { recursive: true })
      chmodSync(b.w.dir, 0o755)
      // the throwaway test PKI, readable by the second user for this sync
      for (const d of [path.dirname(b.w.pki.caDir), b.w.pki.caDir]) chmodSync(d, 0o755)
      for (const f of readdirSync(b.w.pki.caDir)) chmodSync(path.join(b.w.pki.caDir, f), 0o644)
      const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]))
      for (const p of [c.dir, ...walk(c.dir)]) chownSync(p, user.uid, user.gid)
      const blob = path.join(cacheRoot, 'cache', b.images[0]!.sha512)
      chmodSync(blob, 0o000)
      const before = sha(path.join(b.w.cacheRoot, 'cache', b.images[0]!.sha512))
      const r = await b.w.cli(['sync', '--check', '--now', b.w.nowIso], { env: { VMGIT_DB: c.db, VMGIT_CACHE_DIR: cacheRoot, HOME: c.dir }, ...user.spawn })
      expect(r.stderr).not.toContain('INTERNAL')
      expect(r.stderr).toContain('[CACHE_PERMISSION]')
      expect(r.stderr).toContain(blob)
      expect(r.code).toBe(1)
      chmodSync(blob, 0o644)
      expect(sha(blob)).toBe(before)
    })

    it('rejects a cache the user cannot write or search with CACHE_PERMISSION, the owner and the fix', async () => {
      const c = damaged(() => {})
      chmodSync(b.w.dir, 0o755)
      for (const p of [c.dir, ...readdirSync(c.dir).map((f) => path.join(c.dir, f))]) chownSync(p, user.uid, user.gid)
      const cacheRoot = path.join(c.dir, 'cache')
      mkdirSync(path.join(cacheRoot, 'cache'), { recursive: true })
      chmodSync(path.join(cacheRoot, 'cache'), 0o500)
      if (!isRoot()) chmodSync(path.join(cacheRoot, 'cache'), 0o000)
      const r = await b.w.cli(['sync', '--now', b.w.nowIso], { env: { VMGIT_DB: c.db, VMGIT_CACHE_DIR: cacheRoot, HOME: c.dir }, ...user.spawn })
      expectTyped(r, 'CACHE_PERMISSION', path.join(cacheRoot, 'cache'))
      expect(r.stderr).toMatch(/runuser -u root|chmod u\+rwX/)
      chmodSync(path.join(cacheRoot, 'cache'), 0o700)
    })
  })
})
