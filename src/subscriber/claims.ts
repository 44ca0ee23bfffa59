import type { Wanted } from './desired.js'
import type { CacheEntryRow, DB } from './store.js'

/**
 * S28 cross-list: an image identifier claimed by several subscribed lists for different bytes.
 * Handlers key images by VMCATCHER_EVENT_DC_IDENTIFIER and open cache/<identifier>, so delivering
 * both would put one list's bytes behind the other's identifier. Decision (fail closed for the
 * claimants, never for the holder):
 * - the subscription that held the identifier when the run began (it has a cache entry for it) keeps
 *   it, also across its own version changes; any other list claiming it for other bytes is refused
 *   (IDENTIFIER_CONFLICT, exit 1, charged to that list) until the conflict is resolved;
 * - when nobody holds it yet, the subscription made first (created_at, then insertion order) wins:
 *   a list added later can never take an identifier from one the site already had;
 * - lists claiming the identifier for the SAME bytes are not in conflict (AppDB VO lists reuse
 *   identifiers): they share cache/<identifier>.
 */
export interface Refused {
  claim: Wanted
  message: string
}

export function claimsRefused(db: DB, wanted: Map<string, Wanted>, holdersAtStart: CacheEntryRow[]): Refused[] {
  const byId = new Map<string, Wanted[]>()
  for (const w of wanted.values()) byId.set(w.identifier, [...(byId.get(w.identifier) ?? []), w])
  const order = new Map((db.prepare('SELECT id FROM subscription ORDER BY created_at, rowid').all() as { id: string }[]).map((r, i) => [r.id, i]))
  const rank = (sid: string): number => order.get(sid) ?? Number.MAX_SAFE_INTEGER
  const refused: Refused[] = []
  for (const [identifier, claims] of byId) {
    const held = holdersAtStart.filter((h) => h.identifier === identifier)
    const shaOf = new Map<string, string>()
    for (const h of held) shaOf.set(h.subscription_id, h.sha512)
    for (const c of claims) shaOf.set(c.subscriptionId, c.sha512)
    if (new Set(shaOf.values()).size <= 1) continue
    const holderSubs = new Set(held.map((h) => h.subscription_id))
    let okSubs = new Set(claims.filter((c) => holderSubs.has(c.subscriptionId)).map((c) => c.subscriptionId))
    if (okSubs.size === 0) {
      const first = [...claims].sort((a, b) => rank(a.subscriptionId) - rank(b.subscriptionId))[0]!
      okSubs = new Set([first.subscriptionId])
    }
    const okClaims = claims.filter((c) => okSubs.has(c.subscriptionId))
    const okSha = new Set(okClaims.map((c) => c.sha512))
    const owners = [...okSubs].join(', ')
    for (const c of claims) {
      if (okSubs.has(c.subscriptionId) || okSha.has(c.sha512)) continue
      refused.push({
        claim: c,
        message:
          `image ${identifier} of list ${c.subscriptionId} (sha512 ${c.sha512.slice(0, 16)}…) claims an identifier that list ${owners} uses for other bytes; ` +
          `refused so that no list's image is ever delivered under another list's identifier (attack S28). If this list is the right one, ` +
          `deselect the image in the other: vmgit sub deselect ${identifier} --subscription ${owners.split(', ')[0]}`,
      })
    }
  }
  return refused
}
