import { usageError } from '../util/errors.js'
import { shCommand } from '../util/escape.js'
import { SHA512_HEX } from '../util/hash.js'
import { type DB, logAction } from './store.js'

/**
 * Image selection and the image listing. vmcatcher's state bitmap is kept for scripts that parse
 * it (1 = subscribed/selected, 2 = available in the current list, 3 = both); vmgit adds whether a
 * verified copy is in the cache.
 */
export interface ImageView {
  identifier: string
  subscription: string
  state: number
  selected: boolean
  available: boolean
  cached: boolean
  title: string | null
  version: string | null
  sha512: string | null
  size: number | null
  expires: string | null
  problem: string | null
  file: string | null
}

interface Row {
  sid: string
  identifier: string
  title: string | null
  version: string | null
  sha512: string | null
  size: number | null
  expires: string | null
  problem: string | null
  in_list: number
  selected: number
  sub_ok: number
  entry_sha: string | null
  link: string | null
}

export function listImages(db: DB, now: Date): ImageView[] {
  const rows = db
    .prepare(
      `WITH keys AS (SELECT subscription_id AS sid, identifier FROM image UNION SELECT subscription_id, identifier FROM selection)
       SELECT k.sid, k.identifier, i.title, i.version, i.sha512, i.size, i.expires, i.problem,
              i.identifier IS NOT NULL AS in_list,
              sel.identifier IS NOT NULL AS selected,
              (s.status = 'ok' AND EXISTS (SELECT 1 FROM endorser e WHERE e.name = s.endorser)) AS sub_ok,
              ce.sha512 AS entry_sha, ce.link
       FROM keys k
       LEFT JOIN image i ON i.subscription_id = k.sid AND i.identifier = k.identifier
       LEFT JOIN selection sel ON sel.subscription_id = k.sid AND sel.identifier = k.identifier
       LEFT JOIN subscription s ON s.id = k.sid
       LEFT JOIN cache_entry ce ON ce.subscription_id = k.sid AND ce.identifier = k.identifier
       ORDER BY k.sid, k.identifier`,
    )
    .all() as Row[]
  return rows.map((r) => {
    const imageExpired = r.expires !== null && new Date(r.expires).getTime() <= now.getTime()
    const available = r.in_list === 1 && r.sub_ok === 1 && !imageExpired && r.problem === null
    const selected = r.selected === 1
    const cached = r.entry_sha !== null && r.entry_sha === r.sha512
    return {
      identifier: r.identifier,
      subscription: r.sid,
      state: (selected ? 1 : 0) | (available ? 2 : 0),
      selected,
      available,
      cached,
      title: r.title,
      version: r.version,
      sha512: r.sha512,
      size: r.size,
      expires: r.expires,
      problem: r.problem,
      file: cached ? (r.link ?? r.entry_sha) : null,
    }
  })
}

export interface SelectTarget {
  identifier?: string
  sha512?: string
  subscription?: string
}

/** Select by identifier, or by sha512 (selects the image that has it, and follows it across versions), in ONE subscription. */
export function selectImages(db: DB, t: SelectTarget, now: Date): { subscription: string; identifier: string; already: boolean }[] {
  if (t.sha512 !== undefined && !SHA512_HEX.test(t.sha512)) throw usageError('SELECT_BAD_SHA512', '--sha512 takes 128 lowercase hex digits (sl:checksum:sha512)')
  if ((t.identifier === undefined) === (t.sha512 === undefined)) throw usageError('SELECT_WHAT', 'give an image identifier or --sha512 HEX (one of them)')
  const rows = db
    .prepare('SELECT subscription_id AS sid, identifier FROM image WHERE (? IS NULL OR identifier = ?) AND (? IS NULL OR sha512 = ?) AND (? IS NULL OR subscription_id = ?) ORDER BY subscription_id')
    .all(t.identifier ?? null, t.identifier ?? null, t.sha512 ?? null, t.sha512 ?? null, t.subscription ?? null, t.subscription ?? null) as { sid: string; identifier: string }[]
  if (rows.length === 0) {
    throw usageError('IMAGE_NOT_FOUND', `no image ${t.identifier ?? `with sha512 ${t.sha512!.slice(0, 16)}…`} in ${t.subscription ? `subscription ${t.subscription}` : 'any subscribed list'}; \`vmgit sub images\` lists them`)
  }
  // S30: a selection never crosses subscriptions silently. "The image I have" (--sha512) is one
  // image, but any subscribed list can carry the same sha512 under its own identifier; selecting it
  // there too would download and offer that list's entry. When the sha512 matches images in several
  // subscriptions, nothing is selected until --subscription names one. An identifier is the
  // documented exception: AppDB VO lists share identifiers on purpose, so `sub select ID` selects it
  // in every subscription that lists it and prints one line per subscription (never silently).
  const subs = [...new Set(rows.map((r) => r.sid))]
  if (t.sha512 !== undefined && t.subscription === undefined && subs.length > 1) {
    throw usageError('SELECT_AMBIGUOUS', `--sha512 ${t.sha512.slice(0, 16)}… matches images in ${subs.length} subscriptions (${subs.join(', ')}); nothing was selected. Say which one, e.g. \`${shCommand(['vmgit', 'sub', 'select', '--sha512', t.sha512, '--subscription', subs[0]!])}\``, { subscriptions: subs })
  }
  const out: { subscription: string; identifier: string; already: boolean }[] = []
  db.transaction(() => {
    const ins = db.prepare('INSERT OR IGNORE INTO selection (subscription_id, identifier, via, selected_at) VALUES (?, ?, ?, ?)')
    for (const r of rows) {
      const res = ins.run(r.sid, r.identifier, t.sha512 ? 'sha512' : 'uuid', now.toISOString())
      out.push({ subscription: r.sid, identifier: r.identifier, already: res.changes === 0 })
      if (res.changes) logAction(db, now, r.sid, 'select', r.identifier)
    }
  })()
  return out
}

export function deselectImages(db: DB, identifier: string, subscription: string | undefined, now: Date): { subscription: string; identifier: string }[] {
  const rows = db
    .prepare('SELECT subscription_id AS sid, identifier FROM selection WHERE identifier = ? AND (? IS NULL OR subscription_id = ?)')
    .all(identifier, subscription ?? null, subscription ?? null) as { sid: string; identifier: string }[]
  if (rows.length === 0) throw usageError('NOT_SELECTED', `image ${identifier} is not selected${subscription ? ` in ${subscription}` : ''}`)
  db.transaction(() => {
    for (const r of rows) {
      db.prepare('DELETE FROM selection WHERE subscription_id = ? AND identifier = ?').run(r.sid, r.identifier)
      logAction(db, now, r.sid, 'deselect', r.identifier)
    }
  })()
  return rows.map((r) => ({ subscription: r.sid, identifier: r.identifier }))
}
