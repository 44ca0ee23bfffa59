import Database from 'better-sqlite3'
import { chmodSync, readFileSync, unlinkSync } from 'node:fs'
import os from 'node:os'
import { VmgitError } from '../util/errors.js'
import { type DB, logAction } from './store.js'

/**
 * One sync at a time per database (attack S26). The authority is an OS-level lock: an EXCLUSIVE
 * SQLite transaction held, for the whole run, on a lock file beside the database
 * (`<db>.sync-lock`). SQLite takes it with fcntl() record locks, which the kernel drops when the
 * holder dies however it dies (kill -9, OOM, a container or pod torn down) and which every process
 * sharing the file sees — across PID namespaces and hostnames, as far as the database itself can be
 * shared safely (SQLite needs working POSIX locks on that filesystem anyway).
 *
 * The `sync_lock` row only names the holder for messages and logs. It is never trusted to decide
 * whether a run is alive: a pid and a hostname cannot be checked from another container or host,
 * so a row left by a run killed there is simply taken over once the OS lock is free.
 *
 * `--break-lock` (operator, logged): for a lock file whose lock outlived its holder (a stale NFS
 * lock), it removes the lock file and takes a fresh one. It refuses when the recorded holder is a
 * live process on this host: breaking a running sync's lock would let two runs write the cache.
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
  /** Set when a row left by a run that died (here or on another host) was taken over. */
  takenOver?: LockHolder
  /** Set when `--break-lock` removed a lock file still locked by someone. */
  broken?: LockHolder | { pid: null; host: null; acquired_at: null }
}

export const lockFileOf = (dbPath: string): string => `${dbPath}.sync-lock`

/**
 * Try to take the OS lock; null when another process (or another connection of this one) holds it.
 * Never open the lock file with node's fs while we may hold it: closing any descriptor of a file
 * drops every fcntl lock this process has on it (SQLite's own descriptors are managed for that).
 */
function tryOsLock(file: string): Database.Database | null {
  let conn: Database.Database
  try {
    conn = new Database(file)
  } catch (e) {
    throw new VmgitError('LOCK_FILE', `cannot open the sync lock file ${file}: ${(e as Error).message}; check the permissions of the database directory`, { cause: e })
  }
  try {
    conn.pragma('busy_timeout = 0')
    // nothing is ever written: keep the (empty) transaction's journal in memory
    conn.pragma('journal_mode = MEMORY')
    conn.exec('BEGIN EXCLUSIVE')
    try {
      chmodSync(file, 0o600)
    } catch {
      // not the owner: leave the mode alone
    }
    return conn
  } catch (e) {
    conn.close()
    const code = (e as { code?: string }).code
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return null
    throw new VmgitError('LOCK_FILE', `cannot lock ${file} (${code ?? (e as Error).message}); if it is not a file vmgit made, remove it (vmgit sync --break-lock)`, { cause: e })
  }
}

const readHolder = (db: DB): LockHolder | undefined =>
  db.prepare('SELECT pid, start_ticks, host, acquired_at FROM sync_lock WHERE id = 1').get() as LockHolder | undefined

const describeHolder = (h: LockHolder | undefined): string => (h ? `pid ${h.pid} on ${h.host}, since ${h.acquired_at}` : 'holder unknown')

export function acquireSyncLock(db: DB, at: Date, opts: { breakLock?: boolean } = {}): SyncLock {
  const host = os.hostname()
  const me = { pid: process.pid, start_ticks: processStartTicks(process.pid), host, acquired_at: at.toISOString() }
  const file = lockFileOf(db.name)
  let conn = tryOsLock(file)
  let broken: SyncLock['broken']
  if (!conn) {
    const held = readHolder(db)
    if (!opts.breakLock) {
      throw new VmgitError(
        'SYNC_LOCKED',
        `another vmgit sync (${describeHolder(held)}) is using this database; this run changed nothing. Wait for it to finish: the lock is released by the system when that process ends, however it ends. Only if no sync is running anywhere (a stale lock on a network filesystem), run \`vmgit sync --break-lock\``,
        { details: { holder: held ?? null, lockFile: file } },
      )
    }
    // S26: a live run on this host is checkable: never break its lock
    if (held && held.host === host && processAlive(held.pid, held.start_ticks)) {
      throw new VmgitError('SYNC_LOCKED', `--break-lock refused: the sync holding the lock (${describeHolder(held)}) is alive on this host; stop it first (kill ${held.pid})`, { details: { holder: held, lockFile: file } })
    }
    try {
      unlinkSync(file)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new VmgitError('LOCK_FILE', `cannot remove the lock file ${file}: ${(e as Error).message}`, { cause: e })
    }
    conn = tryOsLock(file)
    if (!conn) throw new VmgitError('SYNC_LOCKED', `another vmgit sync took the lock of ${file} while it was being broken; this run changed nothing`, { details: { lockFile: file } })
    broken = held ?? { pid: null, host: null, acquired_at: null }
    logAction(db, at, null, 'lock-broken', `vmgit sync --break-lock by pid ${me.pid} on ${host}: removed ${file}, still locked by ${describeHolder(held)}`)
  }
  const osLock = conn
  let previous: LockHolder | undefined
  try {
    // we hold the OS lock, so whoever wrote a row is gone (or was broken above): take the row over
    db.transaction(() => {
      previous = readHolder(db)
      db.prepare('INSERT OR REPLACE INTO sync_lock (id, pid, start_ticks, host, acquired_at) VALUES (1, ?, ?, ?, ?)').run(me.pid, me.start_ticks, me.host, me.acquired_at)
      if (previous && !broken) logAction(db, at, null, 'lock-reclaimed', `the lock row of a sync that died (${describeHolder(previous)}) was taken over by pid ${me.pid} on ${host}`)
      if (opts.breakLock && !broken) {
        logAction(db, at, null, 'lock-broken', `vmgit sync --break-lock by pid ${me.pid} on ${host}: the lock was free; ${previous ? `the row of a sync that died (${describeHolder(previous)}) was taken over` : 'nothing to break'}`)
      }
    }).immediate()
  } catch (e) {
    osLock.close()
    throw e
  }
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    try {
      db.prepare('DELETE FROM sync_lock WHERE id = 1 AND pid = ? AND host = ?').run(me.pid, me.host)
    } catch {
      // database already closed: the row is taken over by the next run
    }
    try {
      osLock.exec('ROLLBACK')
    } catch {
      // closing drops the lock anyway
    }
    osLock.close()
  }
  const onExit = (): void => release()
  process.once('exit', onExit)
  const lock: SyncLock = {
    release: () => {
      process.removeListener('exit', onExit)
      release()
    },
  }
  if (previous && !broken) lock.takenOver = previous
  if (broken) lock.broken = broken
  return lock
}
