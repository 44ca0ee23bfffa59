/**
 * Upload sessions kept across runs (push.ts UploadSessions) in one small JSON file, mode 0600:
 * `${XDG_CACHE_HOME:-~/.cache}/vmgit/oci-uploads.json`. A publish killed in the middle of a 20 GiB
 * upload resumes from the offset the registry reports (upload status) instead of byte 0. Written
 * atomically (temp file + rename); an unreadable file counts as empty (the worst case is a new upload).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { UploadSessions } from './push.js'

export function sessionsPath(env: Record<string, string | undefined>): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined)
  return base ? path.join(base, 'vmgit', 'oci-uploads.json') : undefined
}

export class FileUploadSessions implements UploadSessions {
  constructor(private readonly file: string) {}

  private read(): Record<string, string> {
    try {
      const doc = JSON.parse(readFileSync(this.file, 'utf8')) as unknown
      return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, string>) : {}
    } catch {
      return {}
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
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
      const tmp = `${this.file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(all, null, 1), { mode: 0o600 })
      renameSync(tmp, this.file)
    } catch {
      // a cache that cannot be written only costs a resume
    }
  }
}
