import { existsSync, readFileSync } from 'node:fs'
import { writeFileAtomic } from '../util/fs.js'
import type { Report } from './report.js'
import { imageSizes, subscriptionFacts, type SubFacts } from './store-readonly.js'

/**
 * `vmgit sync --metrics-file PATH`: a Prometheus textfile-collector file (node_exporter
 * --collector.textfile.directory), replaced atomically (written beside, then renamed) so the
 * collector never reads half a file. What a site alerts on: a list about to expire, no fully
 * successful run for hours. The last-success time survives failed runs: it is carried over from
 * the previous file.
 */
export interface RunFacts {
  /** the run's fixed `now` (the instant the sync verified against) */
  now: Date
  durationSeconds: number
  exitCode: number
  report?: Report
  /** the database, read after the run for per-list facts (absent when the run failed before opening it) */
  dbPath?: string
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const seconds = (iso: string | null | undefined): number | undefined => {
  const t = iso ? Date.parse(iso) : NaN
  return Number.isFinite(t) ? t / 1000 : undefined
}

/** The previous file's last-success time, if any (0 = never). */
export function previousSuccess(file: string): number {
  if (!existsSync(file)) return 0
  const m = /^vmgit_sync_last_success_timestamp_seconds (\d+(?:\.\d+)?)$/m.exec(readFileSync(file, 'utf8'))
  return m ? Number(m[1]) : 0
}

function downloadedBytes(dbPath: string, report: Report): number {
  const cached = report.changes.filter((c) => c.kind === 'image-cached' && c.subscription && c.image)
  if (cached.length === 0) return 0
  return imageSizes(dbPath, cached.map((c) => ({ subscription: c.subscription!, image: c.image! })))
}

export function renderMetrics(f: RunFacts, lastSuccess: number): string {
  const now = f.now.getTime() / 1000
  const success = f.exitCode === 0 ? now : lastSuccess
  const out: string[] = []
  const metric = (name: string, help: string, samples: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
    for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`)
  }
  metric('vmgit_sync_last_run_timestamp_seconds', 'Time of the last vmgit sync run (its fixed verification time).', [['', now]])
  metric('vmgit_sync_last_success_timestamp_seconds', 'Time of the last run in which every list and image was verified and current (exit 0); 0 if never.', [['', success]])
  metric('vmgit_sync_exit_code', 'Exit status of the last run: 0 ok, 1 something rejected, 2 usage or local state, 3 network only.', [['', f.exitCode]])
  metric('vmgit_sync_duration_seconds', 'Wall time of the last run.', [['', Math.round(f.durationSeconds * 1000) / 1000]])
  const subs = f.dbPath && existsSync(f.dbPath) && f.report ? subscriptionFacts(f.dbPath) : []
  metric('vmgit_sync_downloaded_bytes', 'Bytes of the images downloaded and verified by the last run.', [['', f.dbPath && f.report ? downloadedBytes(f.dbPath, f.report) : 0]])
  const failed = new Map<string, number>()
  const listProblem = new Set<string>()
  for (const p of f.report?.problems ?? []) {
    if (!p.subscription) continue
    if (p.image) failed.set(p.subscription, (failed.get(p.subscription) ?? 0) + 1)
    else if (p.severity !== 'warning') listProblem.add(p.subscription)
  }
  const l = (s: SubFacts, extra = ''): string => `{subscription="${esc(s.id)}"${extra}}`
  metric('vmgit_subscription_info', 'One per subscribed list: its stored hv:version and status (ok, expired, error: the last run could not update it).',
    subs.map((s) => [l(s, `,version="${esc(s.version)}",status="${listProblem.has(s.id) ? 'error' : esc(s.status)}"`), 1]))
  metric('vmgit_subscription_ok', '1 when the last run left the list verified and current, else 0.',
    subs.map((s) => [l(s), s.status === 'ok' && !listProblem.has(s.id) && !failed.has(s.id) ? 1 : 0]))
  metric('vmgit_subscription_expiry_timestamp_seconds', 'dc:date:expires of the stored list version.',
    subs.flatMap((s): [string, number][] => { const t = seconds(s.list_expires); return t === undefined ? [] : [[l(s), t]] }))
  metric('vmgit_subscription_images_cached', 'Images of the list in the verified cache.', subs.map((s) => [l(s), s.cached]))
  metric('vmgit_subscription_images_failed', 'Images of the list the last run could not deliver.', subs.map((s) => [l(s), failed.get(s.id) ?? 0]))
  return out.join('\n') + '\n'
}

/** Write the metrics file atomically (never a half-written file for the collector). */
export async function writeMetrics(file: string, f: RunFacts): Promise<void> {
  // the temporary name ends in .tmp, which the textfile collector ignores (it reads *.prom)
  await writeFileAtomic(file, renderMetrics(f, previousSuccess(file)), 0o644)
}
