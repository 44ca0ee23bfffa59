import { constants, mkdirSync, statSync, type Stats } from 'node:fs'
import { mkdir, open, stat } from 'node:fs/promises'
import path from 'node:path'
import { VmgitError, type ErrorCode } from './errors.js'

/**
 * Issue 14 (environment failures): an ordinary problem of the machine (permissions, a read-only or
 * full disk, a file where a directory must be, a link loop, a FIFO or device where a file must be)
 * is a typed error naming the path and the fix, never INTERNAL ("report it as a bug"), and never a
 * read that waits forever.
 */

const BY_ERRNO: Record<string, { code: ErrorCode; why: string; fix: string }> = {
  EACCES: { code: 'FS_PERMISSION', why: 'permission denied', fix: 'fix its owner or mode, or run vmgit as the user it belongs to' },
  EPERM: { code: 'FS_PERMISSION', why: 'operation not permitted', fix: 'fix its owner or mode, or run vmgit as the user it belongs to' },
  EROFS: { code: 'FS_READONLY', why: 'read-only file system', fix: 'remount it read-write or give a writable path' },
  ENOSPC: { code: 'DISK_FULL', why: 'no space left on the device', fix: 'free some space there, then run again' },
  EDQUOT: { code: 'DISK_FULL', why: 'disk quota exceeded', fix: 'free some space there, then run again' },
  EISDIR: { code: 'FS_IS_A_DIRECTORY', why: 'it is a directory', fix: 'give the path of a file' },
  ENOTDIR: { code: 'FS_NOT_A_DIRECTORY', why: 'a part of the path is a file, not a directory', fix: 'give a path whose parents are directories, or move the file away' },
  EEXIST: { code: 'FS_NOT_A_DIRECTORY', why: 'a file is in the way', fix: 'move the file away or give another path' },
  ELOOP: { code: 'FS_LOOP', why: 'too many levels of symbolic links', fix: 'fix the links or give another path' },
  ENAMETOOLONG: { code: 'FS_NAME_TOO_LONG', why: 'the name is too long', fix: 'give a shorter path' },
  ENOENT: { code: 'FS_NOT_FOUND', why: 'no such file or directory', fix: 'check the path' },
  EIO: { code: 'FS_IO', why: 'input/output error', fix: 'check the disk (dmesg), then run again' },
  EMFILE: { code: 'FS_IO', why: 'too many open files', fix: 'raise the open-files limit (ulimit -n), then run again' },
  ENFILE: { code: 'FS_IO', why: 'too many open files in the system', fix: 'raise the system open-files limit, then run again' },
  ENXIO: { code: 'FS_NOT_REGULAR', why: 'no such device or address (a FIFO or device)', fix: 'give the path of a regular file' },
  ETXTBSY: { code: 'FS_IO', why: 'the file is busy', fix: 'wait for the program using it, then run again' },
}

/** The codes of the machine's problems (the table above, and FS_CANNOT_CREATE): exit 2, fix the path, do not retry. */
const ENVIRONMENT_CODES: ReadonlySet<string> = new Set([...Object.values(BY_ERRNO).map((m) => m.code), 'FS_CANNOT_CREATE'])
export const isEnvironmentCode = (code: string): boolean => ENVIRONMENT_CODES.has(code)

const VERB: Record<string, string> = {
  open: 'open', read: 'read', write: 'write', mkdir: 'create the directory', rename: 'rename', unlink: 'remove', rmdir: 'remove',
  scandir: 'list', stat: 'look at', lstat: 'look at', copyfile: 'copy to', chmod: 'change the mode of', access: 'access',
}

/** A node file-system error (errno code and path) as a typed error naming the path, or undefined. */
export function envError(e: unknown): VmgitError | undefined {
  const err = e as NodeJS.ErrnoException
  if (!err || typeof err !== 'object' || typeof err.code !== 'string') return undefined
  const m = BY_ERRNO[err.code]
  if (!m || typeof err.path !== 'string') return undefined
  const p = path.resolve(err.path)
  const rawDest = (e as { dest?: unknown }).dest
  const dest = typeof rawDest === 'string' ? ` → ${path.resolve(rawDest)}` : ''
  const verb = VERB[err.syscall ?? ''] ?? err.syscall ?? 'use'
  if (err.syscall === 'mkdir' && err.code === 'ENOENT') {
    // its parent exists (mkdirs checked): the file system itself refuses new entries (/proc, /sys, …)
    return new VmgitError('FS_CANNOT_CREATE', `cannot create the directory ${p}: the file system refuses new entries there (ENOENT; /proc, /sys and similar); give a directory on an ordinary file system`, { cause: e, details: { path: p, errno: err.code } })
  }
  return new VmgitError(m.code, `cannot ${verb} ${p}${dest}: ${m.why} (${err.code}); ${m.fix}`, { cause: e, details: { path: p, errno: err.code } })
}

const kind = (mode: number): string => {
  const t = mode & constants.S_IFMT
  if (t === constants.S_IFIFO) return 'a FIFO (named pipe)'
  if (t === constants.S_IFCHR) return 'a character device'
  if (t === constants.S_IFBLK) return 'a block device'
  if (t === constants.S_IFSOCK) return 'a socket'
  if (t === constants.S_IFDIR) return 'a directory'
  return 'not a regular file'
}

export interface ReadRegularOptions {
  /** what the file is, for the message: "the certificate", "the image list", … */
  what: string
  /** refuse larger files before reading (FS_TOO_LARGE) */
  maxBytes: number
}

/**
 * Read a file given by the user (--file, --cert, a config): only a regular file, at most maxBytes.
 * Opened with O_NONBLOCK so a FIFO cannot block the open, then fstat'ed: a FIFO, device, socket or
 * directory is refused before one byte is read (`/dev/zero`, `/proc/…` and FIFOs never hang vmgit),
 * and the read stops at maxBytes even if the file grows meanwhile.
 */
export async function readRegularFile(file: string, opts: ReadRegularOptions): Promise<Buffer> {
  const p = path.resolve(file)
  let fh
  try {
    fh = await open(p, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (e) {
    throw envError(e) ?? e
  }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw new VmgitError('FS_IS_A_DIRECTORY', `${opts.what} ${p} is a directory; give the path of a file`, { details: { path: p } })
    if (!st.isFile()) throw new VmgitError('FS_NOT_REGULAR', `${opts.what} ${p} is ${kind(st.mode)}, not a regular file; vmgit reads only regular files (a FIFO or device could be read forever): give the path of a file`, { details: { path: p } })
    if (st.size > opts.maxBytes) throw tooLarge(opts.what, p, st.size, opts.maxBytes)
    const chunks: Buffer[] = []
    let n = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(Math.max(st.size - n + 1, 1 << 16), 1 << 20, opts.maxBytes + 1 - n))
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, n)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      n += bytesRead
      if (n > opts.maxBytes) throw tooLarge(opts.what, p, n, opts.maxBytes) // it grew while being read
    }
    return Buffer.concat(chunks, n)
  } catch (e) {
    throw envError(e) ?? e
  } finally {
    await fh.close()
  }
}

const tooLarge = (what: string, p: string, size: number, max: number): VmgitError =>
  new VmgitError('FS_TOO_LARGE', `${what} ${p} is ${size} bytes, more than the ${max} vmgit accepts for it; check that it is the right file`, { details: { path: p, size, max } })

const errno = (code: string, syscall: string, p: string, message: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${message}, ${syscall} '${p}'`), { code, syscall, path: p })

/** The directories of `dir` that do not exist yet, outermost first; throws ENOTDIR when a file is in the way. */
function missingDirs(dir: string, statOf: (p: string) => Stats | undefined): string[] {
  const missing: string[] = []
  for (let cur = path.resolve(dir); ; cur = path.dirname(cur)) {
    const st = statOf(cur)
    if (st) {
      if (!st.isDirectory()) throw errno('ENOTDIR', 'mkdir', cur, 'not a directory')
      return missing.reverse()
    }
    missing.push(cur)
    if (path.dirname(cur) === cur) return missing.reverse()
  }
}

const statOrUndefined = (p: string): Stats | undefined => {
  try {
    return statSync(p)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/**
 * `mkdir -p` without node's recursive mkdir, which spins forever (100% of a core) where mkdir(2)
 * answers ENOENT although the parent exists, as under /proc (`vmgit init /proc/x`). Each level is
 * created once; an error is thrown as the errno error it is (callers and BaseCommand map it).
 * Returns the first directory created, like mkdir({ recursive: true }).
 */
export function mkdirsSync(dir: string, mode = 0o777): string | undefined {
  const missing = missingDirs(dir, statOrUndefined)
  for (const d of missing) {
    try {
      mkdirSync(d, { mode })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw e
    }
  }
  return missing[0]
}

export async function mkdirs(dir: string, mode = 0o777): Promise<string | undefined> {
  const missing = missingDirs(dir, statOrUndefined)
  for (const d of missing) {
    try {
      await mkdir(d, { mode })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(d)).isDirectory()) throw e
    }
  }
  return missing[0]
}

/**
 * Stat first (issue 14: nothing hangs on special files): a path the user gave as a file must be a
 * regular file, at most maxBytes. A directory is FS_IS_A_DIRECTORY; a FIFO, device or socket
 * (`/dev/zero`, a named pipe) is FS_NOT_REGULAR before anything opens it, so no read can block or
 * run forever. A missing path is left to the caller's own read, which names it in its terms
 * (CERT_UNREADABLE, SOURCE_NOT_FOUND, …); any other failure to stat is the FS_* error it is.
 */
export function checkRegularFile(file: string, what: string, maxBytes = Number.POSITIVE_INFINITY): void {
  let st: Stats
  try {
    st = statSync(file)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw envError(e) ?? e // ELOOP, ENOTDIR, EACCES, ENAMETOOLONG: typed, with the path
  }
  const p = path.resolve(file)
  if (st.isDirectory()) throw new VmgitError('FS_IS_A_DIRECTORY', `${what} ${p} is a directory; give the path of a file`, { details: { path: p } })
  if (!st.isFile()) throw new VmgitError('FS_NOT_REGULAR', `${what} ${p} is ${kind(st.mode)}, not a regular file; vmgit reads and writes only regular files (a FIFO or device could block or never end): give the path of a file`, { details: { path: p } })
  if (st.size > maxBytes) throw tooLarge(what, p, st.size, maxBytes)
}

/** Size caps for files the user names (certificates, keys, configuration): far above any real one. */
export const CAP = { credential: 1 << 20, config: 16 << 20 } as const
