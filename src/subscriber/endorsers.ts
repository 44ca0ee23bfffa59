import { usageError } from '../util/errors.js'
import { type DB, type EndorserRow, logAction } from './store.js'

/**
 * The endorsers this host accepts: named sets of credentials (certificate subject + issuer DN, in
 * OpenSSL one-line form). A subscription is bound to one endorser name; any credential of that
 * name may sign its lists, so a key rotation is one more `vmgit sub trust` under the same name.
 */
const DN = /^\/[A-Za-z0-9.]+=/

export function checkDn(dn: string, flag: string): string {
  if (!DN.test(dn)) throw usageError('BAD_DN', `--${flag} ${JSON.stringify(dn)} is not an OpenSSL one-line DN like /DC=org/DC=example/CN=Signer (openssl x509 -noout -subject -nameopt compat prints it)`)
  return dn
}

/** Default name for a credential: its CN, made safe for a command line. */
export function defaultEndorserName(subject: string): string {
  const cn = /\/CN=([^/]+)/.exec(subject)?.[1] ?? /=([^=/]+)$/.exec(subject)?.[1] ?? subject
  const n = cn.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64)
  return n === '' ? 'endorser' : n
}

export function trustEndorser(db: DB, e: { name?: string; subject: string; issuer: string }, now: Date): { name: string; added: boolean } {
  checkDn(e.subject, 'subject')
  checkDn(e.issuer, 'issuer')
  const name = e.name ?? defaultEndorserName(e.subject)
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw usageError('BAD_NAME', `endorser name ${JSON.stringify(name)} must be 1-64 of A-Z a-z 0-9 . _ -`)
  let added = false
  db.transaction(() => {
    const r = db.prepare('INSERT OR IGNORE INTO endorser (name, subject, issuer, created_at) VALUES (?, ?, ?, ?)').run(name, e.subject, e.issuer, now.toISOString())
    added = r.changes > 0
    if (added) logAction(db, now, null, 'trust', `${name}: ${e.subject} (issuer ${e.issuer})`)
  })()
  return { name, added }
}

/** Remove every credential of NAME (or only one, given subject/issuer). Bound subscriptions become unauthorised. */
export function untrustEndorser(db: DB, name: string, only: { subject?: string; issuer?: string }, now: Date): { removed: number; subscriptions: string[] } {
  let removed = 0
  let subs: string[] = []
  db.transaction(() => {
    const r = db.prepare('DELETE FROM endorser WHERE name = ? AND (? IS NULL OR subject = ?) AND (? IS NULL OR issuer = ?)').run(name, only.subject ?? null, only.subject ?? null, only.issuer ?? null, only.issuer ?? null)
    removed = r.changes
    if (removed === 0) throw usageError('NO_SUCH_ENDORSER', `no trusted endorser ${JSON.stringify(name)}${only.subject ? ` with subject ${only.subject}` : ''}; \`vmgit sub trust list\` shows them`)
    logAction(db, now, null, 'untrust', `${name}${only.subject ? `: ${only.subject}` : ''} (${removed} credential(s))`)
    const still = db.prepare('SELECT 1 FROM endorser WHERE name = ?').get(name)
    if (!still) subs = (db.prepare('SELECT id FROM subscription WHERE endorser = ? ORDER BY id').all(name) as { id: string }[]).map((s) => s.id)
  })()
  return { removed, subscriptions: subs }
}

export interface EndorserView {
  name: string
  subject: string
  issuer: string
  created: string
  subscriptions: string[]
}

export function listEndorsers(db: DB): EndorserView[] {
  const rows = db.prepare('SELECT * FROM endorser ORDER BY name, subject, issuer').all() as EndorserRow[]
  const subs = db.prepare('SELECT id FROM subscription WHERE endorser = ? ORDER BY id')
  return rows.map((r) => ({ name: r.name, subject: r.subject, issuer: r.issuer, created: r.created_at, subscriptions: (subs.all(r.name) as { id: string }[]).map((s) => s.id) }))
}

/** The endorser name a signer belongs to (the first, alphabetically), if any. */
export function endorserOf(db: DB, subject: string, issuer: string): string | undefined {
  const r = db.prepare('SELECT name FROM endorser WHERE subject = ? AND issuer = ? ORDER BY name LIMIT 1').get(subject, issuer) as { name: string } | undefined
  return r?.name
}
