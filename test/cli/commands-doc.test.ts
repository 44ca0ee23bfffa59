import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

// docs/commands.md is generated from oclif.manifest.json by scripts/readme-commands.mjs; these
// tests keep it in step with the commands (the manifest test keeps the manifest in step with dist/).

interface Generator {
  renderCommandsDoc(manifest: unknown, pkg: unknown): string
  DOC_FILE: string
  REGENERATE: string
}
const SCRIPT = path.join(ROOT, 'scripts/readme-commands.mjs')
// a plain .mjs script, imported through a variable so tsc does not look for its types
const load = async () => (await import(SCRIPT)) as Generator
const json = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, unknown>

const tmp = mkdtempSync(path.join(tmpdir(), 'vmgit-doc-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('docs/commands.md', () => {
  it('is what scripts/readme-commands.mjs generates from oclif.manifest.json', async () => {
    const { renderCommandsDoc, DOC_FILE, REGENERATE } = await load()
    const expected = renderCommandsDoc(json('oclif.manifest.json'), json('package.json'))
    let written = ''
    try {
      written = readFileSync(DOC_FILE, 'utf8')
    } catch {
      // missing: stale too
    }
    if (written !== expected) expect.fail(`docs/commands.md is stale: ${REGENERATE} (after npm run build)`)
  })

  it('documents every visible command with its usage, flags and examples', async () => {
    const { renderCommandsDoc } = await load()
    const manifest = json('oclif.manifest.json') as { commands: Record<string, { hidden?: boolean }> }
    const doc = renderCommandsDoc(manifest, json('package.json'))
    for (const [id, c] of Object.entries(manifest.commands)) if (!c.hidden) expect(doc).toContain(`### vmgit ${id.split(':').join(' ')}\n`)
    expect(doc).toContain('vmgit validate [--repo=<value>] [--watch] [--json]')
    expect(doc).toContain('- `--repo=<value>` Repository directory. (default `.`; env `VMGIT_REPO`)')
    expect(doc).toContain('$ vmgit render production --watch')
    // a hidden test hook stays out of the reference, as it does out of --help
    expect(doc).not.toMatch(/--now=<value>` Time the lists are rendered at/)
  })
})

describe('scripts/readme-commands.mjs', () => {
  const fixture = {
    commands: {
      'zeta': { id: 'zeta', summary: 'Last command', args: {}, flags: {}, examples: [] },
      'grp:one': {
        id: 'grp:one',
        summary: 'Do one thing',
        description: 'Longer text about <things> and *stars*.\n\nModes:\n  vmgit grp one --fast   quickly\n  vmgit grp one          slowly',
        args: { file: { name: 'file', description: 'Input file.', required: true } },
        flags: {
          json: { name: 'json', type: 'boolean', description: 'JSON output.', allowNo: false },
          mode: { name: 'mode', type: 'option', description: 'How.', options: ['a', 'b'], default: 'a', env: 'X_MODE', char: 'm' },
          'crl-check': { name: 'crl-check', type: 'boolean', description: 'Check CRLs.', allowNo: true, default: true },
          secret: { name: 'secret', type: 'option', description: 'Test hook.', hidden: true },
          db: { name: 'db', type: 'option', description: 'Database.', helpGroup: 'STATE' },
        },
        examples: ['<%= config.bin %> grp one a.txt', { description: 'Fast.', command: '<%= config.bin %> <%= command.id %> -m b a.txt' }],
      },
      'hidden-cmd': { id: 'hidden-cmd', summary: 'Internal', hidden: true, args: {}, flags: {}, examples: [] },
    },
  }
  const pkg = { name: 'vmgit', oclif: { bin: 'vmgit', topics: { grp: { description: 'group of things' } } } }

  it('groups by topic, skips hidden commands and flags, and lists env vars, defaults and options', async () => {
    const { renderCommandsDoc } = await load()
    const doc = renderCommandsDoc(fixture, pkg)
    expect(doc).not.toContain('hidden-cmd')
    expect(doc).not.toContain('--secret')
    expect(doc.indexOf('## Commands')).toBeLessThan(doc.indexOf('### vmgit zeta'))
    expect(doc.indexOf('### vmgit zeta')).toBeLessThan(doc.indexOf('## vmgit grp'))
    expect(doc).toContain('## vmgit grp\n\nGroup of things.\n')
    expect(doc).toContain('vmgit grp one FILE [-m --mode=a|b] [--[no-]crl-check] [--db=<value>] [--json]')
    expect(doc).toContain('- `-m, --mode=a|b` How. (one of `a`, `b`; default `a`; env `X_MODE`)')
    expect(doc).toContain('- `--[no-]crl-check` Check CRLs. (default `true`)')
    expect(doc).toContain('State flags:\n\n- `--db=<value>` Database.')
    expect(doc).toContain('- `FILE` Input file. (required)')
    // prose is escaped for Markdown; indented lines stay verbatim in a code block
    expect(doc).toContain('Longer text about \\<things> and \\*stars\\*.')
    expect(doc).toContain('```text\nvmgit grp one --fast   quickly\nvmgit grp one          slowly\n```')
    expect(doc).toContain('```sh\n$ vmgit grp one a.txt\n# Fast.\n$ vmgit grp one -m b a.txt\n```')
  })

  it('--check exits 1 with what to run when the file is stale, 0 when it is current', () => {
    const file = path.join(tmp, 'commands.md')
    writeFileSync(file, '# old\n')
    const stale = spawnSync(process.execPath, [SCRIPT, '--check', '--out', file], { encoding: 'utf8' })
    expect(stale.status).toBe(1)
    expect(stale.stderr).toContain('run `node scripts/readme-commands.mjs`')
    const write = spawnSync(process.execPath, [SCRIPT, '--out', file], { encoding: 'utf8' })
    expect(write.status).toBe(0)
    const current = spawnSync(process.execPath, [SCRIPT, '--check', '--out', file], { encoding: 'utf8' })
    expect(current.status, current.stderr).toBe(0)
  })
})
