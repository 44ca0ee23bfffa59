import os from 'node:os'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import { caDirFromEnv } from '../net/trust.js'

/**
 * Where the subscriber keeps its state, resolved from flags, vmgit's own environment variables,
 * then vmcatcher's (so an existing vmcatcher cron environment keeps working), then defaults.
 */
export interface SubscriberPaths {
  db: string
  cache: string
  partial: string
  expired: string
  caDir: string
}

export type Env = Record<string, string | undefined>

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0

/** vmcatcher's `VMCATCHER_RDBMS`: `sqlite:///relative` (three slashes) or `sqlite:////absolute` (four). */
export function parseRdbmsUrl(url: string, cwd = process.cwd()): string {
  const m = /^sqlite:\/\/\/(.+)$/.exec(url.trim())
  if (!m?.[1]) {
    throw usageError(
      'DB_URL_UNSUPPORTED',
      `VMCATCHER_RDBMS=${JSON.stringify(url)} is not an sqlite URL; vmgit reads only sqlite:///relative or sqlite:////absolute (or set VMGIT_DB / --db to a file path)`,
    )
  }
  // sqlite:////abs → m[1] = "/abs" (absolute); sqlite:///rel → m[1] = "rel" (relative to cwd)
  return path.resolve(cwd, m[1])
}

/** The inverse, exported to event handlers as VMCATCHER_RDBMS. */
export const rdbmsUrl = (dbPath: string): string => `sqlite:///${path.resolve(dbPath)}`

function stateHome(env: Env): string {
  return env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local/state')
}
function cacheHome(env: Env): string {
  return env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache')
}

export function resolveDbPath(flag: string | undefined, env: Env = process.env): string {
  if (flag) return path.resolve(flag)
  if (env.VMGIT_DB) return path.resolve(env.VMGIT_DB)
  if (env.VMCATCHER_RDBMS) return parseRdbmsUrl(env.VMCATCHER_RDBMS)
  return isRoot() ? '/var/lib/vmgit/subscriber.db' : path.join(stateHome(env), 'vmgit/subscriber.db')
}

/**
 * Cache root: `--cache-dir` / VMGIT_CACHE_DIR hold cache/, partial/ and expired/. vmcatcher's three
 * separate variables override the single directories they name (they win over the default root,
 * but not over an explicit --cache-dir).
 */
export function resolveCacheDirs(flag: string | undefined, env: Env = process.env): Pick<SubscriberPaths, 'cache' | 'partial' | 'expired'> {
  const explicit = flag ?? env.VMGIT_CACHE_DIR
  const root = path.resolve(explicit ?? (isRoot() ? '/var/cache/vmgit' : path.join(cacheHome(env), 'vmgit')))
  const pick = (sub: string, old: string | undefined): string =>
    explicit === undefined && old ? path.resolve(old) : path.join(root, sub)
  return {
    cache: pick('cache', env.VMCATCHER_CACHE_DIR_CACHE),
    partial: pick('partial', env.VMCATCHER_CACHE_DIR_DOWNLOAD),
    expired: pick('expired', env.VMCATCHER_CACHE_DIR_EXPIRE),
  }
}

export function resolveCaDir(flag: string | undefined, env: Env = process.env): string {
  return path.resolve(caDirFromEnv(flag, env))
}

/** Event command: --event, VMGIT_EVENT, then vmcatcher's VMCATCHER_CACHE_EVENT. */
export function resolveEventCommand(flag: string | undefined, env: Env = process.env): string | undefined {
  const v = flag ?? env.VMGIT_EVENT ?? env.VMCATCHER_CACHE_EVENT
  return v && v.trim() !== '' ? v : undefined
}

export function resolvePaths(flags: { db?: string; 'cache-dir'?: string; 'ca-dir'?: string }, env: Env = process.env): SubscriberPaths {
  return {
    db: resolveDbPath(flags.db, env),
    ...resolveCacheDirs(flags['cache-dir'], env),
    caDir: resolveCaDir(flags['ca-dir'], env),
  }
}

/** `--now ISO` (tests, historical checks): one fixed instant per run. */
export function resolveNow(flag: string | undefined): Date {
  if (flag === undefined) return new Date()
  const d = new Date(flag)
  if (Number.isNaN(d.getTime())) throw usageError('BAD_NOW', `--now ${JSON.stringify(flag)} is not an ISO 8601 time; use e.g. 2026-01-01T00:00:00Z`)
  return d
}
