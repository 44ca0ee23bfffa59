import { accessSync, closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readFileSync, readSync, statSync, type Stats } from 'node:fs'
import path from 'node:path'
import { isVmgitError, VmgitError } from '../util/errors.js'

/**
 * S34 (local state): the database and the cache are the subscriber's memory (stored versions are
 * what rollback protection compares against), so every way they can be damaged or out of reach —
 * corrupt, truncated, foreign, read-only, owned by another user, unreadable — ends in a typed
 * error naming the path and the fix, never INTERNAL and never a silently re-created empty state.
 */

/** The paths of this run's state, so an error surfacing deep inside a query can still name them. */
const known: { db?: string; cacheDirs: string[] } = { cacheDirs: [] }
export function rememberDb(dbPath: string): void {
  known.db = dbPath
}
export function rememberCacheDirs(dirs: string[]): void {
  known.cacheDirs = dirs.map((d) => path.resolve(d))
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0
const myUid = (): number => (typeof process.getuid === 'function' ? process.getuid() : -1)

/** User name for a uid from /etc/passwd (no NSS lookup; falls back to the number). */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f.length > 2 && Number(f[2]) === uid && f[0]) return f[0]
    }
  } catch {
    // no /etc/passwd: the number it is
  }
  return String(uid)
}

const mode = (st: Stats): string => (st.mode & 0o7777).toString(8).padStart(4, '0')
const who = (st: Stats): string => `owner ${userName(st.uid)} (uid ${st.uid}), mode ${mode(st)}`
const me = (): string => userName(myUid())
/** How to run the same command as another user. */
const runAs = (user: string): string => `runuser -u ${user} -- vmgit ${process.argv.slice(2).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`.trimEnd()

/** The path itself, or its nearest existing ancestor (what a new file would inherit from). */
function nearestExisting(p: string): string {
  let cur = path.resolve(p)
  while (!existsSync(cur)) {
    const up = path.dirname(cur)
    if (up === cur) break
    cur = up
  }
  return cur
}

/**
 * One owner for the state: root working on state that belongs to the service user would leave
 * root-owned files (database, WAL, cache files) that the service then cannot open. Refuse, naming
 * the owner and the command to run instead (stricter than chown-after-the-fact: nothing is created).
 */
export function checkOwner(p: string, what: 'database' | 'cache'): void {
  if (!isRoot()) return
  const target = nearestExisting(p)
  const st = statSync(target)
  if (st.uid === 0) return
  const user = userName(st.uid)
  throw new VmgitError('STATE_OWNER', `the subscriber ${what} ${target} belongs to ${user} (uid ${st.uid}), but vmgit runs as root: ` +
    `files it created would belong to root and the ${user} service could no longer open them. Run it as ${user}: ${runAs(user)}`,
  { details: { path: target, owner: user, uid: st.uid } })
}

/** Why the database file (or its directory) cannot be opened for writing, as a typed error; undefined when it can. */
export function checkDbAccess(dbPath: string): VmgitError | undefined {
  const dir = path.dirname(dbPath)
  const st = lstatSync(dbPath)
  if (!st.isFile()) {
    const real = existsSync(dbPath) ? statSync(dbPath) : undefined
    if (!real?.isFile()) {
      return new VmgitError('DB_NOT_A_FILE', `the subscriber database ${dbPath} is not a regular file; check --db / VMGIT_DB / VMCATCHER_RDBMS`, { details: { path: dbPath } })
    }
  }
  const fst = statSync(dbPath)
  const owner = fst.uid === myUid() || isRoot()
  try {
    accessSync(dbPath, constants.R_OK)
  } catch {
    return new VmgitError('DB_PERMISSION', `cannot read the subscriber database ${dbPath} (${who(fst)}) as ${me()}; ` +
      (owner ? `give the owner access back: chmod 0600 ${dbPath}` : `run vmgit as its owner (${runAs(userName(fst.uid))}), or give the state to ${me()} as root: chown -R ${me()}: ${dir}`), { details: { path: dbPath, uid: fst.uid, mode: mode(fst) } })
  }
  for (const [p, isDir] of [[dbPath, false], [dir, true], [`${dbPath}-wal`, false], [`${dbPath}-shm`, false]] as const) {
    if (!existsSync(p)) continue
    try {
      accessSync(p, constants.W_OK | (isDir ? constants.X_OK : 0))
    } catch (e) {
      const pst = statSync(p)
      const thing = isDir ? 'directory of the subscriber database' : 'subscriber database file'
      if ((e as NodeJS.ErrnoException).code === 'EROFS') {
        return new VmgitError('DB_READONLY', `the ${thing} ${p} is on a read-only file system; vmgit records every list it accepts and needs to write there: remount it read-write or point --db / VMGIT_DB at a writable place`, { details: { path: p } })
      }
      if (pst.uid === myUid() || isRoot()) {
        return new VmgitError('DB_READONLY', `the ${thing} ${p} is read-only (${who(pst)}); vmgit records every list it accepts and needs to write there: chmod u+w ${p}`, { details: { path: p, uid: pst.uid, mode: mode(pst) } })
      }
      return new VmgitError('DB_PERMISSION', `cannot write the ${thing} ${p} (${who(pst)}) as ${me()}; run vmgit as its owner (${runAs(userName(pst.uid))}), or give the state to ${me()} as root: chown -R ${me()}: ${dir}`, { details: { path: p, uid: pst.uid, mode: mode(pst) } })
    }
  }
  return undefined
}

/**
 * A cheap look at the file before SQLite does: empty, not SQLite at all, or shorter than its own
 * header says (truncated). Returns the problem or undefined. A short file is only suspicious: a
 * checkpoint may be writing; the caller confirms with `PRAGMA quick_check`.
 */
export function sniffDbFile(dbPath: string): 'empty' | 'not-sqlite' | 'short' | undefined {
  const fd = openSync(dbPath, 'r')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return 'empty'
    const h = Buffer.alloc(100)
    const n = readSync(fd, h, 0, 100, 0)
    if (n < 100 || h.toString('latin1', 0, 16) !== 'SQLite format 3\0') return 'not-sqlite'
    const rawPage = h.readUInt16BE(16)
    const pageSize = rawPage === 1 ? 65536 : rawPage
    const pages = h.readUInt32BE(28)
    // the in-header size is valid only when "version-valid-for" equals the change counter
    if (h.readUInt32BE(92) === h.readUInt32BE(24) && pages > 0 && size < pages * pageSize) return 'short'
    return undefined
  } finally {
    closeSync(fd)
  }
}

const FIX_CORRUPT = (p: string): string =>
  `restore it from a backup, or move it aside (mv ${p} ${p}.broken) and subscribe again (vmgit sub trust …, vmgit sub add …); verified images already in the cache are adopted again by the next sync`

export function corruptError(dbPath: string, why: string, cause?: unknown): VmgitError {
  return new VmgitError('DB_CORRUPT', `the subscriber database ${dbPath} is unusable: ${why}; ${FIX_CORRUPT(dbPath)}`, { cause, details: { path: dbPath } })
}

export function foreignError(dbPath: string, tables: string[]): VmgitError {
  const shown = tables.slice(0, 6).join(', ') + (tables.length > 6 ? ', …' : '')
  return new VmgitError('DB_FOREIGN', `${dbPath} is an SQLite database but not vmgit's (tables: ${shown}); vmgit never writes into another program's database: ` +
    'check --db / VMGIT_DB / VMCATCHER_RDBMS (vmcatcher\'s own database cannot be reused: point it at a new file)', { details: { path: dbPath, tables } })
}

/** Map an error thrown by SQLite (better-sqlite3's SqliteError, `code` SQLITE_*) to a typed one, or undefined. */
export function sqliteError(e: unknown, dbPath = known.db ?? 'the subscriber database'): VmgitError | undefined {
  const code = (e as { code?: unknown })?.code
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined
  const msg = (e as Error).message
  if (code === 'SQLITE_NOTADB') return corruptError(dbPath, 'it is not an SQLite database (damaged, truncated or another kind of file)', e)
  if (code.startsWith('SQLITE_CORRUPT')) return corruptError(dbPath, `it is damaged or truncated (SQLite: ${msg})`, e)
  if (code === 'SQLITE_ERROR' && /^no such (table|column)/.test(msg)) return corruptError(dbPath, `part of its schema is gone (${msg})`, e)
  if (code.startsWith('SQLITE_READONLY')) {
    return new VmgitError('DB_READONLY', `the subscriber database ${dbPath} cannot be written (${msg}); vmgit records every list it accepts: make the file and its directory writable for ${me()}, or remount the file system read-write`, { cause: e, details: { path: dbPath } })
  }
  if (code === 'SQLITE_FULL') return new VmgitError('DB_FULL', `the disk holding the subscriber database ${dbPath} is full; free space there and run again (nothing was half-written: SQLite rolled the transaction back)`, { cause: e, details: { path: dbPath } })
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return new VmgitError('DB_BUSY', `the subscriber database ${dbPath} stayed locked by another process for 10 s; wait for it (another vmgit?) and run again`, { cause: e, details: { path: dbPath } })
  if (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_CANTOPEN_') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new VmgitError('DB_PERMISSION', `cannot open the subscriber database ${dbPath} (${msg}) as ${me()}: check that the file and its directory belong to the user running vmgit`, { cause: e, details: { path: dbPath } })
  }
  if (code.startsWith('SQLITE_IOERR')) return new VmgitError('DB_IO', `reading or writing the subscriber database ${dbPath} failed (${msg}); check the disk and the file system (dmesg), then run again`, { cause: e, details: { path: dbPath } })
  return undefined
}

/** Map a file-system permission error on the cache (EACCES, EPERM, EROFS) to CACHE_PERMISSION, or undefined. */
export function cacheFsError(e: unknown): VmgitError | undefined {
  const err = e as NodeJS.ErrnoException
  if (!err || !['EACCES', 'EPERM', 'EROFS'].includes(err.code ?? '') || typeof err.path !== 'string') return undefined
  const p = path.resolve(err.path)
  const inCache = known.cacheDirs.some((d) => p === d || p.startsWith(d + path.sep))
  if (!inCache) return undefined
  return cachePermissionError(p, err.code === 'EROFS' ? 'is on a read-only file system' : `cannot be ${err.syscall === 'open' || err.syscall === 'scandir' ? 'read' : 'changed'} (${err.syscall ?? 'access'})`, e)
}

function cachePermissionError(p: string, why: string, cause?: unknown): VmgitError {
  const st = existsSync(p) ? statSync(p) : undefined
  const fix = st && st.uid !== myUid() && !isRoot()
    ? `run vmgit as its owner: ${runAs(userName(st.uid))}`
    : `give ${me()} read, write and search access to the cache (e.g. chown -R ${me()} ${p}; chmod u+rwX ${p})`
  return new VmgitError('CACHE_PERMISSION', `the image cache path ${p}${st ? ` (${who(st)})` : ''} ${why}; ${fix}`, { cause, details: { path: p } })
}

/**
 * Before a sync touches the cache: every cache directory that exists must be a directory we can
 * read, write and search (root: and must not belong to another user). Checked up front so an
 * unreadable cache is one clear error, not one INTERNAL per image.
 */
export function checkCacheDirs(dirs: string[]): void {
  rememberCacheDirs(dirs)
  for (const d of dirs) {
    checkOwner(d, 'cache')
    const p = nearestExisting(d)
    const st = statSync(p)
    // issue 14: the cache path (or a parent of it) is a file: say so, with the path (S34 keeps the code CACHE_PERMISSION)
    if (!st.isDirectory()) {
      throw new VmgitError('CACHE_PERMISSION', `the image cache path ${p} is ${st.isFile() ? 'a file' : 'not a directory'}, so ${path.resolve(d)} cannot be a directory in it; point --cache-dir / VMGIT_CACHE_DIR at a directory, or move ${p} away`, { details: { path: p } })
    }
    try {
      accessSync(p, constants.R_OK | constants.W_OK | constants.X_OK)
    } catch (e) {
      throw cachePermissionError(p, (e as NodeJS.ErrnoException).code === 'EROFS' ? 'is on a read-only file system' : `is not readable, writable and searchable by ${me()}`, e)
    }
  }
}

/** Any error → the typed local-state error it stands for, or the error itself. */
export function asLocalStateError(e: unknown): unknown {
  if (isVmgitError(e)) return e
  return sqliteError(e) ?? cacheFsError(e) ?? e
}
