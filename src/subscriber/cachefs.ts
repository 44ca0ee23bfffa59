import { randomBytes } from 'node:crypto'
import { link } from 'node:fs/promises'
import path from 'node:path'
import { SHA512_HEX } from '../util/hash.js'
import { copyRegular, ensureSafeDirs, type Foreign, lstatOrUndefined, moveRegular, nameTaken, removeEntry, renameRegular, type SweptFile, sweepDir } from '../util/safefs.js'

/**
 * File-system side of the cache. Verified files live in cache/<sha512>: no list-supplied string
 * becomes a path (attack S18). For the handlers that sites already run — they open
 * `$VMCATCHER_CACHE_DIR_CACHE/$VMCATCHER_EVENT_DC_IDENTIFIER` — each cached image also gets a hard
 * link cache/<identifier>, made only from an identifier already vetted against SAFE_ID, and only while
 * no other list claims that identifier for other bytes (S28, see cache.ts). Every open, create, rename
 * and delete here goes through src/util/safefs.ts (S27: no link is ever followed).
 */
export interface CacheDirs {
  cache: string
  partial: string
  expired: string
}

/** Create the three directories if needed; refuse them when others could write into them (S27). */
export async function ensureDirs(d: CacheDirs): Promise<void> {
  await ensureSafeDirs([d.cache, d.partial, d.expired])
}

export const blobPath = (d: CacheDirs, sha512: string): string => path.join(d.cache, sha512)

/** The vetted per-image link name, or null when the identifier cannot safely be one. */
export function linkNameFor(identifier: string): string | null {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(identifier)) return null
  if (SHA512_HEX.test(identifier)) return null
  return identifier
}

/**
 * Atomically point cache/<name> at the blob (hard link, copy when links are impossible). The blob
 * must be a regular file (a hard link to a symlink would be a symlink); a directory already at
 * cache/<name> is never replaced (CACHE_NAME_TAKEN).
 */
export async function placeLink(d: CacheDirs, sha512: string, name: string): Promise<void> {
  const blob = blobPath(d, sha512)
  const target = path.join(d.cache, name)
  if ((await lstatOrUndefined(target))?.isDirectory()) throw nameTaken(target)
  const b = await lstatOrUndefined(blob)
  if (!b?.isFile()) throw new Error(`${blob} is not a regular file`)
  const tmp = path.join(d.cache, `.vmgit-link-${randomBytes(6).toString('hex')}`)
  try {
    await link(blob, tmp)
  } catch {
    await copyRegular(blob, tmp)
  }
  try {
    await renameRegular(tmp, target)
  } catch (e) {
    await removeEntry(tmp)
    throw e
  }
}

/** Remove cache/<name> if it is still this blob's link, or anything but a file or directory (never someone's file). */
export async function removeLink(d: CacheDirs, sha512: string, name: string): Promise<void> {
  const p = path.join(d.cache, name)
  const l = await lstatOrUndefined(p)
  if (!l || l.isDirectory()) return
  const b = await lstatOrUndefined(blobPath(d, sha512))
  if (!l.isFile() || !b || (l.ino === b.ino && l.dev === b.dev)) await removeEntry(p)
}

const stamp = (now: Date): string => now.toISOString().slice(0, 19).replace('T', '_').replace(/:/g, '-')

/**
 * Put a file into expired/ as `<name>.<YYYY-MM-DD_hh-mm-ss>` (vmcatcher's naming, which
 * handlers look for in ExpirePostfix). `keepSource` links instead of moving (the blob still
 * serves another subscription). Returns the base name in expired/. The source must be a regular
 * file and the destination a free name (lstat): nothing planted in expired/ is written through.
 */
export async function toExpired(d: CacheDirs, from: string, name: string, now: Date, keepSource: boolean): Promise<string> {
  let base = `${name}.${stamp(now)}`
  for (let i = 1; await exists(path.join(d.expired, base)); i++) base = `${name}.${stamp(now)}.${i}`
  const to = path.join(d.expired, base)
  if (keepSource) {
    const s = await lstatOrUndefined(from)
    if (!s?.isFile()) throw new Error(`${from} is not a regular file`)
    try {
      await link(from, to)
    } catch {
      await copyRegular(from, to)
    }
  } else {
    await moveRegular(from, to)
  }
  return base
}

export async function exists(p: string): Promise<boolean> {
  return (await lstatOrUndefined(p)) !== undefined
}

export type DirEntry = SweptFile

/**
 * Regular files of a cache directory (lstat). Symbolic links, FIFOs, sockets and devices planted
 * there are removed, and in partial/ (ours alone) also directories and files with extra hard links;
 * sub-directories of cache/ and expired/ (e.g. a handler's templates/) are left alone. What was
 * found is returned so the caller reports it (S27).
 */
export async function listFiles(dir: string, kind: 'cache' | 'partial' | 'expired' = 'cache'): Promise<{ files: DirEntry[]; foreign: Foreign[] }> {
  const partial = kind === 'partial'
  return sweepDir(dir, { removeDirs: partial, multiLinked: !partial })
}
