import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { STRICTER_RULES } from '../../src/smime/rules.js'
import { ROOT } from '../helpers/cli.js'

describe('S21 the stricter-than-OpenSSL rules (src/smime/rules.ts)', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/verification.md'), 'utf8')
  it('are each documented in docs/verification.md with their code', () => {
    for (const r of STRICTER_RULES) expect(doc).toMatch(new RegExp(`\\| \`${r.id}\` \\|[^\\n]*\`${r.codes[0]}\``))
  })
  it('have unique ids and at least one code each', () => {
    expect(new Set(STRICTER_RULES.map((r) => r.id)).size).toBe(STRICTER_RULES.length)
    for (const r of STRICTER_RULES) expect(r.codes.length).toBeGreaterThan(0)
  })
})
