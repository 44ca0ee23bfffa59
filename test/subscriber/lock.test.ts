import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { afterAll, describe, expect, it } from 'vitest'
import { acquireSyncLock, lockFileOf, processStartTicks } from '../../src/subscriber/lock.js'
import { openStore } from '../../src/subscriber/store.js'
import { makeWorld, sharedPki } from './world.js'

const require = createRequire(import.meta.url)

describe('the sync lock (one sync at a time per database)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-lock-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const now = new Date('2026-01-01T00:00:00Z')

  it('refuses a second holder while the first process is alive', () => {
    const a = openStore(path.join(dir, 'a.db'))
    const lock = acquireSyncLock(a, now)
    // pretend the row belongs to another live process: our parent
    a.prepare('UPDATE sync_lock SET pid = ?, start_ticks = ?').run(process.ppid, processStartTicks(process.ppid))
    const b = new Database(path.join(dir, 'a.db'))
    expect(() => acquireSyncLock(b, now)).toThrow(expect.objectContaining({ code: 'SYNC_LOCKED' }))
    lock.release()
    a.prepare('DELETE FROM sync_lock').run()
    a.close()
    b.close()
  })

  it('takes over a lock whose process died (kill -9 leaves the row behind)', () => {
    const db = openStore(path.join(dir, 'b.db'))
    db.prepare("INSERT INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, 2147483000, '1', ?, 'then')").run(os.hostname())
    const lock = acquireSyncLock(db, now)
    expect(lock.takenOver?.pid).toBe(2147483000)
    lock.release()
    expect(db.prepare('SELECT COUNT(*) AS n FROM sync_lock').get()).toEqual({ n: 0 })
    db.close()
  })

  it('takes over a lock whose pid was recycled by another process (start time differs)', () => {
    const db = openStore(path.join(dir, 'c.db'))
    db.prepare("INSERT INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, ?, '12345', ?, 'then')").run(process.ppid, os.hostname())
    const lock = acquireSyncLock(db, now)
    expect(lock.takenOver?.pid).toBe(process.ppid)
    lock.release()
    db.close()
  })
})

describe('S26: the lock is an OS lock, not a pid and a hostname', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oslock-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const now = new Date('2026-01-01T00:00:00Z')

  /** another process holding the lock file, as a sync in another container or on another host would */
  async function holder(file: string): Promise<{ kill: () => Promise<void> }> {
    const code = `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))}); const c = new D(${JSON.stringify(file)}); c.pragma('journal_mode = MEMORY'); c.exec('BEGIN EXCLUSIVE'); process.stdout.write('held\\n'); setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve())
      child.once('exit', (c) => reject(new Error(`holder exited ${c}`)))
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    return { kill: async () => { child.kill('SIGKILL'); await exited } }
  }

  it('takes over a row written on another host once nobody holds the OS lock', () => {
    const db = openStore(path.join(dir, 'a.db'))
    db.prepare("INSERT INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, 1, NULL, 'pod-b', 'then')").run()
    const lock = acquireSyncLock(db, now)
    expect(lock.takenOver).toMatchObject({ pid: 1, host: 'pod-b' })
    lock.release()
    db.close()
  })

  it('refuses while another process holds the OS lock, even with no row, and takes it once that process is killed -9', async () => {
    const dbPath = path.join(dir, 'b.db')
    const db = openStore(dbPath)
    const h = await holder(lockFileOf(dbPath))
    expect(() => acquireSyncLock(db, now)).toThrow(expect.objectContaining({ code: 'SYNC_LOCKED' }))
    await h.kill()
    const lock = acquireSyncLock(db, now)
    expect(db.prepare('SELECT pid FROM sync_lock').get()).toEqual({ pid: process.pid })
    lock.release()
    expect(db.prepare('SELECT COUNT(*) AS n FROM sync_lock').get()).toEqual({ n: 0 })
    db.close()
  })

  it('a released lock can be taken again by the same process', () => {
    const db = openStore(path.join(dir, 'c.db'))
    acquireSyncLock(db, now).release()
    const again = acquireSyncLock(db, now)
    expect(() => acquireSyncLock(db, now)).toThrow(expect.objectContaining({ code: 'SYNC_LOCKED' }))
    again.release()
    db.close()
  })
})

describe('two `vmgit sync` runs on one database', () => {
  it('the second refuses with SYNC_LOCKED while the first is running, and changes nothing', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      await w.publish({ id: w.listId, version: '1', images: [] })
      for (const r of [await w.trust(), await w.add(w.listUrl)]) expect(r.code).toBe(0)
      const body = await w.signed({ id: w.listId, version: '2', images: [] })
      w.server.set('/list.smime', { body, trickle: { bytes: 200, everyMs: 100 } }) // ~3 s
      const first = w.sync()
      await new Promise((r) => setTimeout(r, 1200))
      const second = await w.sync()
      expect(second.code).toBe(1)
      expect(second.stderr).toContain('[SYNC_LOCKED]')
      expect((await first).code).toBe(0)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2' }])
    } finally {
      await w.close()
    }
  })
})
