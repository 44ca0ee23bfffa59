import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * Issue 16, systemd and cron: the shipped units verify, the service is hardened (exposure at most
 * 2.0 in `systemd-analyze security --offline=yes`; the first version scored 8.5), every optional
 * path is optional, both /etc/default/vmgit and /etc/sysconfig/vmgit are read, and the timer makes up
 * missed runs with jitter. Needs systemd-analyze (present under CI; missing there is a failure).
 */
const DIR = path.join(ROOT, 'examples/systemd')
const SERVICE = path.join(DIR, 'vmgit-sync.service')
const TIMER = path.join(DIR, 'vmgit-sync.timer')
const CRON = path.join(DIR, 'vmgit-sync.cron')
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0
if (!analyze && process.env.CI) throw new Error('systemd-analyze is missing under CI: install systemd (.ci/run does)')

/** `Key=value` lines of a unit's section. */
function directives(file: string, section: string): [string, string][] {
  const out: [string, string][] = []
  let cur = ''
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim()
    if (line.startsWith('[')) cur = line
    else if (cur === `[${section}]` && /^[A-Za-z]+=/.test(line)) out.push([line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
  }
  return out
}
const values = (file: string, section: string, key: string): string[] => directives(file, section).filter(([k]) => k === key).map(([, v]) => v)

describe('issue 16 systemd units', () => {
  describe.skipIf(!analyze)('when checked by systemd-analyze (skipped without it: not installed)', () => {
    it('verify passes for the service and the timer, with no warning', () => {
      const r = spawnSync('systemd-analyze', ['verify', './vmgit-sync.service', './vmgit-sync.timer'], { cwd: DIR, encoding: 'utf8' })
      expect(r.stderr.trim()).toBe('')
      expect(r.status).toBe(0)
    })

    it('the service scores at most 2.0 in the offline security analysis', () => {
      const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', './vmgit-sync.service'], { cwd: DIR, encoding: 'utf8' })
      const m = /Overall exposure level for vmgit-sync\.service: (\d+\.\d+)/.exec(r.stdout + r.stderr)
      expect(m, r.stdout + r.stderr).not.toBeNull()
      expect(Number(m?.[1])).toBeLessThanOrEqual(2.0)
    })
  })

  describe('the service', () => {
    it('makes every path it does not create itself optional (-), so a host without it still starts the unit', () => {
      for (const key of ['ReadOnlyPaths', 'ReadWritePaths', 'InaccessiblePaths', 'EnvironmentFile']) {
        for (const v of values(SERVICE, 'Service', key)) for (const p of v.split(/\s+/)) expect(p, `${key}=${v}`).toMatch(/^-\//)
      }
    })

    it('reads both /etc/default/vmgit (Debian) and /etc/sysconfig/vmgit (EL), the latter winning', () => {
      expect(values(SERVICE, 'Service', 'EnvironmentFile')).toEqual(['-/etc/default/vmgit', '-/etc/sysconfig/vmgit'])
    })

    it('finds vmgit wherever npm or a package installed it, and runs it as the vmgit user', () => {
      const [exec] = values(SERVICE, 'Service', 'ExecStart')
      expect(exec).toMatch(/^\/usr\/bin\/env vmgit sync\b/)
      expect(values(SERVICE, 'Service', 'User')).toEqual(['vmgit'])
    })

    it('points its documentation at a heading the README has', () => {
      const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
      const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => (m[1] as string).toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')))
      for (const file of [SERVICE, TIMER]) {
        for (const doc of values(file, 'Unit', 'Documentation')) expect(anchors.has(doc.split('#')[1] ?? '')).toBe(true)
      }
    })
  })

  describe('the timer', () => {
    it('makes up missed runs (Persistent=true) and spreads a fleet over a randomized delay', () => {
      expect(values(TIMER, 'Timer', 'Persistent')).toEqual(['true'])
      expect(values(TIMER, 'Timer', 'RandomizedDelaySec')[0]).toMatch(/^\d+(min|s|h)?$/)
      expect(values(TIMER, 'Install', 'WantedBy')).toEqual(['timers.target'])
    })
  })

  describe('the cron file', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-cron-'))
    afterAll(() => rmSync(tmp, { recursive: true, force: true }))

    it('runs vmgit sync as the vmgit user with the settings of both files (sysconfig last)', () => {
      const line = readFileSync(CRON, 'utf8').split('\n').find((l) => /^[\d*]/.test(l)) as string
      const fields = line.split(/\s+/)
      expect(fields[5]).toBe('vmgit')
      const command = fields.slice(6).join(' ')
      // the same command, with the two settings files moved into the test directory
      const def = path.join(tmp, 'default'), sys = path.join(tmp, 'sysconfig')
      writeFileSync(def, 'VMGIT_EVENT=/usr/bin/from-default\nVMGIT_SYNC_OPTS="--jobs 4"\n')
      writeFileSync(sys, 'VMGIT_EVENT=/usr/bin/from-sysconfig\n')
      const stub = path.join(tmp, 'vmgit')
      writeFileSync(stub, '#!/bin/sh\necho "args=$*"\necho "event=$VMGIT_EVENT"\n')
      chmodSync(stub, 0o755)
      const out = execFileSync('/bin/sh', ['-c', command.replace('/etc/default/vmgit', def).replace('/etc/sysconfig/vmgit', sys)], {
        env: { PATH: `${tmp}:/usr/bin:/bin` }, encoding: 'utf8',
      })
      expect(out).toBe('args=sync --jobs 4\nevent=/usr/bin/from-sysconfig\n')
    })
  })
})
