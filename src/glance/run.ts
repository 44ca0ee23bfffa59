import { existsSync } from 'node:fs'
import { resolveCacheDirs, resolveDbPath } from '../subscriber/config.js'
import type { DB } from '../subscriber/store.js'
import { connectGlance, type Env } from './auth.js'
import { loadConfigFile, resolveConfig, type GlanceConfigInput } from './config.js'
import { handleEvent, parseEventEnv } from './event.js'
import type { GlanceAction, HandlerContext } from './handler.js'
import { reconcile, type ReconcileProblem } from './reconcile.js'
import { openStoreReadonly, verifiedImages } from './source.js'

/**
 * The two entry points behind `vmgit glance event` and `vmgit glance reconcile`, without oclif:
 * configuration (file, then flags), connection, the subscriber database, and the core.
 */
export interface RunInput extends GlanceConfigInput {
  config?: string
  db?: string
  'cache-dir'?: string
  now: Date
  signal?: AbortSignal
}

async function context(input: RunInput, env: Env): Promise<HandlerContext> {
  const file = input.config ?? env.VMGIT_GLANCE_CONFIG
  const config = resolveConfig(file ? loadConfigFile(file) : {}, input)
  const { client } = await connectGlance({ ...(config.cloud ? { cloud: config.cloud } : {}), ...(config.endpoint ? { endpoint: config.endpoint } : {}) }, env)
  return { client, config, now: input.now, ...(input.signal ? { signal: input.signal } : {}) }
}

export interface EventRun {
  event: string
  actions: GlanceAction[]
  note?: string
}

const HANDLED = new Set(['AvailablePostfix', 'ExpirePostfix', 'ExpirePosfix', 'ProcessPostfix'])

export async function runEvent(input: RunInput, env: Env = process.env): Promise<EventRun> {
  const ev = parseEventEnv(env)
  if (!HANDLED.has(ev.type)) return { event: ev.type, actions: [], note: `${ev.type}: nothing to do for Glance` }
  const ctx = await context(input, env)
  // the event runner exports VMCATCHER_RDBMS; without a database the handler still works,
  // minus the endorser property and the keep-until-replaced rule
  const dbPath = resolveDbPath(input.db, env)
  let db: DB | undefined
  if (existsSync(dbPath)) db = openStoreReadonly(dbPath)
  try {
    const r = await handleEvent(ctx, ev, { env, ...(db ? { db } : {}) })
    return { event: ev.type, ...r }
  } finally {
    db?.close()
  }
}

export interface ReconcileRun {
  images: number
  actions: GlanceAction[]
  problems: ReconcileProblem[]
}

export async function runReconcile(input: RunInput, env: Env = process.env): Promise<ReconcileRun> {
  const db = openStoreReadonly(resolveDbPath(input.db, env))
  let wanted
  let unreadable
  try {
    const r = verifiedImages(db, resolveCacheDirs(input['cache-dir'], env).cache)
    wanted = r.images
    unreadable = r.problems.map((p) => ({ ...p, code: 'CACHE_ENTRY_INVALID' as const }))
  } finally {
    db.close()
  }
  const ctx = await context(input, env)
  const r = await reconcile(ctx, wanted)
  return { images: wanted.length, actions: r.actions, problems: [...unreadable, ...r.problems] }
}
