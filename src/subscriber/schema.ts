/**
 * Versioned schema migrations for the subscriber database. Each entry runs once, in its own
 * transaction, and is recorded in `schema_migrations`. Never edit a released migration: append one.
 */
export interface Migration {
  version: number
  name: string
  sql: string
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
]
