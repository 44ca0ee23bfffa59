import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * The README's "Environment variables" table is the one list of the VMGIT_* variables vmgit
 * reads: a variable the code reads (process.env.X, env.X, a flag's `env: 'X'`, a message naming
 * it) and the table does not name is a setting nobody can find.
 */

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : []
  })
}

const VAR = /\bVMGIT_[A-Z0-9_]*[A-Z0-9]\b/g

/** Every VMGIT_* name written in src/, with the first file that names it. */
function readByCode(): Map<string, string> {
  const out = new Map<string, string>()
  for (const file of sources(path.join(ROOT, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(VAR)) if (!out.has(m[0])) out.set(m[0], path.relative(ROOT, file))
  }
  return out
}

/** The README's "### Environment variables" section: the names in its table's first column. */
function documented(): Set<string> {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('\n### Environment variables\n')
  expect(start, 'README.md has no "### Environment variables" section').toBeGreaterThan(0)
  const end = readme.indexOf('\n#', start + 2)
  const rows = readme.slice(start, end).split('\n').filter((l) => l.startsWith('| `'))
  return new Set(rows.flatMap((r) => [...(r.split('|')[1] ?? '').matchAll(VAR)].map((m) => m[0])))
}

describe('the README documents every environment variable vmgit reads', () => {
  it('names in its "Environment variables" table each VMGIT_* variable src/ reads', () => {
    const code = readByCode()
    expect(code.size).toBeGreaterThan(20)
    const table = documented()
    const missing = [...code].filter(([v]) => !table.has(v)).map(([v, file]) => `${v} (${file})`)
    expect(missing, 'add these to the README table with their default').toEqual([])
  })

  it('names no variable that neither src/ nor the shipped examples read (a stale row)', () => {
    const code = readByCode()
    const examples = readFileSync(path.join(ROOT, 'examples/systemd/vmgit-sync.service'), 'utf8') + readFileSync(path.join(ROOT, 'examples/systemd/vmgit-sync.cron'), 'utf8')
    const stale = [...documented()].filter((v) => !code.has(v) && !examples.includes(v))
    expect(stale).toEqual([])
  })

  it('gives the network timeouts the defaults the code uses', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const row = (v: string) => readme.split('\n').find((l) => l.startsWith(`| \`${v}\``)) ?? ''
    const flags = readFileSync(path.join(ROOT, 'src/subscriber/flags.ts'), 'utf8')
    const source = readFileSync(path.join(ROOT, 'src/net/source.ts'), 'utf8')
    for (const [v, flag] of [['VMGIT_CONNECT_TIMEOUT', 'connect-timeout'], ['VMGIT_IDLE_TIMEOUT', 'idle-timeout'], ['VMGIT_DEADLINE', 'deadline']] as const) {
      // sync / sub add: the flag's default (seconds); the library: envSeconds(…) ?? <ms>
      const flagDefault = new RegExp(`'?${flag}'?: Flags\\.integer\\(\\{[^}]*default: (\\d+)`).exec(flags)?.[1]
      const libDefault = new RegExp(`envSeconds\\(env, '${v}'\\) \\?\\? ([\\d_]+)`).exec(source)?.[1]
      expect(flagDefault, `${flag} default in src/subscriber/flags.ts`).toBeDefined()
      expect(libDefault, `${v} default in src/net/source.ts`).toBeDefined()
      expect(row(v)).toContain(flagDefault!)
      expect(row(v)).toContain(String(Number(libDefault!.replace(/_/g, '')) / 1000))
    }
  })
})
