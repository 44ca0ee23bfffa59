/** docs/rules.md shows the rulebook (src/rules/book.ts) row for row; a rule changed in one place only fails here. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { outcomeOf, RULES, type Rule } from '../../src/rules/book.js'
import { ROOT } from '../helpers/cli.js'

describe('docs/rules.md', () => {
  it('has exactly one row per rule of the book, with its code, citation, rule and commands (each with its outcome where it is not "refuses")', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/rules.md'), 'utf8')
    const rows = doc.split('\n').filter((l) => /^\| [A-Z][A-Z0-9_]* \|/.test(l))
    const commands = (r: Rule): string => r.commands.map((c) => (outcomeOf(r, c) === 'refuses' ? c : `${c} (${outcomeOf(r, c)})`)).join(', ')
    const expected = Object.values(RULES).map((r) => `| ${r.code} | ${r.cite} | ${r.rule.replace(/\|/g, '\\|')} | ${commands(r)} |`)
    expect(rows).toEqual(expected)
  })
})
