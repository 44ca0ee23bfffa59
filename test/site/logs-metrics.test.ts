import { spawn } from 'node:child_process'
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, childEnv, ROOT } from '../helpers/cli.js'
import { type Baseline, imageEntry, subscribed } from '../subscriber/world.js'

/**
 * Issue 16, logs and metrics: under systemd every line carries its journald priority (so
 * `journalctl -p err` shows the errors), `--log-format json` gives one object per line, and
 * `--metrics-file` leaves a Prometheus textfile the collector can read at any moment.
 */

/** Run the CLI with stdout and stderr going to files, as systemd hands a service the journal's stream. */
async function runToFiles(dir: string, args: string[], env: Record<string, string | undefined>, journal?: 'stdout' | 'stderr' | 'both'): Promise<{ code: number; stdout: string; stderr: string }> {
  const outPath = path.join(dir, `out-${Math.random()}`), errPath = path.join(dir, `err-${Math.random()}`)
  const out = openSync(outPath, 'w'), err = openSync(errPath, 'w')
  const id = (fd: number): string => { const st = fstatSync(fd); return `${st.dev}:${st.ino}` }
  // JOURNAL_STREAM names one stream; 'both' is stdout and stderr being the same journal stream
  const both = journal === 'both'
  const stdio: ['ignore', number, number] = ['ignore', out, both ? out : err]
  const js = journal === 'stdout' || both ? id(out) : journal === 'stderr' ? id(err) : undefined
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv({ ...env, JOURNAL_STREAM: js }), stdio })
    child.on('error', reject)
    child.on('close', (c) => resolve(c ?? -1))
  })
  closeSync(out)
  closeSync(err)
  return { code, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8') }
}

/** Parse a Prometheus text exposition strictly: every sample has HELP and TYPE, every line is well formed. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  const typed = new Set<string>()
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.trimEnd().split('\n')) {
    const t = /^# (HELP|TYPE) ([a-z_:][a-z0-9_:]*) (.+)$/.exec(line)
    if (t) {
      if (t[1] === 'TYPE') { expect(t[3]).toBe('gauge'); typed.add(t[2] as string) }
      continue
    }
    const m = /^([a-z_:][a-z0-9_:]*)(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/.exec(line)
    expect(m, `malformed metrics line: ${line}`).not.toBeNull()
    expect(typed.has(m?.[1] as string), `no TYPE for ${line}`).toBe(true)
    samples.set(`${m?.[1]}${m?.[2] ?? ''}`, Number(m?.[3]))
  }
  return samples
}

describe('issue 16 logs and metrics', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed({ images: [30_000] })
  }, 120_000)
  afterAll(async () => b?.w.close())

  describe('logs under systemd (JOURNAL_STREAM)', () => {
    it('prefixes errors with <3> and changes with <6> when stderr and stdout are the journal', async () => {
      const { w } = b
      const x = w.image('journal.qcow2', 5000)
      await w.publish({ id: w.listId, version: '1.1', images: [...b.images, x] })
      const ok = await runToFiles(w.dir, ['sync', '--now', w.nowIso], w.env, 'both')
      expect(ok.code).toBe(0)
      const lines = ok.stdout.trimEnd().split('\n')
      expect(lines.length).toBeGreaterThan(0)
      for (const l of lines) expect(l).toMatch(/^<6>\S/)
      // a rejected list: one error line, priority 3
      w.server.set('/list.smime', { body: Buffer.from('not a signed list') })
      const bad = await runToFiles(w.dir, ['sync', '--now', w.nowIso], w.env, 'stderr')
      expect(bad.code).toBe(1)
      const errs = bad.stderr.trimEnd().split('\n')
      for (const l of errs) expect(l).toMatch(/^<[34]>(error|warning) \[[A-Z_]+\]: /)
      expect(errs.some((l) => l.startsWith('<3>error ['))).toBe(true)
    })

    it('prefixes usage errors (before any sync) and every line of a multi-line message', async () => {
      const { w } = b
      const r = await runToFiles(w.dir, ['sub', 'list'], { ...w.env, VMGIT_DB: path.join(w.dir, 'nowhere/x.db') }, 'stderr')
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/^<3>error \[NO_DATABASE\]: /)
      for (const l of r.stderr.trimEnd().split('\n')) expect(l).toMatch(/^<3>/)
    })

    it('adds no prefix when JOURNAL_STREAM names another stream (a handler or a pipe inherited the variable)', async () => {
      const { w } = b
      const r = await runToFiles(w.dir, ['sub', 'list'], { ...w.env, VMGIT_DB: path.join(w.dir, 'nowhere/x.db') }, 'stdout')
      expect(r.stderr).toMatch(/^error \[NO_DATABASE\]: /)
    })
  })

  describe('--log-format json', () => {
    it('writes one JSON object per line: changes on stdout, problems on stderr, each with level, code and list', async () => {
      const { w } = b
      await w.publish({ id: w.listId, version: '1.2', images: b.images })
      const ok = await w.sync(['--log-format', 'json'])
      expect(ok.code).toBe(0)
      const changes = ok.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(changes.some((c) => c.level === 'info' && c.kind === 'list-updated' && c.subscription === w.listId)).toBe(true)
      for (const c of changes) expect(typeof c.time).toBe('string')
      w.server.set('/list.smime', { status: 500 })
      const bad = await w.sync(['--log-format', 'json'])
      expect(bad.code).toBe(3)
      const problems = bad.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(problems.some((p) => p.level === 'error' && typeof p.code === 'string' && p.subscription === w.listId)).toBe(true)
    })

    it('reports a failure before the sync starts as one JSON line too', async () => {
      const { w } = b
      const r = await w.cli(['sync', '--log-format', 'json'], { env: { VMGIT_DB: path.join(w.dir, 'nowhere/x.db') } })
      expect(r.code).toBe(2)
      const obj = JSON.parse(r.stderr.trim()) as Record<string, unknown>
      expect(obj).toMatchObject({ level: 'error', code: 'NO_DATABASE' })
    })
  })

  describe('--metrics-file', () => {
    it('writes the last run, the last success and per-list facts, atomically, and keeps the last success across a failed run', async () => {
      const { w } = b
      const file = path.join(w.dir, 'metrics/vmgit.prom')
      const y = w.image('metrics.qcow2', 7777)
      const expires = new Date(w.now.getTime() + 5 * 86400_000)
      await w.publish({ id: w.listId, version: '2.0', images: [...b.images, imageEntry(y)], expires })
      const first = await w.sync(['--metrics-file', file])
      expect(first.code, first.stderr).toBe(0)
      expect((await w.cli(['sub', 'select', y.id])).code).toBe(0)
      const t1 = new Date(w.now.getTime() + 60_000)
      const ok = await w.sync(['--metrics-file', file], { now: t1 })
      expect(ok.code, ok.stderr).toBe(0)
      const m1 = parseProm(readFileSync(file, 'utf8'))
      const sub = `{subscription="${w.listId}"}`
      expect(m1.get('vmgit_sync_last_run_timestamp_seconds')).toBe(t1.getTime() / 1000)
      expect(m1.get('vmgit_sync_last_success_timestamp_seconds')).toBe(t1.getTime() / 1000)
      expect(m1.get('vmgit_sync_exit_code')).toBe(0)
      expect(m1.get('vmgit_sync_downloaded_bytes')).toBe(7777)
      expect(m1.get('vmgit_sync_duration_seconds')).toBeGreaterThan(0)
      expect(m1.get(`vmgit_subscription_info{subscription="${w.listId}",version="2.0",status="ok"}`)).toBe(1)
      expect(m1.get(`vmgit_subscription_ok${sub}`)).toBe(1)
      expect(m1.get(`vmgit_subscription_expiry_timestamp_seconds${sub}`)).toBe(Math.floor(expires.getTime() / 1000))
      expect(m1.get(`vmgit_subscription_images_cached${sub}`)).toBe(b.images.length + 1)
      expect(m1.get(`vmgit_subscription_images_failed${sub}`)).toBe(0)
      expect(statSync(file).mode & 0o777).toBe(0o644)

      // a rejected list: last run moves, last success stays, the list is flagged
      w.server.set('/list.smime', { body: await w.signed({ id: w.listId, version: '1.0', images: b.images }) })
      const t2 = new Date(w.now.getTime() + 120_000)
      const bad = await w.sync(['--metrics-file', file], { now: t2 })
      expect(bad.code).toBe(1)
      const m2 = parseProm(readFileSync(file, 'utf8'))
      expect(m2.get('vmgit_sync_last_run_timestamp_seconds')).toBe(t2.getTime() / 1000)
      expect(m2.get('vmgit_sync_last_success_timestamp_seconds')).toBe(t1.getTime() / 1000)
      expect(m2.get('vmgit_sync_exit_code')).toBe(1)
      expect(m2.get(`vmgit_subscription_ok${sub}`)).toBe(0)
      expect(m2.get(`vmgit_subscription_info{subscription="${w.listId}",version="2.0",status="error"}`)).toBe(1)

      // a run that cannot even open its database still records the attempt
      const t3 = new Date(w.now.getTime() + 180_000)
      const none = await w.sync(['--metrics-file', file], { now: t3, env: { VMGIT_DB: path.join(w.dir, 'nowhere/x.db') } })
      expect(none.code).toBe(2)
      const m3 = parseProm(readFileSync(file, 'utf8'))
      expect(m3.get('vmgit_sync_last_run_timestamp_seconds')).toBe(t3.getTime() / 1000)
      expect(m3.get('vmgit_sync_last_success_timestamp_seconds')).toBe(t1.getTime() / 1000)
      expect(m3.get('vmgit_sync_exit_code')).toBe(2)
      // atomic replacement leaves nothing beside the file
      expect(readdirSync(path.dirname(file))).toEqual(['vmgit.prom'])
    })
  })
})
