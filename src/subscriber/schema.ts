/**
 * Versioned schema migrations for the subscriber database. Each entry runs once, in its own
 * transaction, and is recorded in `schema_migrations`. Never edit a released migration: append one.
 */
import type Database from 'better-sqlite3'
import { certNames } from '../smime/der.js'
import { onelineDNFromDer } from '../smime/dn.js'

export interface Migration {
  version: number
  name: string
  sql: string
  /** data step after `sql`, in the same transaction */
  run?: (db: Database.Database) => void
}

/**
 * Schema 2 (S20): a credential made before names were compared as DER knows only its one-line
 * strings. Store what is known: when a subscription bound to that endorser holds the certificate
 * that signed its stored list, and that certificate's names print exactly as the credential's
 * strings (OpenSSL 3 form), the credential is pinned to those DER names. Credentials with no such
 * certificate (or with two different ones) stay string-only: they still match a signer whose names
 * cannot be confused with another's (dn.ts isPlainName), never any other.
 */
function pinStringCredentials(db: Database.Database): void {
  const rows = db.prepare('SELECT name, subject, issuer FROM endorser WHERE subject_der IS NULL').all() as { name: string; subject: string; issuer: string }[]
  const certs = db.prepare('SELECT signer_cert FROM subscription WHERE endorser = ? AND length(signer_cert) > 0')
  const pin = db.prepare('UPDATE endorser SET subject_der = ?, issuer_der = ? WHERE name = ? AND subject = ? AND issuer = ?')
  for (const r of rows) {
    const found = new Map<string, { subject: Uint8Array; issuer: Uint8Array }>()
    for (const { signer_cert: der } of certs.all(r.name) as { signer_cert: Buffer }[]) {
      try {
        const n = certNames(der)
        if (onelineDNFromDer(n.subject) === r.subject && onelineDNFromDer(n.issuer) === r.issuer) {
          found.set(Buffer.concat([n.subject, n.issuer]).toString('hex'), n)
        }
      } catch {
        // an unreadable stored certificate pins nothing
      }
    }
    const only = found.size === 1 ? [...found.values()][0] : undefined
    if (only) pin.run(Buffer.from(only.subject), Buffer.from(only.issuer), r.name, r.subject, r.issuer)
  }
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial subscriber schema',
    sql: `
CREATE TABLE endorser (
  name        TEXT NOT NULL,              -- several credentials may share one name (key rotation)
  subject     TEXT NOT NULL,              -- OpenSSL one-line DN of the signer certificate
  issuer      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (name, subject, issuer)
);

CREATE TABLE subscription (
  id                 TEXT PRIMARY KEY,    -- the list's dc:identifier
  endorser           TEXT NOT NULL,       -- endorser name whose credentials may sign this list
  endorser_check     TEXT NOT NULL DEFAULT 'strict' CHECK (endorser_check IN ('strict', 'signer')),
  new_images         TEXT NOT NULL DEFAULT 'accept' CHECK (new_images IN ('refuse', 'accept', 'subscribe')),
  status             TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'expired')),
  created_at         TEXT NOT NULL,
  -- the accepted list version (replaced only by a verified, newer version; one transaction)
  version            TEXT NOT NULL,
  list_created       TEXT NOT NULL,
  list_expires       TEXT NOT NULL,
  imported_at        TEXT NOT NULL,
  title              TEXT,
  description        TEXT,
  list_uri           TEXT,                -- hv:uri as declared (never followed)
  vo                 TEXT,                -- ad:vo
  smime              BLOB NOT NULL,       -- the signed original
  content            BLOB NOT NULL,       -- the verified bytes (what the signature covers)
  content_sha512     TEXT NOT NULL,
  -- rollback protection is tied to the certificate that signed the stored version (attack S10)
  signer_subject     TEXT NOT NULL,
  signer_issuer      TEXT NOT NULL,
  signer_serial      TEXT NOT NULL,
  signer_not_after   TEXT NOT NULL,
  signer_cert        BLOB NOT NULL        -- DER, to look the certificate up in its CA's CRL later
);

CREATE TABLE subscription_url (
  subscription_id TEXT NOT NULL REFERENCES subscription(id) ON DELETE CASCADE,
  position        INTEGER NOT NULL,       -- mirrors are tried in order
  url             TEXT NOT NULL,          -- without userinfo
  username        TEXT,                   -- basic auth from the URL's userinfo: never printed
  password        TEXT,
  etag            TEXT,
  last_modified   TEXT,
  PRIMARY KEY (subscription_id, position)
);

CREATE TABLE image (
  subscription_id TEXT NOT NULL REFERENCES subscription(id) ON DELETE CASCADE,
  identifier      TEXT NOT NULL,          -- checked against SAFE_ID before it is stored
  sha512          TEXT,
  size            INTEGER,
  uri             TEXT,
  version         TEXT,
  title           TEXT,
  expires         TEXT,                   -- per-image dc:date:expires (AppDB)
  problem         TEXT,                   -- why this image can never be downloaded, else NULL
  json            TEXT NOT NULL,          -- the hv:image object as listed
  first_seen      TEXT NOT NULL,
  PRIMARY KEY (subscription_id, identifier)
);

CREATE TABLE selection (
  subscription_id TEXT NOT NULL REFERENCES subscription(id) ON DELETE CASCADE,
  identifier      TEXT NOT NULL,
  via             TEXT NOT NULL,          -- uuid | sha512 | auto
  selected_at     TEXT NOT NULL,
  PRIMARY KEY (subscription_id, identifier)
);

-- verified files in cache/, named by their sha512
CREATE TABLE blob (
  sha512      TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  mtime_ms    INTEGER NOT NULL,           -- recorded at verification; a change triggers a re-hash
  verified_at TEXT NOT NULL
);

-- which image of which subscription is delivered by which blob; no foreign key to subscription:
-- entries of a removed subscription are expired (with events) by the next sync
CREATE TABLE cache_entry (
  subscription_id TEXT NOT NULL,
  identifier      TEXT NOT NULL,
  sha512          TEXT NOT NULL REFERENCES blob(sha512),
  link            TEXT,                   -- cache/<identifier> hard link owned by this entry
  json            TEXT NOT NULL,          -- event variables at the time it entered the cache
  cached_at       TEXT NOT NULL,
  PRIMARY KEY (subscription_id, identifier)
);

-- bookkeeping of sync attempts, kept apart from the state tables so that a rejected update
-- leaves every state table byte-for-byte unchanged
CREATE TABLE subscription_status (
  subscription_id    TEXT PRIMARY KEY,
  checked_at         TEXT,                -- last sync attempt
  updated_at         TEXT,                -- last time the list was verified current (dc:date:updated)
  last_error_code    TEXT,
  last_error_message TEXT,
  mirrors            TEXT                 -- JSON: last outcome per mirror position
);

-- bookkeeping of download attempts (by content), also outside the state tables
CREATE TABLE download_status (
  sha512             TEXT PRIMARY KEY,
  attempts           INTEGER NOT NULL,
  last_attempt_at    TEXT NOT NULL,
  last_error_code    TEXT,
  last_error_message TEXT
);

CREATE TABLE log (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  at              TEXT NOT NULL,
  subscription_id TEXT,
  action          TEXT NOT NULL,
  detail          TEXT
);

-- one sync at a time per database; a row left by a crashed run is taken over (see lock.ts)
CREATE TABLE sync_lock (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  pid         INTEGER NOT NULL,
  start_ticks TEXT,
  host        TEXT NOT NULL,
  acquired_at TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'accepted list versions per signer (S24 recovery floor)',
    sql: `
-- every list version this site accepted, with the certificate that signed it (append-only; a
-- \`sub reset\` forgets a subscription's rows). After the stored signer is revoked, recovery never goes
-- below what certificates that still stand had signed (attack S24; see history.ts)
CREATE TABLE list_history (
  subscription_id TEXT NOT NULL REFERENCES subscription(id) ON DELETE CASCADE,
  version         TEXT NOT NULL,
  list_created    TEXT NOT NULL,
  content_sha512  TEXT NOT NULL,
  signer_issuer   TEXT NOT NULL,
  signer_serial   TEXT NOT NULL,
  signer_cert     BLOB NOT NULL,
  accepted_at     TEXT NOT NULL,
  PRIMARY KEY (subscription_id, content_sha512, signer_issuer, signer_serial)
);
INSERT OR IGNORE INTO list_history
  SELECT id, version, list_created, content_sha512, signer_issuer, signer_serial, signer_cert, imported_at
  FROM subscription WHERE version <> '' AND length(signer_cert) > 0;
`,
  },
  {
    version: 3,
    name: 'endorser credentials compared as DER names; --auto-endorse credentials scoped to their subscription (S20)',
    sql: `
ALTER TABLE endorser ADD COLUMN subject_der BLOB;      -- DER of the certificate subject Name; NULL: known by its one-line form only
ALTER TABLE endorser ADD COLUMN issuer_der BLOB;       -- DER of the issuer Name (NULL with subject_der)
ALTER TABLE endorser ADD COLUMN subscription_id TEXT;  -- NULL: valid for every subscription bound to the name; else for this one only
`,
    run: pinStringCredentials,
  },
  {
    version: 4,
    name: 'per-subscription verification options remembered (sub add --no-crl-check)',
    sql: `
-- 1: sync requires a current CRL for this subscription (the default); 0: added with --no-crl-check,
-- so every later sync verifies it the same way unless its own --crl-check/--no-crl-check says otherwise
ALTER TABLE subscription ADD COLUMN crl_check INTEGER NOT NULL DEFAULT 1 CHECK (crl_check IN (0, 1));
`,
  },
  {
    version: 5,
    name: 'a subscription may require the repository its lists are published from (sub add --require-repository, issue 15)',
    sql: '',
    // require_repository TEXT: NULL = any; else the list's signed vmgit:repository must name this repository.
    // Added only when missing, so that a database whose migration records were rolled back (S20's upgrade test) still opens.
    run: (db) => {
      const cols = (db.prepare('PRAGMA table_info(subscription)').all() as { name: string }[]).map((c) => c.name)
      if (!cols.includes('require_repository')) db.exec('ALTER TABLE subscription ADD COLUMN require_repository TEXT')
    },
  },
]
