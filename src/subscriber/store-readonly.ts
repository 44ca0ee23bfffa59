/**
 * The subscriber store, read-only: the queries of readers that run beside `vmgit sync` and never
 * write (the Glance handler, the metrics writer). Moved here from src/glance/source.ts and
 * src/subscriber/metrics.ts (no behaviour change), so every SQL statement of the subscriber
 * database lives behind its store modules (issue 14).
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { usageError } from '../util/errors.js'
import type { CacheEntryRow, DB } from './store.js'

/**
 * Open the database read-only for the Glance handler: the handler runs while `vmgit sync` holds
 * the database, and never writes to it.
 */
export function openStoreReadonly(dbPath: string): DB {
  if (!existsSync(dbPath)) {
    throw usageError('NO_DATABASE', `no subscriber database at ${dbPath}; run \`vmgit sync\` first, or point --db / VMGIT_DB / VMCATCHER_RDBMS at it`)
  }
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  const t = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('cache_entry', 'subscription', 'image')").all()
  if (t.length < 3) {
    db.close()
    throw usageError('DB_NOT_SUBSCRIBER', `${dbPath} is not a vmgit subscriber database (no cache_entry table); check --db`)
  }
  return db
}

/** Every entry of the verified cache, by list and identifier. */
export function cacheEntries(db: DB): CacheEntryRow[] {
  return db.prepare('SELECT * FROM cache_entry ORDER BY subscription_id, identifier').all() as CacheEntryRow[]
}

/** The stored list entry (JSON text) of one image, when the list still has it. */
export function imageEntryJson(db: DB, listId: string, identifier: string): string | undefined {
  const row = db.prepare('SELECT json FROM image WHERE subscription_id = ? AND identifier = ?').get(listId, identifier) as { json: string } | undefined
  return row?.json
}

export interface SubFacts {
  id: string
  version: string
  list_expires: string
  status: string
  cached: number
}

/** Per subscription: stored version, its expiry, status and how many images are cached. */
export function subscriptionFacts(dbPath: string): SubFacts[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    db.pragma('busy_timeout = 10000')
    return db.prepare(`SELECT s.id, s.version, s.list_expires, s.status,
        (SELECT COUNT(*) FROM cache_entry c WHERE c.subscription_id = s.id) AS cached
      FROM subscription s ORDER BY s.id`).all() as SubFacts[]
  } finally {
    db.close()
  }
}

/** The sum of hv:size over the given images (absent sizes count 0). */
export function imageSizes(dbPath: string, images: readonly { subscription: string; image: string }[]): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    const q = db.prepare('SELECT size FROM image WHERE subscription_id = ? AND identifier = ?')
    return images.reduce((sum, c) => sum + (((q.get(c.subscription, c.image) as { size: number | null } | undefined)?.size) ?? 0), 0)
  } finally {
    db.close()
  }
}
