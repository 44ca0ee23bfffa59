/**
 * Keeping the publish targets clean without ever breaking a published list:
 * - stale temp files (`.<name>.vmgit-<hex>.tmp`, left by a publish killed with -9 or a lost
 *   connection) are removed by the next publish, only when old enough (temps.ts: STALE_TEMP_MS);
 * - an image file that a replaced list named and no published list names any more gets a marker
 *   `.<name>.vmgit-unreferenced` beside it, holding the time it stopped being named;
 * - `publish --prune` deletes a marked file once the grace period has passed since that time and
 *   no published list names it again. vmgit deletes only files its own lists once named (a
 *   marker), never anything else in the directory.
 */
import path from 'node:path'
import { redactUrl, type TransferPool } from '../transfer/index.js'
import { isStaleTemp, TEMP_NAME } from '../transfer/temps.js'
import { VmgitError } from '../util/errors.js'
import type { NamedFile } from './images.js'

export const MARKER_NAME = /^\.?(.+)\.vmgit-unreferenced$/
/** hidden (a leading dot) where the server's listing shows dot files (see Transfer.listsDotFiles) */
export const markerName = (base: string, hidden = true): string => `${hidden ? '.' : ''}${base}.vmgit-unreferenced`

/** The directory URL of a target URL (up to and including its last slash). */
export const dirOf = (targetUrl: string): string => targetUrl.slice(0, targetUrl.lastIndexOf('/') + 1)

const msg = (e: unknown): string => (e instanceof VmgitError ? `${e.code}: ${e.message}` : String(e))

/** Remove stale temp files in each directory; returns the removed paths (display form). */
export async function removeStaleTemps(pool: TransferPool, dirs: Iterable<string>, now: Date, warn: (line: string) => void): Promise<string[]> {
  const removed: string[] = []
  for (const dirUrl of dirs) {
    try {
      const { transfer, target } = await pool.get(dirUrl)
      for (const e of await transfer.list(target.path)) {
        if (!isStaleTemp(e.name, e.mtime, now)) continue
        if (await transfer.delete(path.posix.join(target.path, e.name))) removed.push(`${target.display}${e.name}`)
      }
    } catch (e) {
      // a directory that cannot be listed: the publish goes on; the next one tries again
      // the target URL as configured may carry a user name or a token: shown redacted, as every URL vmgit prints
      warn(`could not clean stale temporary files in ${redactUrl(dirUrl)}: ${msg(e)}`)
    }
  }
  return removed
}

/** Write the "no published list names this file since `now`" marker beside an image file. */
export async function markUnreferenced(pool: TransferPool, file: NamedFile & { target: string }, now: Date): Promise<void> {
  const { transfer, target } = await pool.get(file.target)
  const marker = path.posix.join(path.posix.dirname(target.path), markerName(path.posix.basename(target.path), transfer.listsDotFiles))
  const body = JSON.stringify({ since: now.toISOString(), uri: file.uri, lastList: file.list, sha512: file.sha512, size: file.size }) + '\n'
  await transfer.put(Buffer.from(body), marker, { contentType: 'application/json' })
}

export interface PruneReport {
  /** files deleted (display form) */
  removed: string[]
  /** marked files still inside the grace period: when they may go */
  kept: { file: string; after: string }[]
  /** marked files a published list names again (their markers were dropped) */
  named: string[]
}

export interface PruneOptions {
  pool: TransferPool
  dirs: Iterable<string>
  /** the published list that names this file (by fileKey), if any does */
  namedAt: (key: string) => NamedFile | undefined
  keyOf: (connectionKey: string, filePath: string) => string
  now: Date
  graceMs: number
  dryRun: boolean
}

/** `publish --prune`: delete marked files past the grace period that no published list names. */
export async function prune(o: PruneOptions): Promise<PruneReport> {
  const report: PruneReport = { removed: [], kept: [], named: [] }
  for (const dirUrl of o.dirs) {
    const { transfer, target } = await o.pool.get(dirUrl)
    const entries = await transfer.list(target.path)
    const present = new Set(entries.map((e) => e.name))
    for (const e of entries) {
      const base = MARKER_NAME.exec(e.name)?.[1]
      if (!base || TEMP_NAME.test(base)) continue
      const markerPath = path.posix.join(target.path, e.name)
      const filePath = path.posix.join(target.path, base)
      const shown = `${target.display}${base}`
      if (!present.has(base)) {
        if (!o.dryRun) await transfer.delete(markerPath)
        continue
      }
      // named again (a rollback to this version): the file stays and its clock stops
      if (o.namedAt(o.keyOf(target.key, filePath))) {
        report.named.push(shown)
        if (!o.dryRun) await transfer.delete(markerPath)
        continue
      }
      let since = NaN
      try {
        since = Date.parse(String((JSON.parse((await transfer.get(markerPath)).toString('utf8')) as { since?: unknown }).since))
      } catch {
        // an unreadable marker proves nothing: the clock restarts now (never delete early)
      }
      if (!Number.isFinite(since)) {
        if (!o.dryRun) await transfer.put(Buffer.from(JSON.stringify({ since: o.now.toISOString() }) + '\n'), markerPath, { contentType: 'application/json' })
        since = o.now.getTime()
      }
      const after = since + o.graceMs
      if (o.now.getTime() < after) {
        report.kept.push({ file: shown, after: new Date(after).toISOString() })
        continue
      }
      // the file first, then its marker: a crash in between leaves a marker to finish the job
      if (!o.dryRun) {
        await transfer.delete(filePath)
        await transfer.delete(markerPath)
      }
      report.removed.push(shown)
    }
  }
  return report
}
