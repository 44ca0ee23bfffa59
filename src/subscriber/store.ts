import Database from 'better-sqlite3'
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs'
import path from 'node:path'
import { redactText } from '../net/redact.js'
import { isVmgitError, VmgitError } from '../util/errors.js'
import { checkDbAccess, checkOwner, corruptError, foreignError, rememberDb, sniffDbFile, sqliteError } from './localstate.js'
import { MIGRATIONS } from './schema.js'
import { mkdirsSync } from '../util/envfs.js'
import { isOciLocation, parseOciLocation } from './ociref.js'

export type DB = Database.Database

export interface SubscriptionRow {
  id: string
  endorser: string
  endorser_check: 'strict' | 'signer'
  new_images: 'refuse' | 'accept' | 'subscribe'
  /** 1: CRLs required (default); 0: subscribed with --no-crl-check, remembered for every sync (schema 4) */
  crl_check: 0 | 1
  status: 'ok' | 'expired'
  created_at: string
  version: string
  list_created: string
  list_expires: string
  imported_at: string
  title: string | null
  description: string | null
  list_uri: string | null
  vo: string | null
  smime: Buffer
  content: Buffer
  content_sha512: string
  signer_subject: string
  signer_issuer: string
  signer_serial: string
  signer_not_after: string
  signer_cert: Buffer
  /** issue 15: the repository the list's signed vmgit:repository must name (NULL: any) */
  require_repository: string | null
}

export interface UrlRow {
  subscription_id: string
  position: number
  url: string
  username: string | null
  password: string | null
  etag: string | null
  last_modified: string | null
}

export interface StatusRow {
  subscription_id: string
  checked_at: string | null
  updated_at: string | null
  last_error_code: string | null
  last_error_message: string | null
  /** JSON: { [position]: code } */
  mirrors: string | null
}

export interface ImageRow {
  subscription_id: string
  identifier: string
  sha512: string | null
  size: number | null
  uri: string | null
  version: string | null
  title: string | null
  expires: string | null
  problem: string | null
  json: string
  first_seen: string
}

export interface BlobRow {
  sha512: string
  size: number
  mtime_ms: number
  verified_at: string
}

export interface CacheEntryRow {
  subscription_id: string
  identifier: string
  sha512: string
  link: string | null
  json: string
  cached_at: string
}

export interface EndorserRow {
  name: string
  subject: string
  issuer: string
  created_at: string
  /** S20: DER of the subject and issuer Names (null: a credential known by its one-line strings only) */
  subject_der?: Buffer | null
  issuer_der?: Buffer | null
  /** null: any subscription bound to `name`; else only this one (`sub add --auto-endorse`) */
  subscription_id?: string | null
}

/**
 * Open the subscriber database: WAL journal, foreign keys on, pending migrations applied. The file
 * is private (0600): it holds list-URL credentials.
 *
 * S34: only the commands that create state (`sub trust`, `sub add`) may create the file or
 * initialise an empty one; every other command passes `mustExist` and needs an existing vmgit database, so a
 * mistyped --db never leaves an empty database behind and a truncated one is never silently
 * replaced by a fresh schema (which would forget every stored version: a rollback opening).
 * Damaged, foreign, read-only and foreign-owned databases are typed errors with the path and the fix.
 */
export function openStore(dbPath: string, opts: { mustExist?: boolean } = {}): DB {
  const create = opts.mustExist !== true
  rememberDb(dbPath)
  checkOwner(dbPath, 'database')
  if (!existsSync(dbPath)) {
    if (!create) {
      throw new VmgitError('NO_DATABASE', `no subscriber database at ${dbPath}; subscribe to a list first with \`vmgit sub add URL\` (or point --db / VMGIT_DB at the right file)`, { details: { path: dbPath } })
    }
    try {
      mkdirsSync(path.dirname(dbPath), 0o700)
      closeSync(openSync(dbPath, 'a', 0o600))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new VmgitError('DB_PERMISSION', `cannot create the subscriber database ${dbPath} (${code}); create its directory for the user running vmgit, e.g. install -d -o vmgit -g vmgit -m 0700 ${path.dirname(dbPath)}, or point --db / VMGIT_DB elsewhere`, { cause: e, details: { path: dbPath } })
      }
      throw e
    }
  }
  const denied = checkDbAccess(dbPath)
  if (denied) throw denied
  const sniff = sniffDbFile(dbPath)
  if (sniff === 'not-sqlite') throw corruptError(dbPath, 'it is not an SQLite database (damaged, truncated or another kind of file)')
  if (sniff === 'empty' && !create) throw corruptError(dbPath, 'it is empty (0 bytes: truncated, or never initialised)')
  let db: DB
  try {
    db = new Database(dbPath, { fileMustExist: true })
  } catch (e) {
    const msg = (e as Error).message
    // npm 11 skips dependencies' install scripts unless allowed: better-sqlite3 is then never built
    if (/bindings file|better_sqlite3\.node/.test(msg)) {
      throw new VmgitError('SQLITE_NOT_BUILT', `SQLite support (better-sqlite3) was installed without its native module, so the subscriber database cannot be opened; ` +
        'reinstall allowing its build: npm install -g --allow-scripts=better-sqlite3,ssh2 vmgit', { cause: e })
    }
    throw sqliteError(e, dbPath) ?? new VmgitError('DB_OPEN', `cannot open the subscriber database ${dbPath}: ${msg}`, { cause: e })
  }
  try {
    db.pragma('busy_timeout = 10000')
    if (sniff === 'short') {
      const r = db.pragma('quick_check', { simple: true })
      if (r !== 'ok') throw corruptError(dbPath, `it is shorter than its header says (truncated): ${String(r)}`)
    }
    // before anything that writes (mode, journal): another program's database stays byte-for-byte as it was
    checkSchema(db, dbPath, create)
    try {
      chmodSync(dbPath, 0o600)
    } catch {
      // not the owner: leave the mode alone
    }
    db.pragma('journal_mode = WAL')
    // WAL + NORMAL survives a killed process with every committed transaction intact
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    migrate(db)
    const missing = missingTables(db)
    if (missing.length > 0) throw corruptError(dbPath, `table${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing (dropped?)`)
  } catch (e) {
    db.close()
    throw isVmgitError(e) ? e : (sqliteError(e, dbPath) ?? e)
  }
  return db
}

/** Tables every migrated database has (from the migrations' CREATE TABLE statements). */
const EXPECTED_TABLES: readonly string[] = [...new Set(MIGRATIONS.flatMap((m) => [...m.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((x) => x[1] as string)))]

const tablesOf = (db: DB): string[] =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as { name: string }[]).map((r) => r.name)

/** S34: a database without vmgit's bookkeeping is another program's (DB_FOREIGN) or, when required, a truncated one. */
function checkSchema(db: DB, dbPath: string, create: boolean): void {
  const tables = tablesOf(db)
  if (tables.includes('schema_migrations')) return
  if (tables.length > 0) throw foreignError(dbPath, tables)
  if (!create) throw corruptError(dbPath, 'it has no tables (truncated, or never initialised)')
}

function missingTables(db: DB): string[] {
  const have = new Set(tablesOf(db))
  return EXPECTED_TABLES.filter((t) => !have.has(t))
}

export function schemaVersion(db: DB): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }
  return row.v ?? 0
}

function migrate(db: DB): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
  const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0
  const apply = db.transaction(() => {
    const current = schemaVersion(db)
    if (current > latest) {
      throw new VmgitError('DB_TOO_NEW', `the subscriber database has schema version ${current}, newer than this vmgit understands (${latest}); upgrade vmgit`)
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue
      db.exec(m.sql)
      m.run?.(db)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString())
    }
  })
  apply.immediate()
}

// ---- small typed queries shared by the subscriber modules ----

/**
 * Issue 6: one prepared statement per SQL text and connection. A no-change sync runs about ten
 * small queries per list, and preparing each statement again cost more than running it. Only for
 * plain run/get/all (a statement put in raw, pluck or iterate mode must be prepared on its own).
 */
const prepared = new WeakMap<DB, Map<string, Database.Statement>>()
export function statement(db: DB, sql: string): Database.Statement {
  let bySql = prepared.get(db)
  if (!bySql) prepared.set(db, (bySql = new Map()))
  let s = bySql.get(sql)
  if (!s) bySql.set(sql, (s = db.prepare(sql)))
  return s
}

export const getSubscription = (db: DB, id: string): SubscriptionRow | undefined =>
  statement(db, 'SELECT * FROM subscription WHERE id = ?').get(id) as SubscriptionRow | undefined

export const listSubscriptions = (db: DB): SubscriptionRow[] =>
  db.prepare('SELECT * FROM subscription ORDER BY id').all() as SubscriptionRow[]

/** A subscription without its two list documents (what a sync needs; keeps a 200-list run light). */
export type SubscriptionMeta = Omit<SubscriptionRow, 'smime' | 'content'>
const META = 'id, endorser, endorser_check, new_images, crl_check, status, created_at, version, list_created, list_expires, imported_at, title, description, list_uri, vo, content_sha512, signer_subject, signer_issuer, signer_serial, signer_not_after, signer_cert, require_repository'
export const listSubscriptionsMeta = (db: DB): SubscriptionMeta[] =>
  statement(db, `SELECT ${META} FROM subscription ORDER BY id`).all() as SubscriptionMeta[]
export const getSubscriptionMeta = (db: DB, id: string): SubscriptionMeta | undefined =>
  statement(db, `SELECT ${META} FROM subscription WHERE id = ?`).get(id) as SubscriptionMeta | undefined

export const getUrls = (db: DB, id: string): UrlRow[] =>
  statement(db, 'SELECT * FROM subscription_url WHERE subscription_id = ? ORDER BY position').all(id) as UrlRow[]

export const getImages = (db: DB, id: string): ImageRow[] =>
  statement(db, 'SELECT * FROM image WHERE subscription_id = ? ORDER BY identifier').all(id) as ImageRow[]

export const getStatus = (db: DB, id: string): StatusRow | undefined =>
  statement(db, 'SELECT * FROM subscription_status WHERE subscription_id = ?').get(id) as StatusRow | undefined

/** The credentials of endorser `name` valid for `subscriptionId` (S20: without it, only those valid for every subscription). */
export const credentialsOf = (db: DB, name: string, subscriptionId?: string): EndorserRow[] =>
  statement(db, 'SELECT * FROM endorser WHERE name = ? AND (subscription_id IS NULL OR subscription_id = ?) ORDER BY subject, issuer').all(name, subscriptionId ?? null) as EndorserRow[]

export function logAction(db: DB, at: Date, subscriptionId: string | null, action: string, detail: string): void {
  // one redaction policy: the log table never holds a credential (a URL's userinfo or ?token=)
  statement(db, 'INSERT INTO log (at, subscription_id, action, detail) VALUES (?, ?, ?, ?)').run(at.toISOString(), subscriptionId, action, redactText(detail))
}

/** A registry list location as stored (tag explicit), or as given when it does not parse. */
function ociKey(location: string): string {
  try {
    return parseOciLocation(location).url
  } catch {
    return location
  }
}

/** Find a subscription by its identifier, or by one of its URLs (compared without credentials). */
export function findSubscription(db: DB, idOrUrl: string, redactUrl: (u: string) => string): SubscriptionRow {
  const byId = getSubscription(db, idOrUrl)
  if (byId) return byId
  const clean = isOciLocation(idOrUrl) ? ociKey(idOrUrl) : redactUrl(idOrUrl)
  const row = db.prepare('SELECT subscription_id AS id FROM subscription_url WHERE url = ? ORDER BY position LIMIT 1').get(clean) as { id: string } | undefined
  const sub = row && getSubscription(db, row.id)
  if (!sub) {
    throw new VmgitError('NO_SUCH_SUBSCRIPTION', `no subscription ${JSON.stringify(clean)}; \`vmgit sub list\` shows the subscribed lists`)
  }
  return sub
}

/** issue 17: the subscription has a location in an OCI registry (its images come from there first). */
export const hasRegistryLocation = (db: DB, subscriptionId: string): boolean =>
  (db.prepare("SELECT 1 FROM subscription_url WHERE subscription_id = ? AND url LIKE 'oci://%' LIMIT 1").get(subscriptionId) as unknown) !== undefined
