/** docs/rules.md shows the rulebook (src/rules/book.ts) row for row; a rule changed in one place only fails here. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { RULES } from '../../src/rules/book.js'
import { ROOT } from '../helpers/cli.js'

describe('docs/rules.md', () => {
  it('has exactly one row per rule of the book, with its code, citation, rule and commands', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/rules.md'), 'utf8')
    const rows = doc.split('\n').filter((l) => /^\| [A-Z_]+ \|/.test(l))
    const expected = Object.values(RULES).map((r) => `| ${r.code} | ${r.cite} | ${r.rule.replace(/\|/g, '\\|')} | ${r.commands.join(', ')} |`)
    expect(rows).toEqual(expected)
  })
})
