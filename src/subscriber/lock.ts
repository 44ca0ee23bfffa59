import { readFileSync } from 'node:fs'
import os from 'node:os'
import { VmgitError } from '../util/errors.js'
import type { DB } from './store.js'

/**
 * One sync at a time per database. The lock is a row in `sync_lock`, taken inside a
 * `BEGIN IMMEDIATE` transaction (SQLite serialises the check-and-take). A row whose process is
 * gone — killed with -9, machine rebooted — is taken over: the pid must be alive AND have the same
 * kernel start time (so a recycled pid does not keep a dead run's lock).
 */
export interface LockHolder {
  pid: number
  start_ticks: string | null
  host: string
  acquired_at: string
}

/** Process start time in clock ticks since boot (/proc/PID/stat field 22), or null off Linux. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may contain spaces and parentheses: fields follow the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return rest[19] ?? null
  } catch {
    return null
  }
}

export function processAlive(pid: number, startTicks: string | null): boolean {
  try {
    process.kill(pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (startTicks === null) return true
  const now = processStartTicks(pid)
  return now === null || now === startTicks
}

export interface SyncLock {
  release(): void
  /** Set when the lock was taken over from a dead run. */
  takenOver?: LockHolder
}

export function acquireSyncLock(db: DB, at: Date): SyncLock {
  const host = os.hostname()
  const me = { pid: process.pid, start_ticks: processStartTicks(process.pid), host, acquired_at: at.toISOString() }
  const take = db.transaction((): LockHolder | undefined => {
    const held = db.prepare('SELECT pid, start_ticks, host, acquired_at FROM sync_lock WHERE id = 1').get() as LockHolder | undefined
    if (held) {
      // another host's pid cannot be checked from here: treat its lock as held
      const alive = held.host !== host || processAlive(held.pid, held.start_ticks)
      if (alive && !(held.pid === me.pid && held.host === host)) {
        throw new VmgitError(
          'SYNC_LOCKED',
          `another vmgit sync (pid ${held.pid} on ${held.host}, since ${held.acquired_at}) is using this database; this run changed nothing. Wait for it to finish (a crashed run's lock is reclaimed automatically)`,
          { details: { holder: held } },
        )
      }
    }
    db.prepare('INSERT OR REPLACE INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, ?, ?, ?, ?)').run(me.pid, me.start_ticks, me.host, me.acquired_at)
    return held
  })
  const previous = take.immediate()
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    try {
      db.prepare('DELETE FROM sync_lock WHERE id = 1 AND pid = ? AND host = ?').run(me.pid, me.host)
    } catch {
      // database already closed: the row is reclaimed by the next run
    }
  }
  const onExit = (): void => release()
  process.once('exit', onExit)
  const lock: SyncLock = {
    release: () => {
      process.removeListener('exit', onExit)
      release()
    },
  }
  if (previous) lock.takenOver = previous
  return lock
}
