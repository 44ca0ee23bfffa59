/**
 * Issue 14: one `--now`/`--at` parser with one error code (BAD_TIME) and one duration grammar
 * (BAD_DURATION), the same in every command that takes a time or a duration.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { durationOf, parseDuration, parseInstant, parseTimeFlag } from '../../src/rules/time.js'
import { runCli } from '../helpers/cli.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-time-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('issue 14: one time parser', () => {
  describe('when the text is an ISO 8601 instant with a zone', () => {
    it('accepts Z, offsets and fractions', () => {
      expect(parseInstant('2024-06-01T12:00:00Z')?.toISOString()).toBe('2024-06-01T12:00:00.000Z')
      expect(parseInstant('2024-06-01T12:00:00.750Z')?.toISOString()).toBe('2024-06-01T12:00:00.750Z')
      expect(parseInstant('2024-06-01T14:00:00+02:00')?.toISOString()).toBe('2024-06-01T12:00:00.000Z')
    })
  })
  describe('when the text is anything else', () => {
    it.each(['yesterday', '2024', '2024-06-01', '2024-06-01T12:00:00', 'June 1 2024', '2024-02-30T00:00:00Z', '2024-06-01 12:00:00Z', ''])(
      'refuses %j with BAD_TIME (exit 2)', (t) => {
        expect(parseInstant(t)).toBeUndefined()
        expect(() => parseTimeFlag(t, 'now')).toThrow(expect.objectContaining({ code: 'BAD_TIME', exit: 2 }))
      })
  })

  // every command with a time flag: the same code for the same bad text (three parsers, two codes before)
  const commands: [string, string[]][] = [
    ['validate --now', ['validate', '--repo', tmp, '--now', '2024-06-01T12:00:00']],
    ['plan --now', ['plan', '--repo', tmp, '--now', '2024-06-01T12:00:00']],
    ['render --now', ['render', '--repo', tmp, '--now', '2024-06-01T12:00:00']],
    ['publish --now', ['publish', '--repo', tmp, '--now', '2024-06-01T12:00:00']],
    ['sign --now', ['sign', '--in', path.join(tmp, 'x.json'), '--now', '2024-06-01T12:00:00']],
    ['verify --at', ['verify', path.join(tmp, 'x.smime'), '--at', '2024-06-01T12:00:00']],
    ['import --at', ['import', path.join(tmp, 'x.smime'), '--repo', tmp, '--at', '2024-06-01T12:00:00']],
    ['sync --now', ['sync', '--db', path.join(tmp, 'db'), '--now', '2024-06-01T12:00:00']],
    ['sub add --now', ['sub', 'add', 'https://127.0.0.1:9/x', '--db', path.join(tmp, 'db'), '--now', '2024-06-01T12:00:00']],
    ['glance reconcile --now', ['glance', 'reconcile', '--db', path.join(tmp, 'db'), '--now', '2024-06-01T12:00:00']],
  ]
  it.each(commands)('%s refuses a time without a zone with BAD_TIME, exit 2', async (_name, args) => {
    const r = await runCli(args)
    expect(r.stderr).toMatch(/BAD_TIME/)
    expect(r.code).toBe(2)
  })
})

describe('issue 14: one duration grammar', () => {
  it('reads a whole number and a unit s, m, h, d or w', () => {
    expect(['30s', '90m', '12h', '28d', '2w'].map((t) => parseDuration(t))).toEqual([30_000, 5_400_000, 43_200_000, 2_419_200_000, 1_209_600_000])
  })
  it('reads 0 only where zero is allowed', () => {
    expect(parseDuration('0')).toBeUndefined()
    expect(parseDuration('0', { allowZero: true })).toBe(0)
  })
  it.each(['90', '1.5d', '-1d', '0d', '7 days', 'd', '10ms', ''])('refuses %j with BAD_DURATION (exit 2)', (t) => {
    expect(() => durationOf('--refresh-before', t, { allowZero: true })).toThrow(expect.objectContaining({ code: 'BAD_DURATION', exit: 2 }))
  })
  it('is the grammar of publish --refresh-before', async () => {
    const r = await runCli(['publish', '--repo', tmp, '--dry-run', '--refresh-before', '90'])
    expect(r.stderr).toMatch(/BAD_DURATION/)
    expect(r.code).toBe(2)
  })
})
