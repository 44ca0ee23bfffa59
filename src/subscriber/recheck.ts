import { isVmgitError, VmgitError } from '../util/errors.js'
import { decide } from './decide.js'
import { recordHistory } from './history.js'
import type { Problem, Report } from './report.js'
import type { TrustStore } from '../smime/trust.js'
import { credentialsOf, type DB, getImages, getSubscription, getSubscriptionMeta, getUrls, logAction, type SubscriptionMeta } from './store.js'
import { markExpiredIfDue, markSignerRevoked, reinstateList, replaceSignature, setValidators, withdrawList } from './store-sync.js'
import { isRevoked, type VerifiedList, verifyListBytes } from './verify.js'

/**
 * Attack S23 (stale trust): the STORED list is re-verified on every run that did not replace it —
 * a 304, unchanged bytes, or only failing mirrors — against the trust store and credentials of
 * this run at this run's `now`: chain to the CA directory as it is now, CRLs as they are now
 * (missing or expired CRLs fail as they would for a new list), the signer still a credential of the
 * subscription's endorser, every list rule of decide.ts. A stored list that fails stops being offered
 * exactly like an expired one (status `expired`: images not offered, expired from the cache), and
 * the run exits 1 with STORED_LIST_UNTRUSTED naming the cause.
 *
 * Recovery: a newer verified list, as ever; or, with CRL checks on, the same stored list passing
 * every check again (the CA put back, fetch-crl caught up): that is exactly what accepting those
 * bytes afresh would require, so the subscription is offered again (logged).
 */
/** What a re-check needs of the sync run (a subset of update.ts's UpdateContext). */
export interface RecheckContext {
  db: DB
  trust: TrustStore
  now: Date
  crlCheck: boolean
  report: Report
}

/** Returns the problem reported for the stored list, if any (for the subscription's status record). */
export async function recheckStored(ctx: RecheckContext, id: string, acceptedThisRun: boolean): Promise<Problem | undefined> {
  const { db, report, now } = ctx
  const fresh = getSubscriptionMeta(db, id)
  if (!fresh) return undefined
  // S08/S17: a stored list that outlived its expiry, or its signer certificate, expires
  if (markExpiredIfDue(db, id, now)) {
    const when = fresh.signer_not_after < fresh.list_expires ? `its signer certificate expired on ${fresh.signer_not_after}` : `it expired on ${fresh.list_expires}`
    report.change({ kind: 'list-expired', subscription: id, message: `list ${id}: ${when}; its images are no longer offered` })
    return reportExpired(ctx, id)
  }
  // a CRL the CA signed that lists the stored signer is honoured even when CRLs are not required
  // (--no-crl-check, remembered per subscription, tolerates a MISSING CRL, never a revocation)
  if (fresh.status === 'ok' && (await isRevoked(fresh.signer_cert, ctx.trust)) && markSignerRevoked(db, id, now)) {
    report.change({ kind: 'list-expired', subscription: id, message: `list ${id}: the certificate that signed it (serial ${fresh.signer_serial}) is revoked; its images are no longer offered` })
    return reportExpired(ctx, id)
  }
  // a list accepted in this run was verified against this very trust store at this very `now`
  if (acceptedThisRun) return undefined
  const cause = await storedListProblem(ctx, fresh)
  if (fresh.status === 'ok') {
    if (!cause) return undefined
    if (markUntrusted(db, id, now, cause)) {
      report.change({ kind: 'list-expired', subscription: id, message: `list ${id}: the stored version ${fresh.version} no longer verifies against the current trust store; its images are no longer offered` })
    }
    return reportUntrusted(ctx, fresh, cause)
  }
  // status 'expired': offered again only if the stored list passes everything, with CRLs checked
  const datesOk = fresh.list_expires > now.toISOString() && fresh.signer_not_after > now.toISOString()
  if (!datesOk || cause?.code === 'SIGNER_REVOKED') return reportExpired(ctx, id)
  if (cause) return reportUntrusted(ctx, fresh, cause)
  if (!ctx.crlCheck || fresh.version === '') {
    const p: Problem = { code: 'STORED_LIST_UNTRUSTED', severity: 'rejected', subscription: id, message: `list ${id}: the stored version ${fresh.version} was withdrawn by an earlier run and is offered again only after it verifies with CRL checks on (or when a newer verified list arrives)` }
    ctx.report.problem(p)
    return p
  }
  if (reinstateList(db, id)) {
    logAction(db, now, id, 'stored-list-trusted-again', `stored version ${fresh.version} verifies again against the trust store`)
    report.change({ kind: 'list-updated', subscription: id, message: `list ${id}: the stored version ${fresh.version} verifies again against the trust store; its images are offered again` })
  }
  return undefined
}

/** Why the stored list would not be accepted today (null: it would). */
export async function storedListProblem(ctx: RecheckContext, meta: SubscriptionMeta): Promise<VmgitError | null> {
  const row = getSubscription(ctx.db, meta.id)
  if (!row || row.smime.length === 0) return null
  try {
    const v = await verifyListBytes(row.smime, { trust: ctx.trust, now: ctx.now, crlCheck: ctx.crlCheck })
    // the same rules as a fresh copy of these bytes: authorised signer, endorser claim, identifier, dates
    decide({
      list: v.list,
      content: v.content,
      contentSha512: v.contentSha512,
      signer: v.signer,
      stored: meta,
      storedImageIds: getImages(ctx.db, meta.id).map((i) => i.identifier),
      credentials: credentialsOf(ctx.db, meta.endorser, meta.id), // S20: including credentials valid for this subscription only
      endorserCheck: meta.endorser_check,
      newImages: meta.new_images,
      storedSignerRevoked: false,
      fetchedFrom: getUrls(ctx.db, meta.id)[0]?.url ?? '',
      now: ctx.now,
    })
    return null
  } catch (e) {
    if (isVmgitError(e)) return e
    return new VmgitError('INTERNAL', (e as Error)?.message ?? String(e))
  }
}

function markUntrusted(db: DB, id: string, now: Date, cause: VmgitError): boolean {
  const changed = withdrawList(db, id)
  if (changed) logAction(db, now, id, 'stored-list-untrusted', `the stored list no longer verifies: ${cause.code}: ${cause.message}`)
  return changed
}

function reportUntrusted(ctx: RecheckContext, meta: SubscriptionMeta, cause: VmgitError): Problem {
  const p: Problem = {
    code: 'STORED_LIST_UNTRUSTED',
    severity: 'rejected',
    subscription: meta.id,
    message: `list ${meta.id}: the stored version ${meta.version} no longer passes verification against the current trust store [${cause.code}: ${cause.message}]; its images are not offered. Restore the CA or CRL in the trust directory (fetch-crl) or trust the signer again; a newer list signed by a trusted credential also recovers it`,
  }
  ctx.report.problem(p)
  return p
}

function reportExpired(ctx: RecheckContext, id: string): Problem | undefined {
  const fresh = getSubscriptionMeta(ctx.db, id)
  if (fresh?.status !== 'expired') return undefined
  const p: Problem = { code: 'LIST_EXPIRED', severity: 'rejected', subscription: id, message: `list ${id}: the stored version ${fresh.version} is expired or its signer is no longer valid, and no newer verified version was found; its images are not offered` }
  ctx.report.problem(p)
  return p
}

/**
 * The stored list no longer verifies, but a mirror serves the very same signed content with a
 * signature that verifies now (the publisher re-signed it with another trusted credential, e.g.
 * after its CA was withdrawn): adopt that signature instead of withdrawing an endorsement that is
 * valid today. Same content, so no rollback is possible; one transaction, logged.
 */
export function adoptSignature(db: DB, id: string, r: { smime: Buffer; v: VerifiedList; position: number; etag?: string; lastModified?: string }, now: Date): void {
  const { v } = r
  db.transaction(() => {
    const meta = getSubscriptionMeta(db, id)
    if (!meta || meta.content_sha512 !== v.contentSha512) throw new VmgitError('INTERNAL', `subscription ${id} changed while its list was being signed again`)
    replaceSignature(db, id, { smime: r.smime, subject: v.signer.subject, issuer: v.signer.issuer, serial: v.signer.serial, notAfter: v.signer.notAfter, certificate: v.certificate })
    setValidators(db, id, r.position, r.etag ?? null, r.lastModified ?? null)
    recordHistory(db, id, { version: meta.version, created: new Date(meta.list_created), contentSha512: v.contentSha512, issuer: v.signer.issuer, serial: v.signer.serial, certificate: v.certificate }, now)
    logAction(db, now, id, 'list-signed-again', `stored version ${meta.version} no longer verified (signer serial ${meta.signer_serial}); the same content signed by ${v.signer.subject} (serial ${v.signer.serial}) replaces its signature`)
  }).immediate()
}
