import { isPlainName, onelineDNFromDer, sameDer } from '../smime/dn.js'
import { usageError } from '../util/errors.js'
import { type DB, type EndorserRow, credentialsOf, logAction } from './store.js'

/**
 * The endorsers this host accepts: named sets of credentials (certificate subject + issuer). A
 * subscription is bound to one endorser name; any credential of that name valid for it may sign
 * its lists, so a key rotation is one more `vmgit sub trust --name NAME` under the same name.
 *
 * S20, names as data: a credential holds the DER of the subject and issuer Names (from the
 * certificate: `sub trust --cert`, `sub add --auto-endorse`) and matches a signer only when both
 * encodings are byte-for-byte equal. The OpenSSL one-line form is kept for display and for hv:dn /
 * hv:ca. A credential given only as one-line strings (`sub trust --subject --issuer`, or made
 * before schema 2) matches a signer only when the strings equal the signer's names as OpenSSL 3
 * prints them AND those names cannot be confused with another name's (dn.ts isPlainName:
 * single-valued RDNs, plain string types, no backslash in a value).
 *
 * S20, no silent joins: a name vmgit makes up (the subject's CN) never receives a credential when an
 * endorser or a subscription of that name (case-insensitively) already exists; adding a credential
 * to an existing endorser takes an explicit --name. `--auto-endorse` credentials are valid for
 * their own subscription only.
 */
const DN = /^\/[A-Za-z0-9.]+=/
const NAME = /^[A-Za-z0-9._-]{1,64}$/

export function checkDn(dn: string, flag: string): string {
  if (!DN.test(dn)) throw usageError('BAD_DN', `--${flag} ${JSON.stringify(dn)} is not an OpenSSL one-line DN like /DC=org/DC=example/CN=Signer (openssl x509 -noout -subject -nameopt compat prints it)`)
  return dn
}

/**
 * S20: could a one-line string denote a name a string-only credential can identify? An unescaped
 * `+` joins a multi-valued RDN, and a backslash that is not `\/`, `\+` or `\xHH` is a backslash
 * inside a value: neither can be matched by its string alone.
 */
function checkPlainDn(dn: string, flag: string): void {
  const rest = dn.replace(/\\(?:[/+]|x[0-9A-F]{2})/g, '')
  if (rest.includes('+') || rest.includes('\\')) {
    throw usageError('DN_NEEDS_CERTIFICATE', `--${flag} ${JSON.stringify(dn)} has a multi-valued RDN or a backslash inside a value; its one-line form can print the same as another name's, so it can only be trusted from the certificate itself: vmgit sub trust --cert FILE`)
  }
}

/** Default name for a credential: its CN, made safe for a command line. */
export function defaultEndorserName(subject: string): string {
  const cn = /\/CN=((?:\\.|[^/\\])+)/.exec(subject)?.[1] ?? /=([^=/]+)$/.exec(subject)?.[1] ?? subject
  const n = cn.replace(/\\x[0-9A-F]{2}|\\/g, '-').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 56)
  return n === '' ? 'endorser' : n
}

/** Is `name` (case-insensitively) an endorser's or a subscription's endorser name already? */
export function endorserNameTaken(db: DB, name: string): boolean {
  return db.prepare('SELECT 1 FROM endorser WHERE name = ? COLLATE NOCASE UNION ALL SELECT 1 FROM subscription WHERE endorser = ? COLLATE NOCASE LIMIT 1').get(name, name) !== undefined
}

/** S20: a made-up endorser name that no existing endorser or subscription uses: base, base-2, base-3, … */
export function uniqueEndorserName(db: DB, base: string): string {
  for (let i = 1; ; i++) {
    const n = i === 1 ? base : `${base}-${i}`
    if (!endorserNameTaken(db, n)) return n
  }
}

/** The signer's names as DER (what a credential is compared with). */
export interface SignerNames {
  subjectDer: Uint8Array
  issuerDer: Uint8Array
}

/** S20: does credential `c` name this signer? (DER equality; string-only credentials: see the module comment) */
export function credentialMatches(c: EndorserRow, s: SignerNames): boolean {
  if (c.subject_der && c.issuer_der) return sameDer(c.subject_der, s.subjectDer) && sameDer(c.issuer_der, s.issuerDer)
  return isPlainName(s.subjectDer) && isPlainName(s.issuerDer) &&
    c.subject === onelineDNFromDer(s.subjectDer) && c.issuer === onelineDNFromDer(s.issuerDer)
}

export interface Credential {
  /** endorser name; without it, the subject's CN — refused if an endorser or subscription of that name exists */
  name?: string
  subject: string
  issuer: string
  subjectDer?: Uint8Array
  issuerDer?: Uint8Array
  /** valid for this subscription only (`sub add --auto-endorse`) */
  subscriptionId?: string
}

/**
 * The subject and issuer of the first certificate in a PEM or DER file (`sub trust --cert`).
 * The certificate parser (pkijs) loads only here: a sync that sees no new list never pays for it.
 */
export async function credentialFromCertificate(bytes: Buffer, file: string): Promise<{ subject: string; issuer: string; subjectDer: Uint8Array; issuerDer: Uint8Array }> {
  const { CERT_LABELS, parseCert, pemBlocks } = await import('../smime/cert.js')
  const der = pemBlocks(bytes, CERT_LABELS)[0]
  let cert
  try {
    if (!der) throw new Error('no certificate in it')
    cert = parseCert(der)
  } catch (e) {
    throw usageError('CERT_UNREADABLE', `${file} is not a PEM or DER certificate (${(e as Error).message}); give the endorser's certificate file`)
  }
  return { subject: cert.subject, issuer: cert.issuer, subjectDer: cert.subjectDer, issuerDer: cert.issuerDer }
}

const bytesOrNull = (b?: Uint8Array): Buffer | null => (b ? Buffer.from(b) : null)

export function trustEndorser(db: DB, e: Credential, now: Date): { name: string; added: boolean; pinned: boolean } {
  const der = e.subjectDer !== undefined && e.issuerDer !== undefined
  if (der) {
    // the strings shown and matched against hv:dn / hv:ca are the certificate's own, never the caller's
    e = { ...e, subject: onelineDNFromDer(e.subjectDer!), issuer: onelineDNFromDer(e.issuerDer!) }
  } else {
    checkDn(e.subject, 'subject')
    checkDn(e.issuer, 'issuer')
    checkPlainDn(e.subject, 'subject')
    checkPlainDn(e.issuer, 'issuer')
  }
  const name = e.name ?? defaultEndorserName(e.subject)
  if (!NAME.test(name)) throw usageError('BAD_NAME', `endorser name ${JSON.stringify(name)} must be 1-64 of A-Z a-z 0-9 . _ -`)
  let added = false
  let pinned = false
  db.transaction(() => {
    const same = db.prepare('SELECT * FROM endorser WHERE name = ? AND subject = ? AND issuer = ?').get(name, e.subject, e.issuer) as EndorserRow | undefined
    // S20: a made-up name never joins an existing endorser (or re-authorises a subscription bound to it)
    if (e.name === undefined && !(same && same.subscription_id == null && (!der || (same.subject_der && credentialMatches(same, e as SignerNames)))) && endorserNameTaken(db, name)) {
      const creds = credentialsOf(db, name).map((c) => c.subject)
      throw usageError('ENDORSER_NAME_TAKEN', `an endorser (or a subscription's endorser) named ${JSON.stringify(name)} already exists${creds.length ? ` (${creds.join('; ')})` : ''}; ` +
        `vmgit never adds a credential to an existing endorser by a made-up name. To add this one to it (a key rotation) run again with --name ${name}; to trust it as a separate endorser, choose another --name`,
      { name, subject: e.subject, issuer: e.issuer })
    }
    if (!same) {
      db.prepare('INSERT INTO endorser (name, subject, issuer, created_at, subject_der, issuer_der, subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(name, e.subject, e.issuer, now.toISOString(), bytesOrNull(e.subjectDer), bytesOrNull(e.issuerDer), e.subscriptionId ?? null)
      added = true
      logAction(db, now, e.subscriptionId ?? null, 'trust', `${name}: ${e.subject} (issuer ${e.issuer})${der ? ', certificate names' : ', one-line strings only'}${e.subscriptionId ? `, for subscription ${e.subscriptionId} only` : ''}`)
      return
    }
    const sameNames = !der || (same.subject_der != null && credentialMatches(same, e as SignerNames))
    if (e.subscriptionId !== undefined) {
      // a credential for one subscription (--auto-endorse) never changes another credential's names or scope
      if ((same.subscription_id == null || same.subscription_id === e.subscriptionId) && sameNames) return
      throw usageError('DN_COLLISION', `endorser ${name} already has a credential that prints as ${e.subject} (issuer ${e.issuer}) but is not this certificate${same.subscription_id != null ? `, or is valid for subscription ${same.subscription_id} only` : ''}; subscribe with another --endorser name (or none)`)
    }
    if (der && same.subject_der && !sameNames) {
      throw usageError('DN_COLLISION', `endorser ${name} already trusts a different certificate name that prints the same (${e.subject}, issuer ${e.issuer}); two names that print alike are never merged. Trust this certificate under another --name`)
    }
    // an explicit trust widens a credential scoped to one subscription; a certificate pins a string-only one
    const widen = same.subscription_id != null && e.subscriptionId === undefined
    pinned = der && !same.subject_der
    if (widen || pinned) {
      db.prepare('UPDATE endorser SET subject_der = coalesce(?, subject_der), issuer_der = coalesce(?, issuer_der), subscription_id = ? WHERE name = ? AND subject = ? AND issuer = ?')
        .run(bytesOrNull(e.subjectDer), bytesOrNull(e.issuerDer), widen ? null : same.subscription_id, name, e.subject, e.issuer)
      added = true
      logAction(db, now, null, 'trust', `${name}: ${e.subject} (issuer ${e.issuer})${pinned ? ' pinned to its certificate names' : ''}${widen ? ', now for every subscription bound to the name' : ''}`)
    }
  })()
  return { name, added, pinned }
}

/** Remove every credential of NAME (or only one, given subject/issuer). Bound subscriptions left without a credential become unauthorised. */
export function untrustEndorser(db: DB, name: string, only: { subject?: string; issuer?: string }, now: Date): { removed: number; subscriptions: string[] } {
  let removed = 0
  let subs: string[] = []
  db.transaction(() => {
    const r = db.prepare('DELETE FROM endorser WHERE name = ? AND (? IS NULL OR subject = ?) AND (? IS NULL OR issuer = ?)').run(name, only.subject ?? null, only.subject ?? null, only.issuer ?? null, only.issuer ?? null)
    removed = r.changes
    if (removed === 0) throw usageError('NO_SUCH_ENDORSER', `no trusted endorser ${JSON.stringify(name)}${only.subject ? ` with subject ${only.subject}` : ''}; \`vmgit sub trust list\` shows them`)
    logAction(db, now, null, 'untrust', `${name}${only.subject ? `: ${only.subject}` : ''} (${removed} credential(s))`)
    const bound = (db.prepare('SELECT id FROM subscription WHERE endorser = ? ORDER BY id').all(name) as { id: string }[]).map((s) => s.id)
    subs = bound.filter((id) => credentialsOf(db, name, id).length === 0)
  })()
  return { removed, subscriptions: subs }
}

export interface EndorserView {
  name: string
  subject: string
  issuer: string
  created: string
  /** 'certificate': compared as DER names; 'one-line': string-only (plain names only) */
  identifiedBy: 'certificate' | 'one-line'
  /** set when the credential is valid for this subscription only (--auto-endorse) */
  onlyFor: string | null
  subscriptions: string[]
}

export function listEndorsers(db: DB): EndorserView[] {
  const rows = db.prepare('SELECT * FROM endorser ORDER BY name, subject, issuer').all() as EndorserRow[]
  const subs = db.prepare('SELECT id FROM subscription WHERE endorser = ? ORDER BY id')
  return rows.map((r) => ({
    name: r.name, subject: r.subject, issuer: r.issuer, created: r.created_at,
    identifiedBy: r.subject_der ? 'certificate' : 'one-line',
    onlyFor: r.subscription_id ?? null,
    subscriptions: (subs.all(r.name) as { id: string }[]).map((s) => s.id).filter((id) => r.subscription_id == null || r.subscription_id === id),
  }))
}

/** The endorser name a signer belongs to (the first, alphabetically) among credentials valid for every subscription, if any. */
export function endorserOf(db: DB, signer: SignerNames): string | undefined {
  const rows = db.prepare('SELECT * FROM endorser WHERE subscription_id IS NULL ORDER BY name').all() as EndorserRow[]
  return rows.find((c) => credentialMatches(c, signer))?.name
}
