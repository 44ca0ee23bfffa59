/**
 * The store's writes of a sync's list phase that leave the stored list as it is: the outcome of
 * every attempt, a mirror's validators, and the status flips of S08/S10/S17/S23. Moved from
 * apply.ts, update.ts and recheck.ts (no behaviour change), so the subscriber's SQL lives behind
 * its store modules (issue 14); the statements are prepared once per connection (issue 6: a
 * no-change sync of 200 lists runs each of them 200 times).
 *
 * Each function is one statement (atomic on its own) or runs inside its caller's transaction.
 */
import { type DB, logAction, statement } from './store.js'

/** Outcome bookkeeping (subscription_status): written after every attempt, accepted or not. */
export function recordStatus(db: DB, id: string, now: Date, outcome: { ok: boolean; code?: string; message?: string; mirrors: Record<number, string> }): void {
  const ts = now.toISOString()
  statement(
    db,
    `INSERT INTO subscription_status (subscription_id, checked_at, updated_at, last_error_code, last_error_message, mirrors)
     VALUES (@id, @ts, CASE WHEN @ok THEN @ts END, @code, @message, @mirrors)
     ON CONFLICT (subscription_id) DO UPDATE SET checked_at = @ts,
       updated_at = CASE WHEN @ok THEN @ts ELSE subscription_status.updated_at END,
       last_error_code = @code, last_error_message = @message, mirrors = @mirrors`,
  ).run({ id, ts, ok: outcome.ok ? 1 : 0, code: outcome.code ?? null, message: outcome.message ?? null, mirrors: JSON.stringify(outcome.mirrors) })
}

/** A mirror's ETag / Last-Modified (null: forget them, so its next reply is a full body). */
export function setValidators(db: DB, id: string, position: number, etag: string | null, lastModified: string | null): void {
  statement(db, 'UPDATE subscription_url SET etag = ?, last_modified = ? WHERE subscription_id = ? AND position = ?').run(etag, lastModified, id, position)
}

/** Another mirror's version was accepted: every other mirror's validators named an older one. */
export function dropOtherValidators(db: DB, id: string, acceptedPosition: number): void {
  statement(db, 'UPDATE subscription_url SET etag = NULL, last_modified = NULL WHERE subscription_id = ? AND position <> ?').run(id, acceptedPosition)
}

/**
 * S08/S17: a stored list stops being offered when it passes its dc:date:expires, or when the
 * certificate that signed it expires (a list never outlives its signature). Marks the
 * subscription expired; its images are then expired from the cache.
 */
export function markExpiredIfDue(db: DB, id: string, now: Date): boolean {
  const t = now.toISOString()
  const r = statement(db, "UPDATE subscription SET status = 'expired' WHERE id = ? AND status = 'ok' AND (list_expires <= ? OR signer_not_after <= ?)").run(id, t, t)
  if (r.changes > 0) logAction(db, now, id, 'list-expired', 'the stored list passed its dc:date:expires or its signer certificate expired')
  return r.changes > 0
}

/** Stop offering a stored list (status `expired`); true when it was offered until now. */
export function withdrawList(db: DB, id: string): boolean {
  return statement(db, "UPDATE subscription SET status = 'expired' WHERE id = ? AND status = 'ok'").run(id).changes > 0
}

/** S23: offer a withdrawn stored list again; true when it was withdrawn until now. */
export function reinstateList(db: DB, id: string): boolean {
  return statement(db, "UPDATE subscription SET status = 'ok' WHERE id = ? AND status = 'expired'").run(id).changes > 0
}

/** S10/S17: the certificate that signed the stored list is now in its CA's CRL: stop offering the list. */
export function markSignerRevoked(db: DB, id: string, now: Date): boolean {
  const changed = withdrawList(db, id)
  if (changed) logAction(db, now, id, 'signer-revoked', 'the certificate that signed the stored list is revoked')
  return changed
}

/** S23: the stored version's signature and signer replaced by the same content signed again (the caller's transaction). */
export function replaceSignature(db: DB, id: string, s: { smime: Buffer; subject: string; issuer: string; serial: string; notAfter: Date; certificate: Buffer }): void {
  statement(
    db,
    `UPDATE subscription SET smime = ?, signer_subject = ?, signer_issuer = ?, signer_serial = ?, signer_not_after = ?, signer_cert = ?, status = 'ok' WHERE id = ?`,
  ).run(s.smime, s.subject, s.issuer, s.serial, s.notAfter.toISOString(), s.certificate, id)
}
