import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { processStartTicks } from '../../src/subscriber/lock.js'
import { BIN, childEnv } from '../helpers/cli.js'
import { type Baseline, snapshot, subscribed, type World } from '../subscriber/world.js'

/**
 * A sync killed on another host — a container or a pod sharing the database — leaves its lock
 * behind; its pid and hostname mean nothing here. The lock is an OS-level lock on
 * `<db>.sync-lock`, released by the kernel when its holder dies, so such a lock is reclaimed by the
 * next run (logged), while two live syncs on one database never both run. `vmgit sync --break-lock`
 * exists for a lock that outlived its holder (a stale lock on a network filesystem): logged, and
 * refused while the recorded holder is a live process on this host.
 */
describe('S26 stuck lock', () => {
  let b: Baseline
  let w: World
  const lockFile = (): string => `${w.db}.sync-lock`
  const writeRow = (row: { pid: number; start_ticks: string | null; host: string; acquired_at: string }): void => {
    const db = new Database(w.db)
    try {
      db.prepare('INSERT OR REPLACE INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, ?, ?, ?, ?)').run(row.pid, row.start_ticks, row.host, row.acquired_at)
    } finally {
      db.close()
    }
  }
  const rows = (): unknown[] => w.query('SELECT * FROM sync_lock')
  const logged = (action: string): { detail: string }[] => w.query('SELECT detail FROM log WHERE action = ?', action)
  /** hold the OS lock as a live sync elsewhere would (another host sharing the file, or another pid namespace) */
  let held: Database.Database | undefined
  const holdLock = (): void => {
    held = new Database(lockFile())
    held.pragma('journal_mode = MEMORY')
    held.exec('BEGIN EXCLUSIVE')
  }
  afterEach(() => {
    held?.close()
    held = undefined
  })

  beforeAll(async () => {
    b = await subscribed()
    w = b.w
  })
  afterAll(async () => w.close())

  describe('when a sync killed on another host left its lock row', () => {
    it('reclaims it (the OS lock is free: its holder is dead), runs, and logs the takeover', async () => {
      writeRow({ pid: 4242, start_ticks: '987654', host: 'vmgit-sync-7d9f8-pod', acquired_at: '2026-01-01T00:00:00.000Z' })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('took over the lock of a sync that died (pid 4242 on vmgit-sync-7d9f8-pod')
      expect(logged('lock-reclaimed')).toEqual([{ detail: expect.stringContaining('vmgit-sync-7d9f8-pod') }])
      expect(rows()).toEqual([])
    })

    it('reclaims it even when the recorded pid is alive here under the same hostname (another PID namespace)', async () => {
      writeRow({ pid: process.pid, start_ticks: processStartTicks(process.pid), host: os.hostname(), acquired_at: '2026-01-01T00:00:00.000Z' })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`took over the lock of a sync that died (pid ${process.pid}`)
      expect(rows()).toEqual([])
    })
  })

  describe('when a sync is killed with -9 in the middle of its run', () => {
    it('the next run reclaims the lock, whatever host the row names', async () => {
      await w.publish({ id: w.listId, version: '2.0', images: b.images })
      const body = await w.signed({ id: w.listId, version: '2.0', images: b.images })
      w.server.set('/list.smime', { body, trickle: { bytes: 100, everyMs: 100 } })
      const child = spawn(process.execPath, [BIN, 'sync', '--now', w.nowIso], { env: childEnv(w.env), stdio: 'ignore' })
      const exited = new Promise((resolve) => child.once('exit', resolve))
      for (let i = 0; i < 200 && rows().length === 0; i++) await new Promise((r) => setTimeout(r, 50))
      expect(rows()).toHaveLength(1)
      child.kill('SIGKILL')
      await exited
      // as if that run had been in another container
      const db = new Database(w.db)
      db.prepare("UPDATE sync_lock SET host = 'other-node'").run()
      db.close()
      w.server.set('/list.smime', { body })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('took over the lock of a sync that died')
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2.0' }])
    })
  })

  describe('when the lock is held by a live sync', () => {
    it('refuses with SYNC_LOCKED and changes nothing, whatever the row says', async () => {
      writeRow({ pid: 1, start_ticks: null, host: 'vmgit-sync-other-pod', acquired_at: '2026-01-01T00:00:00.000Z' })
      holdLock()
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[SYNC_LOCKED]')
      expect(r.stderr).toContain('pid 1 on vmgit-sync-other-pod')
      expect(snapshot(w)).toEqual(before)
      // with no row at all (a holder that crashed between taking the lock and writing it)
      const db = new Database(w.db)
      db.prepare('DELETE FROM sync_lock').run()
      db.close()
      const r2 = await w.sync()
      expect(r2.code).toBe(1)
      expect(r2.stderr).toContain('[SYNC_LOCKED]')
      expect(snapshot(w)).toEqual(before)
    })

    it('two syncs started together on one database: exactly one runs', async () => {
      writeRow({ pid: 4243, start_ticks: null, host: 'dead-pod', acquired_at: '2026-01-01T00:00:00.000Z' })
      await w.publish({ id: w.listId, version: '3.0', images: b.images })
      const body = await w.signed({ id: w.listId, version: '3.0', images: b.images })
      w.server.set('/list.smime', { body, trickle: { bytes: 100, everyMs: 100 } })
      const results = await Promise.all([w.sync(), w.sync(), w.sync()])
      expect(results.map((r) => r.code).sort()).toEqual([0, 1, 1])
      expect(results.filter((r) => r.stderr.includes('[SYNC_LOCKED]'))).toHaveLength(2)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '3.0' }])
      expect(rows()).toEqual([])
    })
  })

  describe('vmgit sync --break-lock', () => {
    it('breaks a lock still held for a holder on another host (a stale network-filesystem lock), logged', async () => {
      writeRow({ pid: 77, start_ticks: null, host: 'nfs-client-gone', acquired_at: '2026-01-01T00:00:00.000Z' })
      holdLock()
      const r = await w.sync(['--break-lock'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('broke the sync lock (--break-lock, logged) held for pid 77 on nfs-client-gone')
      expect(r.stderr).toContain('warning [LOCK_BROKEN]')
      expect(logged('lock-broken')).toEqual([{ detail: expect.stringContaining('pid 77 on nfs-client-gone') }])
      expect(rows()).toEqual([])
      expect(existsSync(lockFile())).toBe(true)
    })

    it('refuses to break the lock of a live process on this host', async () => {
      writeRow({ pid: process.pid, start_ticks: processStartTicks(process.pid), host: os.hostname(), acquired_at: '2026-01-01T00:00:00.000Z' })
      holdLock()
      const before = snapshot(w)
      const r = await w.sync(['--break-lock'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[SYNC_LOCKED]')
      expect(r.stderr).toContain('is alive on this host')
      expect(snapshot(w)).toEqual(before)
      expect(logged('lock-broken')).toHaveLength(1)
    })
  })
})
