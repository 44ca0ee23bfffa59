import type { DB, CacheEntryRow } from './store.js'

/**
 * Which images the cache must hold now: selected, in the current verified list of a subscription
 * that is current ('ok', not expired) and whose endorser is still trusted, not past the image's own
 * dc:date:expires, and with usable metadata. Everything else is expired from the cache.
 */
export interface Wanted {
  subscriptionId: string
  identifier: string
  sha512: string
  size: number
  uri: string
  image: Record<string, string | number>
  vo: string | null
}

export interface Unusable {
  subscriptionId: string
  identifier: string
  problem: string
}

interface Row {
  sid: string
  identifier: string
  sha512: string | null
  size: number | null
  uri: string | null
  json: string
  problem: string | null
  expires: string | null
  vo: string | null
}

export const entryKey = (sid: string, identifier: string): string => `${sid}\u0000${identifier}`

export function wantedImages(db: DB, now: Date): { wanted: Map<string, Wanted>; unusable: Unusable[] } {
  const rows = db
    .prepare(
      `SELECT i.subscription_id AS sid, i.identifier, i.sha512, i.size, i.uri, i.json, i.problem, i.expires, s.vo
       FROM selection sel
       JOIN image i ON i.subscription_id = sel.subscription_id AND i.identifier = sel.identifier
       JOIN subscription s ON s.id = i.subscription_id
       WHERE s.status = 'ok' AND EXISTS (SELECT 1 FROM endorser e WHERE e.name = s.endorser)
       ORDER BY i.subscription_id, i.identifier`,
    )
    .all() as Row[]
  const wanted = new Map<string, Wanted>()
  const unusable: Unusable[] = []
  for (const r of rows) {
    // per-image expiry (AppDB): the image expires on its own date even while its list is valid
    if (r.expires !== null && new Date(r.expires).getTime() <= now.getTime()) continue
    if (r.problem !== null || r.sha512 === null || r.size === null || r.uri === null) {
      unusable.push({ subscriptionId: r.sid, identifier: r.identifier, problem: r.problem ?? 'incomplete metadata' })
      continue
    }
    wanted.set(entryKey(r.sid, r.identifier), {
      subscriptionId: r.sid,
      identifier: r.identifier,
      sha512: r.sha512,
      size: r.size,
      uri: r.uri,
      image: JSON.parse(r.json) as Record<string, string | number>,
      vo: r.vo,
    })
  }
  return { wanted, unusable }
}

/** Why a cached image is no longer wanted, in words for the change line. */
export function expiryReason(db: DB, e: CacheEntryRow, now: Date, wanted: Wanted | undefined): string {
  if (wanted && wanted.sha512 !== e.sha512) return 'replaced by a new version'
  const sub = db.prepare('SELECT status, endorser FROM subscription WHERE id = ?').get(e.subscription_id) as { status: string; endorser: string } | undefined
  if (!sub) return 'subscription removed'
  if (sub.status === 'expired') return 'its list expired'
  if (!db.prepare('SELECT 1 FROM endorser WHERE name = ?').get(sub.endorser)) return 'endorser no longer trusted'
  const img = db.prepare('SELECT expires FROM image WHERE subscription_id = ? AND identifier = ?').get(e.subscription_id, e.identifier) as { expires: string | null } | undefined
  if (!img) return 'removed from the list'
  if (img.expires !== null && new Date(img.expires).getTime() <= now.getTime()) return 'image expired (dc:date:expires)'
  if (!db.prepare('SELECT 1 FROM selection WHERE subscription_id = ? AND identifier = ?').get(e.subscription_id, e.identifier)) return 'deselected'
  return 'no longer usable'
}
