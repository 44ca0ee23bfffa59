import type { Wanted } from './desired.js'
import type { CacheEntryRow, DB } from './store.js'

/**
 * S28 cross-list: an image identifier claimed by several subscribed lists for different bytes.
 * Handlers key images by VMCATCHER_EVENT_DC_IDENTIFIER and open cache/<identifier>, so delivering
 * both would put one list's bytes behind the other's identifier. Decision (fail closed for the
 * claimants, never for the holder):
 * - the subscription that held the identifier when the run began (it has a cache entry for it) keeps
 *   it, also across its own version changes; any other list claiming it for other bytes is refused
 *   (IDENTIFIER_CONFLICT, exit 1, charged to that list; an entry it had is expired) until the
 *   conflict is resolved; of several holders, the one subscribed first;
 * - when nobody holds it yet, the subscription made first (created_at, then insertion order) among
 *   the lists that name it (selected here or not) wins: a list added later can never take an
 *   identifier from one the site already had, even one whose image the site has not selected;
 * - lists claiming the identifier for the SAME bytes are not in conflict (AppDB VO lists reuse
 *   identifiers): they share cache/<identifier>.
 */
export interface Refused {
  claim: Wanted
  message: string
}

/** Subscriptions in the order they were made (created_at, then insertion): earlier ranks lower. */
export function subscriptionRank(db: DB): (sid: string) => number {
  const order = new Map((db.prepare('SELECT id FROM subscription ORDER BY created_at, rowid').all() as { id: string }[]).map((r, i) => [r.id, i]))
  return (sid) => order.get(sid) ?? Number.MAX_SAFE_INTEGER
}

/**
 * partial/ name of a download. The size claimed by the list subscribed first downloads to
 * partial/<sha512>; another size claimed for the same sha512 (S28: one of them lies) to
 * partial/<sha512>.<size>, so a lie can never truncate or spoil the resumable download of the truth.
 */
export function partialNames(db: DB, ws: Wanted[]): Map<number, string> {
  const rank = subscriptionRank(db)
  const first = [...ws].sort((a, b) => rank(a.subscriptionId) - rank(b.subscriptionId))[0]
  const out = new Map<number, string>()
  for (const w of ws) out.set(w.size, w.size === first?.size ? w.sha512 : `${w.sha512}.${w.size}`)
  return out
}

export function claimsRefused(db: DB, wanted: Map<string, Wanted>, holdersAtStart: CacheEntryRow[]): Refused[] {
  const byId = new Map<string, Wanted[]>()
  for (const w of wanted.values()) byId.set(w.identifier, [...(byId.get(w.identifier) ?? []), w])
  const rank = subscriptionRank(db)
  // every list that names the identifier claims it, selected here or not
  const listed = db.prepare('SELECT subscription_id, sha512 FROM image WHERE identifier = ? AND sha512 IS NOT NULL')
  const refused: Refused[] = []
  for (const [identifier, claims] of byId) {
    const rows = listed.all(identifier) as { subscription_id: string; sha512: string }[]
    const claimOf = new Map<string, string>(rows.map((r) => [r.subscription_id, r.sha512]))
    for (const c of claims) claimOf.set(c.subscriptionId, c.sha512)
    const shaOf = new Map(claimOf)
    for (const h of holdersAtStart) if (h.identifier === identifier && !shaOf.has(h.subscription_id)) shaOf.set(h.subscription_id, h.sha512)
    if (new Set(shaOf.values()).size <= 1) continue
    // the holder keeps it (while its list still names it); else the list subscribed first. Among
    // several holders (lists that shared the same bytes until one changed them) the one subscribed
    // first wins: a list that joined with the same bytes cannot swap them in later.
    const holders = new Set(holdersAtStart.filter((h) => h.identifier === identifier).map((h) => h.subscription_id))
    const byRank = [...claimOf.keys()].sort((a, b) => rank(a) - rank(b))
    const owner = byRank.find((sid) => holders.has(sid)) ?? byRank[0]!
    const okSubs = new Set([owner])
    const okSha = new Set([claimOf.get(owner)])
    const owners = owner
    for (const c of claims) {
      if (okSubs.has(c.subscriptionId) || okSha.has(c.sha512)) continue
      refused.push({
        claim: c,
        message:
          `image ${identifier} of list ${c.subscriptionId} (sha512 ${c.sha512.slice(0, 16)}…) claims an identifier that list ${owners} uses for other bytes; ` +
          `refused so that no list's image is ever delivered under another list's identifier (attack S28). If this list is the right one, ` +
          `remove the image from the other list or unsubscribe it (vmgit sub remove ${owner})`,
      })
    }
  }
  return refused
}
