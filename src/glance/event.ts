import path from 'node:path'
import { resolveCacheDirs } from '../subscriber/config.js'
import { IMAGE_VARS } from '../subscriber/events.js'
import type { DB } from '../subscriber/store.js'
import { usageError } from '../util/errors.js'
import { collectRetired, expireImage, importImage, type GlanceAction, type HandlerContext } from './handler.js'
import { endorsedFromEntry } from './model.js'
import { endorserOf, provenanceFor, listedEntry, pendingReplacement } from './source.js'

/**
 * `vmgit glance event`: vmcatcher's event interface (VMCATCHER_EVENT_* variables, or the older
 * VMILS_EVENT_*), so the handler drops into `vmgit sync --event` or an existing vmcatcher cron.
 */
export interface ParsedEvent {
  type: string
  listId?: string
  /** The image's hv:image keys, rebuilt from the variables. */
  entry: Record<string, string>
  vo?: string
  filename?: string
}

export function parseEventEnv(env: Record<string, string | undefined>): ParsedEvent {
  const prefix = env.VMCATCHER_EVENT_TYPE !== undefined ? 'VMCATCHER_EVENT_' : env.VMILS_EVENT_TYPE !== undefined ? 'VMILS_EVENT_' : undefined
  if (!prefix) {
    throw usageError('NOT_AN_EVENT', 'VMCATCHER_EVENT_TYPE is not set: `vmgit glance event` is run by `vmgit sync --event "vmgit glance event"` (or vmcatcher); use `vmgit glance reconcile` by hand')
  }
  const get = (name: string): string | undefined => {
    const v = env[prefix + name]
    return v === undefined || v === '' ? undefined : v
  }
  const entry: Record<string, string> = {}
  for (const [key, name] of IMAGE_VARS) {
    const v = get(name)
    if (v !== undefined) entry[key] = v
  }
  const listId = get('IL_DC_IDENTIFIER')
  const vo = get('VO')
  const filename = get('FILENAME')
  return { type: get('TYPE')!, entry, ...(listId ? { listId } : {}), ...(vo ? { vo } : {}), ...(filename ? { filename } : {}) }
}

/** The cached file an AvailablePostfix names: a base name in the cache dir (vmcatcher), or absolute. */
export function eventFile(ev: ParsedEvent, env: Record<string, string | undefined>): string {
  const f = ev.filename
  if (!f) throw usageError('EVENT_INCOMPLETE', `${ev.type} without VMCATCHER_EVENT_FILENAME: no file to upload`)
  if (path.isAbsolute(f)) return f
  // a base name only: an event variable never walks out of the cache directory
  if (f.includes('/') || f === '.' || f === '..') throw usageError('EVENT_BAD_FILENAME', `VMCATCHER_EVENT_FILENAME ${JSON.stringify(f)} is neither a base name nor an absolute path`)
  const dir = env.VMCATCHER_CACHE_DIR_CACHE ?? resolveCacheDirs(undefined, env).cache
  return path.join(dir, f)
}

export interface EventOptions {
  /** The subscriber database (read-only), when the event runner exported it. */
  db?: DB
  env: Record<string, string | undefined>
}

/** Handle one event; types the Glance handler has nothing to do for are a no-op. */
export async function handleEvent(ctx: HandlerContext, ev: ParsedEvent, opts: EventOptions): Promise<{ actions: GlanceAction[]; note?: string }> {
  switch (ev.type) {
    case 'AvailablePostfix': {
      const listId = need(ev, 'listId', 'IL_DC_IDENTIFIER')
      const identifier = need(ev, 'entry', 'DC_IDENTIFIER')
      // the stored list entry carries keys the variables do not (sl:osname); same content only
      const stored = opts.db ? listedEntry(opts.db, listId, identifier) : undefined
      const sameContent = stored && String(stored['sl:checksum:sha512'] ?? '').toLowerCase() === (ev.entry['sl:checksum:sha512'] ?? '').toLowerCase()
      const entry = sameContent ? { ...stored, ...ev.entry } : ev.entry
      const endorser = opts.db ? endorserOf(opts.db, listId) : undefined
      const provenance = opts.db ? provenanceFor(opts.db, listId) : undefined
      const img = endorsedFromEntry(listId, entry, { vo: ev.vo ?? null, file: eventFile(ev, opts.env), ...(endorser ? { endorser } : {}), ...(provenance ? { provenance } : {}) })
      const actions = await importImage(ctx, img)
      return { actions: [...actions, ...(await collectRetired(ctx))] }
    }
    case 'ExpirePostfix':
    case 'ExpirePosfix': {
      // vmcatcher before 0.2.1 spelled it ExpirePosfix
      const listId = need(ev, 'listId', 'IL_DC_IDENTIFIER')
      const identifier = need(ev, 'entry', 'DC_IDENTIFIER')
      const sha512 = ev.entry['sl:checksum:sha512']?.toLowerCase()
      if (opts.db && pendingReplacement(opts.db, ctx.now, listId, identifier, sha512)) {
        return {
          actions: [{ action: 'kept', list: listId, identifier, message: `kept ${identifier} in Glance: a new version is listed and replaces it once uploaded` }],
        }
      }
      return { actions: await expireImage(ctx, { listId, identifier, ...(sha512 ? { sha512 } : {}) }) }
    }
    case 'ProcessPostfix':
      return { actions: await collectRetired(ctx) }
    default:
      return { actions: [], note: `${ev.type}: nothing to do for Glance` }
  }
}

function need(ev: ParsedEvent, field: 'listId' | 'entry', variable: string): string {
  const v = field === 'listId' ? ev.listId : ev.entry['dc:identifier']
  if (!v) throw usageError('EVENT_INCOMPLETE', `${ev.type} without VMCATCHER_EVENT_${variable}; the event runner must set it`)
  return v
}
