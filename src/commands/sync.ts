import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { resolveEventCommand, resolveNow, resolvePaths } from '../subscriber/config.js'
import { dbFlag, limitsFrom, netFlags, nowFlag, trustFlags } from '../subscriber/flags.js'
import { makeProgress } from '../subscriber/progress.js'
import { escapeText } from '../util/escape.js'
import { redactText } from '../net/redact.js'
import { runSync, type SyncResult } from '../subscriber/sync.js'
import { writeMetrics } from '../subscriber/metrics.js'
import { Exit, isVmgitError, VmgitError } from '../util/errors.js'
import { LOG_FORMATS, Logger, type LogFormat } from '../util/log.js'
import path from 'node:path'
import { performance } from 'node:perf_hooks'

export default class Sync extends BaseCommand<typeof Sync> {
  static override summary = 'Update every subscribed image list and the verified image cache (run it from cron or a systemd timer)'

  static override description = `For each subscription: fetch the list from every URL (mirror) it has (an unchanged list costs one conditional
request each), verify its signature against the trust directory, check endorser, identifier, dates and
hv:version, and store the highest verified version in one transaction; a mirror that lags behind is reported.
A stored list that was not replaced is verified again against the trust directory as it is now (CA
certificates, CRLs) and the trusted credentials: if it no longer passes, its images are no longer offered. Then expire cached images that are no longer endorsed, download the selected ones (hashing
while writing, resuming partial files), and run the event command with vmcatcher's VMCATCHER_EVENT_*
variables. Quiet when nothing changed; one line per change.

Lists kept in an OCI registry (oci:// subscriptions) are verified exactly like lists over http(s); their images
are fetched by the manifest digest the signed list pins (never by a tag), the blob's sha256, the list's sha512
and hv:size checked in one pass. --prefer-registry does the same for http(s) lists that pin digests, with
hv:uri as the fallback.

Exit status: 0 every list and image verified and current; 1 a list or image was rejected (the others were
still processed) or the event handler failed; 2 the event handler cannot be run; 3 network failures only.

One sync runs per database at a time: the lock is held by the system (a lock file beside the database) and
dies with its process, wherever that ran (another container or pod sharing the database).`

  static override examples = [
    '<%= config.bin %> sync',
    '<%= config.bin %> sync --event /usr/bin/gpvmcupdate --jobs 4',
    '<%= config.bin %> sync --no-download --json',
    '<%= config.bin %> sync --check   # re-hash every cached file',
  ]

  static override flags = {
    ...dbFlag,
    ...trustFlags,
    'cache-dir': Flags.string({ description: 'Cache root holding cache/, partial/ and expired/. Env: VMGIT_CACHE_DIR, or vmcatcher\'s VMCATCHER_CACHE_DIR_CACHE/_DOWNLOAD/_EXPIRE', helpGroup: 'STATE' }),
    download: Flags.boolean({ description: 'Download selected images (--no-download: lists and expiry only)', default: true, allowNo: true }),
    check: Flags.boolean({ description: 'Re-hash every cached file (otherwise size+mtime recorded at verification are trusted)', default: false }),
    jobs: Flags.integer({ char: 'j', description: 'Parallel downloads', default: 2, min: 1, max: 32 }),
    event: Flags.string({ description: 'Event command, run through /bin/sh with VMCATCHER_EVENT_* variables. Env: VMGIT_EVENT, or vmcatcher\'s VMCATCHER_CACHE_EVENT', helpGroup: 'EVENTS' }),
    'event-timeout': Flags.integer({ description: 'Seconds before a hung event handler gets TERM (then KILL)', default: 10, min: 1, helpGroup: 'EVENTS' }),
    ...netFlags,
    'prefer-registry': Flags.boolean({ description: 'Fetch images that a list pins in an OCI registry (vmgit:oci:reference + vmgit:oci:digest) from the registry, by that digest, before hv:uri; lists kept in a registry (oci:// subscriptions) always do. Env: VMGIT_PREFER_REGISTRY=1', default: false, env: 'VMGIT_PREFER_REGISTRY', helpGroup: 'NETWORK' }),
    'min-rate': Flags.integer({ description: 'Slowest acceptable download rate in KiB/s; sets each image\'s deadline', default: 256, min: 1, helpGroup: 'NETWORK' }),
    ...nowFlag,
    'break-lock': Flags.boolean({ description: 'Remove a sync lock whose holder is not a live process on this host (a stale lock on a shared or network filesystem), then run; logged. A lock whose holder died is reclaimed without this', default: false }),
    'metrics-file': Flags.string({ description: 'Write Prometheus metrics for node_exporter\'s textfile collector to this file (atomically): last run, last success, per-list version, expiry, status, images. Env: VMGIT_METRICS_FILE', helpGroup: 'MONITORING' }),
    'log-format': Flags.string({ description: 'text: one line per change or problem; json: one JSON object per line (for log shippers). Under systemd, lines carry journald priorities either way', options: [...LOG_FORMATS], default: 'text', helpGroup: 'MONITORING' }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const started = performance.now()
    const paths = resolvePaths(f)
    const now = resolveNow(f.now)
    const metricsFile = f['metrics-file'] ?? process.env.VMGIT_METRICS_FILE
    let r: SyncResult | undefined
    let failure: unknown
    try {
      r = await runSync({
        paths,
        now,
        eventCommand: resolveEventCommand(f.event),
        eventTimeoutMs: f['event-timeout'] * 1000,
        jobs: f.jobs,
        check: f.check,
        download: f.download,
        crlCheck: f['crl-check'],
        limits: limitsFrom(f),
        minRate: f['min-rate'] * 1024,
        progress: f.json || f['log-format'] === 'json' ? undefined : makeProgress(),
        breakLock: f['break-lock'],
        preferRegistry: f['prefer-registry'],
      })
    } catch (e) {
      failure = e
    }
    const code = r ? r.report.exitCode() : isVmgitError(failure) ? failure.exit : Exit.INVALID
    if (metricsFile) {
      // written even when the run failed: the last-run time moves, the last-success time does not
      await writeMetrics(path.resolve(metricsFile), { now, durationSeconds: (performance.now() - started) / 1000, exitCode: code, report: r?.report, dbPath: r ? paths.db : undefined })
    }
    if (!r) throw failure
    const { report } = r
    const result = { exit: code, session: r.session, subscriptions: r.subscriptions, changes: report.changes, problems: report.problems.map((p) => ({ ...p, message: redactText(p.message) })) }
    if (f.json) {
      if (code !== 0) {
        const n = report.problems.filter((p) => p.severity !== 'warning').length
        // the --json contract: error.exit is the run's exit, so the code is chosen by that exit (catalogue)
        this.fail(code === Exit.NETWORK
          ? new VmgitError('SYNC_UNREACHABLE', `sync could not fetch ${n} list(s) or image(s); the problems say why`)
          : code === Exit.USAGE
            ? new VmgitError('SYNC_MISCONFIGURED', `sync met ${n} problem(s), at least one of its configuration; the problems say what to fix`)
            : new VmgitError('SYNC_REJECTED', `sync rejected ${n} list(s) or image(s); the problems say why`), result)
      }
      this.emit(result, () => [])
    } else {
      const log = new Logger({ format: f['log-format'] as LogFormat })
      // S30: list-supplied text is escaped for people; JSON lines carry it exactly
      const esc = (m: string): string => (f['log-format'] === 'json' ? m : escapeText(m))
      for (const c of report.changes) log.info(esc(c.message), { kind: c.kind, subscription: c.subscription, image: c.image })
      for (const p of report.problems) {
        log.log(p.severity === 'warning' ? 'warning' : 'error', esc(redactText(p.message)), { code: p.code, subscription: p.subscription, image: p.image, mirror: p.mirror === undefined ? undefined : redactText(p.mirror) })
      }
    }
    if (code !== 0) this.exit(code)
  }
}
