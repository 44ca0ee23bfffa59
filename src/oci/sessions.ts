/**
 * Upload sessions kept across runs (push.ts UploadSessions) in one small JSON file, mode 0600:
 * `${XDG_CACHE_HOME:-~/.cache}/vmgit/oci-uploads.json`. A publish killed in the middle of a 20 GiB
 * upload resumes from the offset the registry reports (upload status) instead of byte 0. Written
 * atomically (temp file + rename); an unreadable file counts as empty (the worst case is a new upload).
 *
 * O12: the file steers where image bytes are sent, so only a file this user wrote is believed:
 * a regular file (never followed through a symlink) owned by this user and writable by no one
 * else, in a directory owned by this user and writable by no one else; anything else counts as
 * empty and is never written through. The temp file has an unguessable name and is created
 * exclusively (a planted symlink is never written through). What a session names is checked again
 * when it is used (push.ts: the registry's origin and the repository's upload path only).
 */
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, type Stats, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { UploadSessions } from './push.js'

export function sessionsPath(env: Record<string, string | undefined>): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined)
  return base ? path.join(base, 'vmgit', 'oci-uploads.json') : undefined
}

/** Owned by this user (where the platform has uids) and writable by no group or other user. */
function mine(st: Stats): boolean {
  const uid = process.getuid?.()
  return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0
}

/** The directory holds only what this user put there: a real directory (not a symlink), its own, not group/world-writable. */
function safeDir(dir: string): boolean {
  try {
    const st = lstatSync(dir)
    return st.isDirectory() && mine(st)
  } catch {
    return false
  }
}

export class FileUploadSessions implements UploadSessions {
  constructor(private readonly file: string) {}

  private read(): Record<string, string> {
    if (!safeDir(path.dirname(this.file))) return {}
    let fd: number | undefined
    try {
      // O12: never through a symlink, and only a regular file of this user's that no one else may write
      fd = openSync(this.file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
      const st = fstatSync(fd)
      if (!st.isFile() || !mine(st) || st.size > 1024 * 1024) return {}
      const doc = JSON.parse(readFileSync(fd, 'utf8')) as unknown
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return {}
      return Object.fromEntries(Object.entries(doc).filter((e): e is [string, string] => typeof e[1] === 'string'))
    } catch {
      return {}
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }

  get(key: string): string | undefined {
    const v = this.read()[key]
    return typeof v === 'string' ? v : undefined
  }

  set(key: string, location: string | undefined): void {
    const all = this.read()
    if (location === undefined) delete all[key]
    else all[key] = location
    const dir = path.dirname(this.file)
    const tmp = `${this.file}.${randomBytes(8).toString('hex')}.tmp`
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      // a cache in a directory someone else controls is not kept at all
      if (!safeDir(dir)) return
      // O12: created exclusively ('wx' never follows or reuses what is there), then renamed over the file (a symlink there is replaced, not followed)
      writeFileSync(tmp, JSON.stringify(all, null, 1), { mode: 0o600, flag: 'wx' })
      renameSync(tmp, this.file)
    } catch {
      // a cache that cannot be written only costs a resume
      try {
        unlinkSync(tmp)
      } catch {
        // nothing was created
      }
    }
  }
}
