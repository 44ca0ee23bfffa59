import { loadTrustStore } from '../smime/trust.js'
import { runCache } from './cache.js'
import { ensureDirs } from './cachefs.js'
import { rdbmsUrl, type SubscriberPaths } from './config.js'
import { describeEventFailure, EventRunner, type EventResult } from './events.js'
import { DEFAULT_LIMITS, Fetcher, type FetchLimits } from '../net/http.js'
import { checkCacheDirs } from './localstate.js'
import { acquireSyncLock } from './lock.js'
import type { Progress } from './progress.js'
import { Report } from './report.js'
import { ListPrefetch } from './prefetch.js'
import { listSubscriptionsMeta, openStore } from './store.js'
import { updateSubscription } from './update.js'

/**
 * `vmgit sync`: one run = one fixed `now`, one lock, one event session.
 *   ProcessPrefix → every subscription's list (SubscriptionImageNew) → cache: expire
 *   (ExpirePrefix/ExpirePostfix) and download (AvailablePrefix/AvailablePostfix) → ProcessPostfix.
 * A failure in one list or image never stops the others; the Report says what happened.
 */
export interface SyncOptions {
  paths: SubscriberPaths
  now: Date
  eventCommand?: string
  eventTimeoutMs?: number
  jobs: number
  check: boolean
  download: boolean
  /** undefined: each subscription as remembered (`sub add --no-crl-check`); true/false: every subscription */
  crlCheck?: boolean
  limits?: Partial<FetchLimits>
  /** per-image deadline = list deadline + size / minRate (bytes per second) */
  minRate?: number
  progress?: Progress
  fsync?: boolean
  env?: NodeJS.ProcessEnv
  /** S26: remove a lock file still locked by a run that is not alive on this host (operator, logged) */
  breakLock?: boolean
  /** issue 17: take images a list pins in a registry from there first, falling back to hv:uri */
  preferRegistry?: boolean
}

export interface SyncResult {
  report: Report
  session: string
  subscriptions: number
}

export async function runSync(o: SyncOptions): Promise<SyncResult> {
  // S34: an unusable cache is one clear error before anything runs, not one INTERNAL per image
  checkCacheDirs([o.paths.cache, o.paths.partial, o.paths.expired])
  // S34: sync never creates a database (a mistyped path is NO_DATABASE, not an empty healthy run)
  const db = openStore(o.paths.db, { mustExist: true })
  const report = new Report()
  let lock
  try {
    // S27: unsafe cache directories are a configuration error (exit 2), found before anything is written
    await ensureDirs({ cache: o.paths.cache, partial: o.paths.partial, expired: o.paths.expired })
    lock = acquireSyncLock(db, o.now, { breakLock: o.breakLock })
  } catch (e) {
    db.close()
    throw e
  }
  if (lock.takenOver) {
    report.change({ kind: 'lock-reclaimed', message: `took over the lock of a sync that died (pid ${lock.takenOver.pid} on ${lock.takenOver.host}, started ${lock.takenOver.acquired_at})` })
  }
  if (lock.broken) {
    const b = lock.broken
    report.change({ kind: 'lock-reclaimed', message: `broke the sync lock (--break-lock, logged)${b.pid === null ? '' : ` held for pid ${b.pid} on ${b.host} since ${b.acquired_at}`}` })
    report.problem({ code: 'LOCK_BROKEN', severity: 'warning', message: 'the sync lock was broken with --break-lock: if the run that held it is still alive somewhere, stop it now' })
  }
  const fetcher = new Fetcher({ caDir: o.paths.caDir, env: o.env })
  const limits: FetchLimits = { ...DEFAULT_LIMITS, ...o.limits }
  const dirs = { cache: o.paths.cache, partial: o.paths.partial, expired: o.paths.expired }
  const events = new EventRunner({
    command: o.eventCommand,
    timeoutMs: o.eventTimeoutMs,
    baseEnv: o.env,
    // exported to every event, as vmcatcher's cache runs did (trailing slash: handlers write DIR$ID and DIR/$ID)
    runEnv: {
      VMCATCHER_CACHE_DIR_CACHE: dirs.cache + '/',
      VMCATCHER_CACHE_DIR_DOWNLOAD: dirs.partial + '/',
      VMCATCHER_CACHE_DIR_EXPIRE: dirs.expired + '/',
      VMCATCHER_RDBMS: rdbmsUrl(o.paths.db),
      VMGIT_DB: o.paths.db,
    },
  })
  const subs = listSubscriptionsMeta(db)
  // issue 14: an empty database is said out loud (stderr, --json problems), never a silent healthy run
  if (subs.length === 0) report.problem({ code: 'NO_SUBSCRIPTIONS', severity: 'warning', message: `no subscriptions in ${o.paths.db}: nothing to sync; subscribe with vmgit sub add URL (or point --db / VMGIT_DB at the right database)` })
  try {
    const trust = await loadTrustStore(o.paths.caDir)
    await events.fire('ProcessPrefix')
    const prefetch = new ListPrefetch(db, fetcher, limits, subs)
    for (const [i, sub] of subs.entries()) {
      try {
        prefetch.ahead(i)
        await updateSubscription({ db, fetcher, trust, now: o.now, crlCheck: o.crlCheck ?? sub.crl_check !== 0, limits, report, events, prefetch }, sub)
      } catch (e) {
        report.error(e, { subscription: sub.id })
      }
    }
    const minRate = o.minRate ?? 256 * 1024
    try {
      await runCache({
        db, dirs, fetcher, events, report, now: o.now, jobs: o.jobs, check: o.check, download: o.download, limits,
        deadlineFor: (size) => limits.deadlineMs + Math.ceil((size / minRate) * 1000),
        progress: o.progress,
        fsync: o.fsync,
        preferRegistry: o.preferRegistry,
      })
    } catch (e) {
      report.error(e, {})
    }
    await events.fire('ProcessPostfix')
  } finally {
    reportEventFailures(events.results, report)
    fetcher.close()
    lock.release()
    db.close()
  }
  return { report, session: events.session, subscriptions: subs.length }
}

/**
 * Issue 14: a failing event handler changes the exit code (1: the cache holds an image the
 * handler did not take in); one that cannot be run at all (sh's 127 not found, 126 not
 * executable, or no shell) is one configuration error (exit 2) for the whole run, not one per event.
 */
export function reportEventFailures(results: readonly EventResult[], report: Report): void {
  const failed = results.filter((r) => !r.ok)
  const missing = failed.filter(handlerNotRun)
  if (missing.length > 0) {
    report.problem({ code: 'EVENT_HANDLER_MISSING', severity: 'config', message: `the event command could not be run for ${missing.length} event(s) (${describeEventFailure(missing[0]!)}); fix --event / VMGIT_EVENT / VMCATCHER_CACHE_EVENT: it must name an executable file` })
  }
  for (const r of failed) {
    if (!handlerNotRun(r)) report.problem({ code: 'EVENT_FAILED', severity: 'failed', ...(r.identifier ? { image: r.identifier } : {}), message: describeEventFailure(r) })
  }
}

const handlerNotRun = (r: EventResult): boolean => !r.timedOut && r.signal === null && (r.exitCode === 126 || r.exitCode === 127 || r.exitCode === null)
