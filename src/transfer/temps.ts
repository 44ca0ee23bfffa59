/**
 * Temporary upload names and the uploads in flight.
 *
 * Every backend that cannot replace a file atomically in one request (file, SFTP, WebDAV) writes
 * to `.<name>.vmgit-<12 hex>.tmp` beside the target and renames/MOVEs it into place. While a put
 * runs, its cleanup (delete the temp file, abort the request or the multipart upload) is
 * registered here, so SIGINT/SIGTERM can remove what this process left half-written
 * (`removeTempsOnSignal`). kill -9 cannot be caught: the next publish removes stale temp files
 * (`isStaleTemp`).
 */
import { randomBytes } from 'node:crypto'
import { VmgitError } from '../util/errors.js'

/**
 * `.<name>.vmgit-<12 hex>.tmp`: only names vmgit made itself (random part exactly as `tempName`
 * makes it). Without the leading dot on servers whose listings hide dot files (nginx dav-ext
 * leaves them out of PROPFIND): a temp file the next publish cannot see, it cannot remove.
 */
export const TEMP_NAME = /^\.?(.+)\.vmgit-[0-9a-f]{12}\.tmp$/

export function tempName(base: string, hidden = true): string {
  return `${hidden ? '.' : ''}${base}.vmgit-${randomBytes(6).toString('hex')}.tmp`
}

/**
 * Stale-temp rule: a temp file is stale when it was last written more than `STALE_TEMP_MS` before
 * `now`. A live upload writes its temp file continuously (its mtime follows the last byte) and
 * renames it right after the last byte; a transfer that makes no progress for 30 s (the
 * connection timeout) fails and removes its temp file. So a temp file untouched for an hour
 * belongs to no live run, even a concurrent one on another machine; the hour also absorbs clock
 * skew between the publisher and the server whose clock wrote the mtime.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000

export function isStaleTemp(name: string, mtime: Date | undefined, now: Date): boolean {
  if (!TEMP_NAME.test(name)) return false
  // no mtime (a server that does not say): never guess, keep it
  if (!mtime || !Number.isFinite(mtime.getTime())) return false
  return now.getTime() - mtime.getTime() > STALE_TEMP_MS
}

type Cleanup = () => Promise<unknown> | unknown
const inflight = new Set<Cleanup>()
/** set once SIGINT/SIGTERM arrived: no new upload starts */
let interruptedBy: NodeJS.Signals | undefined

/** Register what undoes an upload in flight; call the returned function once the put is done. */
export function trackTemp(cleanup: Cleanup): () => void {
  if (interruptedBy) throw new VmgitError('INTERRUPTED', `interrupted by ${interruptedBy}: no new upload starts`)
  inflight.add(cleanup)
  return () => void inflight.delete(cleanup)
}

/** Run every registered cleanup (bounded: a dead server must not keep Ctrl-C from working). */
export async function cleanupInflight(timeoutMs = 5000): Promise<void> {
  const all = [...inflight]
  inflight.clear()
  const run = Promise.all(all.map(async (c) => { try { await c() } catch { /* best effort: the next publish removes stale temps */ } }))
  await Promise.race([run, new Promise((r) => setTimeout(r, timeoutMs).unref())])
}

/**
 * Until `release` is called, SIGINT and SIGTERM first remove this process's temp files and abort
 * its uploads, then end the process by the same signal (exit status 130/143 as a shell reports
 * it). Uploads cut short by the cleanup fail meanwhile; `release` then waits for the signal
 * instead of letting the caller go on to report or exit otherwise. A second signal ends it at once.
 */
export function removeTempsOnSignal(): { release: () => Promise<void> } {
  let cleaning: Promise<void> | undefined
  const handler = (sig: NodeJS.Signals) => {
    if (cleaning) process.exit(sig === 'SIGINT' ? 130 : 143)
    interruptedBy = sig
    process.stderr.write(`vmgit: ${sig}: removing temporary upload files\n`)
    cleaning = cleanupInflight().finally(() => {
      detach()
      process.kill(process.pid, sig)
    })
  }
  const detach = () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    release: async () => {
      if (!cleaning) return detach()
      await cleaning
      // the signal is on its way: nothing after this point may run
      await new Promise(() => {})
    },
  }
}
