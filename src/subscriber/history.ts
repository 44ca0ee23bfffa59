import { compareVersions } from '../imagelist/version.js'
import type { TrustStore } from '../smime/trust.js'
import type { DB } from './store.js'
import { isRevoked } from './verify.js'

/**
 * Attack S24 (rollback after revocation). Every accepted list version is recorded with the
 * certificate that signed it. When the certificate that signed the STORED version is revoked, S10
 * lets another credential replace it even with a lower hv:version (the revoked key may have
 * fast-forwarded it). That recovery must still never go back in time: the candidate must be newer
 * than the highest version accepted from certificates that still stand (the "floor"), and not
 * created before that version nor before the stored list.
 */
export interface HistoryRow {
  version: string
  list_created: string
  content_sha512: string
  signer_issuer: string
  signer_serial: string
  signer_cert: Buffer
}

export interface RecoveryFloor {
  version: string
  created: Date
}

export function recordHistory(db: DB, id: string, v: { version: string; created: Date; contentSha512: string; issuer: string; serial: string; certificate: Buffer }, now: Date): void {
  db.prepare(
    `INSERT OR IGNORE INTO list_history (subscription_id, version, list_created, content_sha512, signer_issuer, signer_serial, signer_cert, accepted_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(id, v.version, v.created.toISOString(), v.contentSha512, v.issuer, v.serial, v.certificate, now.toISOString())
}

/** `vmgit sub reset`: the operator vouched out of band; the recorded versions no longer bind. */
export function forgetHistory(db: DB, id: string): void {
  db.prepare('DELETE FROM list_history WHERE subscription_id = ?').run(id)
}

/**
 * The highest version (and the latest creation date) accepted for this subscription from a
 * certificate that is not in its CA's CRL now; null when every recorded signer is revoked.
 */
export async function recoveryFloor(db: DB, id: string, trust: TrustStore): Promise<RecoveryFloor | null> {
  const rows = db.prepare('SELECT version, list_created, content_sha512, signer_issuer, signer_serial, signer_cert FROM list_history WHERE subscription_id = ?').all(id) as HistoryRow[]
  const revoked = new Map<string, boolean>()
  let floor: RecoveryFloor | null = null
  for (const r of rows) {
    const key = `${r.signer_issuer}\u0000${r.signer_serial}`
    if (!revoked.has(key)) revoked.set(key, await isRevoked(r.signer_cert, trust))
    if (revoked.get(key)) continue
    const created = new Date(r.list_created)
    if (!floor) floor = { version: r.version, created }
    else {
      if (compareVersions(r.version, floor.version) > 0) floor.version = r.version
      if (created.getTime() > floor.created.getTime()) floor.created = created
    }
  }
  return floor
}
