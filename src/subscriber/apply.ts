import { VmgitError } from '../util/errors.js'
import type { Candidate, Signer } from './decide.js'
import { recordHistory } from './history.js'
import { type DB, getSubscription, logAction } from './store.js'
import { recordStatus, setValidators } from './store-sync.js'

/**
 * Writes an accepted list version. Everything — the list, its images, new selections, the mirror's
 * ETag, the log line — goes into ONE SQLite transaction (attack S15): a crash leaves either the old
 * version or the new one, never a mix.
 */
export interface AcceptedVersion {
  candidate: Candidate
  smime: Buffer
  content: Buffer
  contentSha512: string
  signer: Signer
  /** the signer certificate (DER) */
  certificate: Buffer
  newImages: string[]
  recovered: boolean
}

export interface NewSubscription {
  endorser: string
  endorserCheck: 'strict' | 'signer'
  newImages: 'refuse' | 'accept' | 'subscribe'
  /** false: added with --no-crl-check; remembered, so later syncs verify it the same way */
  crlCheck: boolean
  urls: { url: string; username?: string; password?: string }[]
}

export interface MirrorState {
  position: number
  etag?: string
  lastModified?: string
}

function writeVersion(db: DB, id: string, v: AcceptedVersion, now: Date): void {
  const c = v.candidate
  const ts = now.toISOString()
  db.prepare(
    `UPDATE subscription SET version = ?, list_created = ?, list_expires = ?, imported_at = ?, title = ?, description = ?,
       list_uri = ?, vo = ?, smime = ?, content = ?, content_sha512 = ?, signer_subject = ?, signer_issuer = ?,
       signer_serial = ?, signer_not_after = ?, signer_cert = ?, status = 'ok'
     WHERE id = ?`,
  ).run(
    c.version, c.created.toISOString(), c.expires.toISOString(), ts, c.title, c.description, c.uri, c.vo,
    v.smime, v.content, v.contentSha512, v.signer.subject, v.signer.issuer, v.signer.serial, v.signer.notAfter.toISOString(), v.certificate, id,
  )
  // S24: remembered per signer, so that a recovery after a revocation never goes below it
  recordHistory(db, id, { version: c.version, created: c.created, contentSha512: v.contentSha512, issuer: v.signer.issuer, serial: v.signer.serial, certificate: v.certificate }, now)
  const keep = new Set(c.images.map((i) => i.identifier))
  const existing = db.prepare('SELECT identifier FROM image WHERE subscription_id = ?').all(id) as { identifier: string }[]
  const del = db.prepare('DELETE FROM image WHERE subscription_id = ? AND identifier = ?')
  for (const e of existing) if (!keep.has(e.identifier)) del.run(id, e.identifier)
  const upsert = db.prepare(
    `INSERT INTO image (subscription_id, identifier, sha512, size, uri, version, title, expires, problem, json, first_seen)
     VALUES (@sid, @identifier, @sha512, @size, @uri, @version, @title, @expires, @problem, @json, @ts)
     ON CONFLICT (subscription_id, identifier) DO UPDATE SET sha512 = excluded.sha512, size = excluded.size, uri = excluded.uri,
       version = excluded.version, title = excluded.title, expires = excluded.expires, problem = excluded.problem, json = excluded.json`,
  )
  for (const im of c.images) {
    upsert.run({ sid: id, identifier: im.identifier, sha512: im.sha512, size: im.size, uri: im.uri, version: im.version, title: im.title, expires: im.expires, problem: im.problem, json: JSON.stringify(im.json), ts })
  }
}

function selectAuto(db: DB, id: string, ids: string[], now: Date): void {
  const ins = db.prepare("INSERT OR IGNORE INTO selection (subscription_id, identifier, via, selected_at) VALUES (?, ?, 'auto', ?)")
  for (const i of ids) ins.run(id, i, now.toISOString())
}

function saveMirror(db: DB, id: string, m: MirrorState | undefined): void {
  if (m) setValidators(db, id, m.position, m.etag ?? null, m.lastModified ?? null)
}

/** `vmgit sync`: a newer verified version replaces the stored one. */
export function applyUpdate(db: DB, id: string, v: AcceptedVersion, mirror: MirrorState | undefined, now: Date): void {
  db.transaction(() => {
    const sub = getSubscription(db, id)
    if (!sub) throw new VmgitError('SUBSCRIPTION_REMOVED', `subscription ${id} was removed during the sync`)
    writeVersion(db, id, v, now)
    if (sub.new_images === 'subscribe') selectAuto(db, id, v.newImages, now)
    saveMirror(db, id, mirror)
    logAction(db, now, id, 'list-accepted', `version ${sub.version} -> ${v.candidate.version} (content sha512 ${v.contentSha512.slice(0, 16)}…, signer serial ${v.signer.serial})`)
    if (v.recovered) logAction(db, now, id, 'fast-forward-recovery', `stored version ${sub.version} was signed by revoked serial ${sub.signer_serial}; replaced by ${v.candidate.version}`)
  }).immediate()
}

/** `vmgit sub add`: the first verified version creates the subscription. */
export function applyNew(db: DB, v: AcceptedVersion, s: NewSubscription, mirror: MirrorState | undefined, now: Date): void {
  const c = v.candidate
  db.transaction(() => {
    if (getSubscription(db, c.identifier)) {
      throw new VmgitError('ALREADY_SUBSCRIBED', `list ${c.identifier} is already subscribed; \`vmgit sub show ${c.identifier}\` shows it`)
    }
    const ts = now.toISOString()
    db.prepare(
      `INSERT INTO subscription (id, endorser, endorser_check, new_images, crl_check, status, created_at, version, list_created, list_expires,
         imported_at, smime, content, content_sha512, signer_subject, signer_issuer, signer_serial, signer_not_after, signer_cert)
       VALUES (?, ?, ?, ?, ?, 'ok', ?, '', '', '', '', x'', x'', '', '', '', '', '', x'')`,
    ).run(c.identifier, s.endorser, s.endorserCheck, s.newImages, s.crlCheck ? 1 : 0, ts)
    const insUrl = db.prepare('INSERT INTO subscription_url (subscription_id, position, url, username, password) VALUES (?, ?, ?, ?, ?)')
    s.urls.forEach((u, i) => insUrl.run(c.identifier, i, u.url, u.username ?? null, u.password ?? null))
    writeVersion(db, c.identifier, v, now)
    if (s.newImages === 'subscribe') selectAuto(db, c.identifier, c.images.map((i) => i.identifier), now)
    saveMirror(db, c.identifier, mirror)
    recordStatus(db, c.identifier, now, { ok: true, mirrors: mirror ? { [mirror.position]: 'ACCEPTED' } : {} })
    logAction(db, now, c.identifier, 'subscribed', `version ${c.version} from ${s.urls.map((u) => u.url).join(' ')} (endorser ${s.endorser}, signer ${v.signer.subject})`)
  }).immediate()
}
