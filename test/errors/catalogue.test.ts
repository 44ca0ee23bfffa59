import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CATALOGUE } from '../../src/util/catalogue.js'
import { renderErrorsDoc } from '../../src/util/catalogue-doc.js'
import { VmgitError } from '../../src/util/errors.js'
import { ROOT } from '../helpers/cli.js'

const codes = Object.keys(CATALOGUE)

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}
const src = sources(path.join(ROOT, 'src')).filter((f) => !f.endsWith(path.join('util', 'catalogue.ts')))
const text = src.map((f) => readFileSync(f, 'utf8')).join('\n')

describe('the error catalogue (issue 14: one catalogue)', () => {
  it(`holds ${codes.length} codes, sorted, one per entry, each with an exit status, a meaning and what to do`, () => {
    expect(codes).toEqual([...codes].sort())
    for (const c of codes) {
      const e = CATALOGUE[c as keyof typeof CATALOGUE]
      expect(c, c).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/)
      expect([0, 1, 2, 3], c).toContain(e.exit)
      expect(e.meaning.length, `${c} meaning`).toBeGreaterThan(10)
      expect(e.fix.length, `${c} fix`).toBeGreaterThan(3)
    }
  })

  it('docs/errors.md is generated from it and up to date (npm run docs:errors)', () => {
    expect(readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8')).toBe(renderErrorsDoc())
  })

  it('every code written at a code site in src/ is catalogued (tsc checks the typed sites; this catches the rest)', () => {
    const site = /(?:VmgitError|usageError|networkError|transferError|configError|mimeError|problemAt\([^)]*?|\bcode:|\bcodes:\s*\[|\bcode\s*=)\s*\(?\s*'([A-Z][A-Z0-9_]+)'/g
    const used = new Set([...text.matchAll(site)].map((m) => m[1] ?? ''))
    const errno = /^E[A-Z]+$|^SQLITE_(?!NOT_BUILT)/ // node's and SQLite's own codes, matched on, never reported
    expect([...used].filter((c) => !errno.test(c) && !(c in CATALOGUE))).toEqual([])
  })

  it('has no dead entries: every catalogued code is used somewhere in src/', () => {
    expect(codes.filter((c) => !text.includes(`'${c}'`))).toEqual([])
  })

  it('gives every VmgitError its exit status from the catalogue (warning-only codes fail with 1 when thrown)', () => {
    expect(new VmgitError('NO_URL', 'x').exit).toBe(2)
    expect(new VmgitError('FETCH_FAILED', 'x').exit).toBe(3)
    expect(new VmgitError('ROLLBACK', 'x').exit).toBe(1)
    expect(new VmgitError('NOT_UUID', 'x').exit).toBe(1)
    expect(new VmgitError('NO_URL', 'x').toJSON()).toEqual({ code: 'NO_URL', message: 'x', exit: 2 })
  })
})
