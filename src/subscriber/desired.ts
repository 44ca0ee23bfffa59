import type { DB, CacheEntryRow } from './store.js'
import { endorserTrusted, imageExpiresOf, isSelected, selectedImageRows, subscriptionStatusOf } from './store-cache.js'

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

export const entryKey = (sid: string, identifier: string): string => `${sid}\u0000${identifier}`

export function wantedImages(db: DB, now: Date): { wanted: Map<string, Wanted>; unusable: Unusable[] } {
  const rows = selectedImageRows(db)
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
  const sub = subscriptionStatusOf(db, e.subscription_id)
  if (!sub) return 'subscription removed'
  if (sub.status === 'expired') return 'its list expired'
  if (!endorserTrusted(db, sub.endorser)) return 'endorser no longer trusted'
  const img = imageExpiresOf(db, e.subscription_id, e.identifier)
  if (!img) return 'removed from the list'
  if (img.expires !== null && new Date(img.expires).getTime() <= now.getTime()) return 'image expired (dc:date:expires)'
  if (!isSelected(db, e.subscription_id, e.identifier)) return 'deselected'
  return 'no longer usable'
}
