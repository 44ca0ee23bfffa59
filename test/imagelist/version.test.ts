import { describe, expect, it } from 'vitest'
import { bumpVersion, compareVersions, splitNumericSort } from '../../src/imagelist/version.js'
import { golden, rng } from './helpers.js'

/**
 * golden/versioning-py2.json holds 3136 comparisons and 13 bumps computed by running vmcaster's
 * own `vmcasterpub/versioning.py` (identical to vmcatcher `stringsort.py`) under Python 2.7.18.
 */
const py2 = JSON.parse(golden('versioning-py2.json')) as { pairs: Array<[string, string, number]>; bumps: Array<[string, string]> }

describe('compareVersions', () => {
  it('agrees with vmcatcher split_numeric_sort (run under Python 2.7) on every stored pair, with the opposite sign', () => {
    const wrong = py2.pairs.filter(([a, b, rc]) => splitNumericSort(a, b) !== rc || compareVersions(a, b) !== -rc)
    expect(wrong).toEqual([])
  })

  it.each([
    ['0.0.9', '0.0.10', -1],
    ['1.2', '1.10', -1],
    ['3.3.0', '3.3.0-1', -1],
    ['20150618211400', '20150618211401', -1],
    ['1.2-rc2', '1.2-rc10', -1],
    ['1.2', '1.2a', 1], // a digit token beats a non-digit token
    ['1.0', '1.0.0', -1], // all compared tokens equal: the longer one wins
    ['2', '2', 0],
  ] as const)('orders %s vs %s as %i', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected)
  })

  it('keeps the vmcatcher quirk that "01.5" and "1.3" compare equal (same integer, different text ends the comparison)', () => {
    expect(compareVersions('01.5', '1.3')).toBe(0)
  })

  it('compares long digit runs exactly, beyond 2^53', () => {
    expect(compareVersions('1.90071992547409930', '1.90071992547409931')).toBe(-1)
  })

  it('is antisymmetric', () => {
    for (const [a, b] of py2.pairs) expect(compareVersions(a, b) + compareVersions(b, a)).toBe(0)
  })
})

describe('bumpVersion', () => {
  it('matches vmcaster bumpVersion (run under Python 2.7) on the stored vectors', () => {
    for (const [v, bumped] of py2.bumps) expect(bumpVersion(v)).toBe(bumped)
  })

  it.each([
    ['0.0.9', '0.0.10'],
    ['0.0.1a', '0.0.2a'],
    ['20150618211400', '20150618211401'],
    ['', '0.0.1'], // vmcaster: bumpVersion(old or "0.0.0")
    ['beta', 'beta.1'], // vmcaster returns None here; vmgit appends ".1"
  ])('bumps %j to %j', (v, bumped) => {
    expect(bumpVersion(v)).toBe(bumped)
  })

  it('always produces a version that vmcatcher sorts above the old one', () => {
    const r = rng(7)
    const alphabet = '0123456789.-,/abz_'
    for (let n = 0; n < 2000; n++) {
      let v = ''
      const len = Math.floor(r() * 10)
      for (let i = 0; i < len; i++) v += alphabet[Math.floor(r() * alphabet.length)]
      expect(compareVersions(v, bumpVersion(v)), `${JSON.stringify(v)} → ${JSON.stringify(bumpVersion(v))}`).toBe(-1)
    }
  })
})
