import { constants, type Stats } from 'node:fs'
import { chmod, type FileHandle, lstat, open, readdir, realpath, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { VmgitError } from './errors.js'
import { type Digest, HASH_CHUNK } from './hash.js'
import { mkdirs } from './envfs.js'

/**
 * Filesystem discipline for directories that others may also write to (the subscriber's cache:
 * partial/, cache/, expired/), in one place (attack S27):
 * - never follow a link: files are opened with O_NOFOLLOW (and O_NONBLOCK, so a planted FIFO cannot
 *   hang the run), and checked with fstat to be regular files;
 * - new files are created exclusively (O_EXCL): nothing planted under the name is written through;
 * - lstat before rename and before delete: only a regular file (the same inode when known) is moved,
 *   a directory is never replaced, unlink never reaches a link's target;
 * - directories writable by group or others (or owned by someone else) are refused with the chmod fix;
 * - ENOSPC / EDQUOT become DISK_FULL with the path and what to do (attack S29).
 */

const O_NOFOLLOW = constants.O_NOFOLLOW
const O_NONBLOCK = constants.O_NONBLOCK

export type EntryKind = 'file' | 'directory' | 'symlink' | 'other'

export const kindOf = (s: Stats): EntryKind => (s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other')

const describeKind: Record<EntryKind, string> = { file: 'a regular file', directory: 'a directory', symlink: 'a symbolic link', other: 'a FIFO, socket or device' }
export const kindWords = (k: EntryKind): string => describeKind[k]

export async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/** A write that failed for lack of space (or quota) is DISK_FULL: the path and the fix, never INTERNAL. */
export function fsError(e: unknown, p: string, doing: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new VmgitError('DISK_FULL', `no space left on the device while ${doing} ${p}; free some space there or move the cache (--cache-dir), then run again`, { cause: e })
  }
  return e
}

/** Open an existing regular file of ours without following a link; anything else is refused. */
export async function openRegular(p: string, flags: number): Promise<FileHandle> {
  const fh = await open(p, flags | O_NOFOLLOW | O_NONBLOCK)
  const s = await fh.stat()
  if (!s.isFile()) {
    await fh.close()
    throw new VmgitError('CACHE_FOREIGN_FILE', `${p} is not a regular file; it was not opened`)
  }
  return fh
}

/** Create a new file exclusively: whatever is planted under the name (a link, a FIFO) makes this fail. */
export async function createExclusive(p: string, mode = 0o644): Promise<FileHandle> {
  return open(p, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, mode)
}

/** sha512 and size of a regular file, read through a descriptor opened without following links. */
export async function hashRegular(p: string): Promise<Digest & { dev: number; ino: number }> {
  const fh = await openRegular(p, constants.O_RDONLY)
  try {
    const s = await fh.stat()
    const h = createHash('sha512')
    const buf = Buffer.allocUnsafe(HASH_CHUNK)
    let size = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size)
      if (bytesRead === 0) break
      h.update(buf.subarray(0, bytesRead))
      size += bytesRead
    }
    return { sha512: h.digest('hex'), size, dev: s.dev, ino: s.ino }
  } finally {
    await fh.close()
  }
}

/** Copy a regular file to a new name (exclusive create, no links followed at either end). */
export async function copyRegular(from: string, to: string): Promise<void> {
  const src = await openRegular(from, constants.O_RDONLY)
  try {
    const dst = await createExclusive(to)
    try {
      const buf = Buffer.allocUnsafe(HASH_CHUNK)
      for (let pos = 0; ; ) {
        const { bytesRead } = await src.read(buf, 0, buf.length, pos)
        if (bytesRead === 0) break
        await writeAll(dst, buf.subarray(0, bytesRead), pos, to)
        pos += bytesRead
      }
    } catch (e) {
      await dst.close()
      await unlink(to).catch(() => undefined)
      throw e
    }
    await dst.close()
  } finally {
    await src.close()
  }
}

/** Write all of `data` at `pos` (a short write is retried; ENOSPC becomes DISK_FULL). */
export async function writeAll(fh: FileHandle, data: Buffer, pos: number, p: string): Promise<void> {
  try {
    for (let off = 0; off < data.length; ) {
      const { bytesWritten } = await fh.write(data, off, data.length - off, pos + off)
      off += bytesWritten
    }
  } catch (e) {
    const err = fsError(e, p, 'writing')
    if (err instanceof VmgitError) throw err
    throw new VmgitError('CACHE_WRITE_FAILED', `writing ${p} failed (${(e as Error).message}); check the disk and the cache directory, then run again`, { cause: e })
  }
}

/**
 * Rename a regular file, after lstat of both ends: the source must be a regular file (the inode we
 * wrote, when `expect` is given); a directory at the destination is never replaced (the caller
 * decides; the code is CACHE_NAME_TAKEN). A link or FIFO at the destination is replaced, not followed.
 */
export async function renameRegular(from: string, to: string, expect?: { dev: number; ino: number }): Promise<void> {
  const s = await lstat(from)
  if (!s.isFile() || (expect && (s.dev !== expect.dev || s.ino !== expect.ino))) {
    throw new VmgitError('CACHE_FOREIGN_FILE', `${from} is ${kindWords(kindOf(s))} that this run did not write; it was not moved`)
  }
  const d = await lstatOrUndefined(to)
  if (d?.isDirectory()) throw nameTaken(to)
  await rename(from, to)
}

export const nameTaken = (p: string): VmgitError =>
  new VmgitError('CACHE_NAME_TAKEN', `${p} is a directory, so the image cannot be placed under that name; move the directory away and run again`)

/** Remove a directory entry without ever following it; directories only when `recursive`. */
export async function removeEntry(p: string, opts: { recursive?: boolean } = {}): Promise<boolean> {
  const s = await lstatOrUndefined(p)
  if (!s) return false
  if (s.isDirectory()) {
    if (!opts.recursive) return false
    await rm(p, { recursive: true, force: true }) // rm never follows links inside the tree
    return true
  }
  await unlink(p)
  return true
}

export interface SweptFile {
  name: string
  dev: number
  ino: number
  size: number
  nlink: number
  mtimeMs: number
}

export interface Foreign {
  path: string
  kind: EntryKind
  removed: boolean
}

/**
 * The regular files of a directory, by lstat. Links, FIFOs, sockets and devices are removed (they hold
 * no data, and a link would lead a later open or rename elsewhere); directories are removed only when
 * `removeDirs` (partial/ is ours alone), else left and reported. `keep(name)` may spare a name.
 */
export async function sweepDir(dir: string, opts: { removeDirs: boolean; multiLinked?: boolean }): Promise<{ files: SweptFile[]; foreign: Foreign[] }> {
  const files: SweptFile[] = []
  const foreign: Foreign[] = []
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name)
    const s = await lstatOrUndefined(p)
    if (!s) continue
    const kind = kindOf(s)
    if (kind === 'file' && (opts.multiLinked !== false || s.nlink === 1)) {
      files.push({ name, dev: s.dev, ino: s.ino, size: s.size, nlink: s.nlink, mtimeMs: Math.trunc(s.mtimeMs) })
      continue
    }
    if (kind === 'directory' && !opts.removeDirs) {
      foreign.push({ path: p, kind, removed: false })
      continue
    }
    await removeEntry(p, { recursive: true })
    foreign.push({ path: p, kind, removed: true })
  }
  return { files, foreign }
}

const me = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : 0)

function unsafeDir(p: string, s: Stats, ancestor: boolean): string | undefined {
  if (!s.isDirectory()) return `${p} is not a directory`
  if (s.uid !== me() && s.uid !== 0) return `${p} belongs to uid ${s.uid}, not to this user (uid ${me()}) or root; \`chown ${me()} ${p}\``
  // S27: a directory others may write to lets them plant links and files; an ancestor is fine when
  // sticky (/tmp), since then nobody else can rename or remove what is ours inside it
  const writable = (s.mode & 0o022) !== 0
  if (writable && !(ancestor && (s.mode & 0o1000) !== 0)) {
    return `${p} is writable by ${(s.mode & 0o020) !== 0 ? 'its group' : 'others'} (mode ${(s.mode & 0o7777).toString(8)}); \`chmod go-w ${p}\``
  }
  return undefined
}

/**
 * Create the cache directories if needed (0755 whatever the umask) and refuse unsafe ones: each must be
 * a directory owned by this user or root and not writable by group or others; every ancestor up to /
 * likewise, unless it is sticky (like /tmp). The directories themselves must not be symbolic links;
 * links among their ancestors (e.g. /var/cache/vmgit -> /data/vmgit) are the operator's choice and are
 * resolved first (realpath): what matters is who can write to the directories reached.
 */
export async function ensureSafeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const created = await mkdirs(dir, 0o755)
    if (created !== undefined) {
      // mkdir's mode is cut by the umask only; make every directory we created exactly 0755
      for (let d = dir; d.length >= created.length; d = path.dirname(d)) await chmod(d, 0o755)
    }
    const real = await realpath(dir)
    const problems: string[] = []
    // the three directories themselves are never links: one planted in place of partial/ would send
    // every write elsewhere; an operator who keeps the cache elsewhere names the real place
    if ((await lstat(dir)).isSymbolicLink()) problems.push(`${dir} is a symbolic link to ${real}; configure ${real} itself`)
    const own = unsafeDir(real, await stat(real), false)
    if (own) problems.push(own)
    for (let d = path.dirname(real); ; d = path.dirname(d)) {
      const why = unsafeDir(d, await stat(d), true)
      if (why) problems.push(why)
      if (d === path.dirname(d)) break
    }
    if (problems.length > 0) {
      throw new VmgitError('CACHE_DIR_UNSAFE', `the cache directory ${dir} is not safe: ${problems.join('; ')}; nothing was read or written there`)
    }
  }
}

/** Move `from` to `to` unless `to` exists; EXDEV copies then removes. Used for quarantine/expiry. */
export async function moveRegular(from: string, to: string): Promise<void> {
  try {
    await renameRegular(from, to)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw fsError(e, to, 'moving a file to')
    await copyRegular(from, to).catch((err: unknown) => {
      throw fsError(err, to, 'copying a file to')
    })
    await removeEntry(from)
  }
}

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir)
  return Number(s.bavail) * Number(s.bsize)
}

/** One running download's claim on the disk: the bytes it may still write. */
export interface Reservation {
  /** bytes written so far (they now show in statfs, so they leave the claim) */
  wrote(bytes: number): void
  release(): void
}

/**
 * Space reserved per running download (S29): a new download starts only if the free space, less
 * what the downloads already running may still write, holds all of it. Checks are serialised so two
 * downloads never both count the same free bytes.
 */
export class DiskBudget {
  private readonly claims = new Set<{ left: number }>()
  private tail: Promise<unknown> = Promise.resolve()
  constructor(private readonly free: (dir: string) => Promise<number> = freeBytes) {}

  reserve(dir: string, bytes: number): Promise<Reservation> {
    const next = this.tail.then(async () => {
      const free = await this.free(dir)
      const promised = [...this.claims].reduce((n, c) => n + c.left, 0)
      if (free - promised < bytes) {
        const others = promised > 0 ? ` (${promised} of them promised to downloads already running)` : ''
        throw new VmgitError('DISK_FULL', `${bytes} bytes are needed in ${dir} but only ${free} are free${others}; free some space or move the cache (--cache-dir), then run again`)
      }
      const claim = { left: bytes }
      this.claims.add(claim)
      return {
        wrote: (n: number) => void (claim.left = Math.max(0, claim.left - n)),
        release: () => void this.claims.delete(claim),
      }
    })
    this.tail = next.catch(() => undefined)
    return next
  }
}
