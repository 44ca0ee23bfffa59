/**
 * The store's queries about what the verified cache must hold (src/subscriber/desired.ts decides
 * from them; sync and the Glance handler both ask). Moved from desired.ts (no behaviour change),
 * so the subscriber's SQL lives behind its store modules (issue 14).
 */
import type { DB } from './store.js'

/** One selected image of a current subscription whose endorser is still trusted. */
export interface SelectedImageRow {
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

/** Selected images of subscriptions with status 'ok' whose endorser is still in the endorser table. */
export function selectedImageRows(db: DB): SelectedImageRow[] {
  return db
    .prepare(
      `SELECT i.subscription_id AS sid, i.identifier, i.sha512, i.size, i.uri, i.json, i.problem, i.expires, s.vo
       FROM selection sel
       JOIN image i ON i.subscription_id = sel.subscription_id AND i.identifier = sel.identifier
       JOIN subscription s ON s.id = i.subscription_id
       WHERE s.status = 'ok' AND EXISTS (SELECT 1 FROM endorser e WHERE e.name = s.endorser)
       ORDER BY i.subscription_id, i.identifier`,
    )
    .all() as SelectedImageRow[]
}

export function subscriptionStatusOf(db: DB, id: string): { status: string; endorser: string } | undefined {
  return db.prepare('SELECT status, endorser FROM subscription WHERE id = ?').get(id) as { status: string; endorser: string } | undefined
}

export function endorserTrusted(db: DB, name: string): boolean {
  return !!db.prepare('SELECT 1 FROM endorser WHERE name = ?').get(name)
}

export function imageExpiresOf(db: DB, subscriptionId: string, identifier: string): { expires: string | null } | undefined {
  return db.prepare('SELECT expires FROM image WHERE subscription_id = ? AND identifier = ?').get(subscriptionId, identifier) as { expires: string | null } | undefined
}

export function isSelected(db: DB, subscriptionId: string, identifier: string): boolean {
  return !!db.prepare('SELECT 1 FROM selection WHERE subscription_id = ? AND identifier = ?').get(subscriptionId, identifier)
}
