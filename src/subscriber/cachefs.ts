import { randomBytes } from 'node:crypto'
import { copyFile, link, lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { SHA512_HEX } from '../util/hash.js'

/**
 * File-system side of the cache. Verified files live in cache/<sha512>: no list-supplied string
 * becomes a path (attack S18). For the handlers that sites already run — they open
 * `$VMCATCHER_CACHE_DIR_CACHE/$VMCATCHER_EVENT_DC_IDENTIFIER` — each cached image also gets a hard
 * link cache/<identifier>, made only from an identifier already vetted against SAFE_ID.
 */
export interface CacheDirs {
  cache: string
  partial: string
  expired: string
}

export async function ensureDirs(d: CacheDirs): Promise<void> {
  for (const dir of [d.cache, d.partial, d.expired]) await mkdir(dir, { recursive: true, mode: 0o755 })
}

export const blobPath = (d: CacheDirs, sha512: string): string => path.join(d.cache, sha512)

/** The vetted per-image link name, or null when the identifier cannot safely be one. */
export function linkNameFor(identifier: string): string | null {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(identifier)) return null
  if (SHA512_HEX.test(identifier)) return null
  return identifier
}

/** Atomically point cache/<name> at the blob (hard link, copy when links are impossible). */
export async function placeLink(d: CacheDirs, sha512: string, name: string): Promise<void> {
  const tmp = path.join(d.cache, `.vmgit-link-${randomBytes(6).toString('hex')}`)
  try {
    await link(blobPath(d, sha512), tmp)
  } catch {
    await copyFile(blobPath(d, sha512), tmp)
  }
  await rename(tmp, path.join(d.cache, name))
}

/** Remove cache/<name> if it is still this blob's link (never a file someone else put there). */
export async function removeLink(d: CacheDirs, sha512: string, name: string): Promise<void> {
  const p = path.join(d.cache, name)
  try {
    const [l, b] = await Promise.all([lstat(p), stat(blobPath(d, sha512)).catch(() => undefined)])
    if (!b || (l.ino === b.ino && l.dev === b.dev) || l.size === b.size) await rm(p, { force: true })
  } catch {
    // already gone
  }
}

const stamp = (now: Date): string => now.toISOString().slice(0, 19).replace('T', '_').replace(/:/g, '-')

async function moveOrCopy(from: string, to: string, keepSource: boolean): Promise<void> {
  if (keepSource) {
    try {
      await link(from, to)
    } catch {
      await copyFile(from, to)
    }
    return
  }
  try {
    await rename(from, to)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e
    await copyFile(from, to)
    await rm(from, { force: true })
  }
}

/**
 * Put a file into expired/ as `<name>.<YYYY-MM-DD_hh-mm-ss>` (vmcatcher's naming, which
 * handlers look for in ExpirePostfix). `keepSource` links instead of moving (the blob still
 * serves another subscription). Returns the base name in expired/.
 */
export async function toExpired(d: CacheDirs, from: string, name: string, now: Date, keepSource: boolean): Promise<string> {
  let base = `${name}.${stamp(now)}`
  for (let i = 1; await exists(path.join(d.expired, base)); i++) base = `${name}.${stamp(now)}.${i}`
  await moveOrCopy(from, path.join(d.expired, base), keepSource)
  return base
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p)
    return true
  } catch {
    return false
  }
}

export interface DirEntry {
  name: string
  ino: number
  dev: number
  size: number
  mtimeMs: number
}

/** Regular files of a directory (sub-directories, e.g. a handler's templates/, are left alone). */
export async function listFiles(dir: string): Promise<DirEntry[]> {
  const out: DirEntry[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue
    try {
      const s = await stat(path.join(dir, e.name))
      out.push({ name: e.name, ino: s.ino, dev: s.dev, size: s.size, mtimeMs: Math.trunc(s.mtimeMs) })
    } catch {
      // vanished meanwhile
    }
  }
  return out
}
