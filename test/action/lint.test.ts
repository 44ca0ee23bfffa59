import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * Issue 13, "the action loads and is linted": scripts/lint-actions.mjs (part of `npm run lint`)
 * passes on the repository and fails on a broken action.yml, workflow or template.
 */

interface Problem {
  file: string
  line: number
  col: number
  message: string
}
interface Linter {
  lintAll(root?: string): Promise<Problem[]>
  lintActionMetadata(root?: string): Problem[]
}
const SCRIPT = path.join(ROOT, 'scripts/lint-actions.mjs')
const load = async () => (await import(SCRIPT)) as Linter

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-lint-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const TEMPLATE = 'templates/repo/dot-github/workflows/vmgit.yml'

/** A copy of the files the linter reads, committed in a fresh git repository, with `edit` applied. */
function copy(name: string, edit: Record<string, (text: string) => string> = {}): string {
  const root = path.join(tmp, name)
  for (const f of ['action.yml', 'action/dist/index.mjs', '.github/workflows/ci.yml', TEMPLATE]) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true })
    cpSync(path.join(ROOT, f), path.join(root, f))
  }
  for (const [f, fn] of Object.entries(edit)) writeFileSync(path.join(root, f), fn(readFileSync(path.join(root, f), 'utf8')))
  execFileSync('git', ['init', '-q'], { cwd: root })
  execFileSync('git', ['add', '-A'], { cwd: root })
  return root
}

describe('npm run lint for the action and the workflows', () => {
  it('passes on this repository (action.yml, .github/workflows, the init template)', async () => {
    const { lintAll } = await load()
    expect(await lintAll(ROOT)).toEqual([])
  }, 60_000)

  describe('when action.yml is broken', () => {
    it.each([
      ['an unquoted ": " in a description (the YAML GitHub refused)', (s: string) => s.replace(/^ {4}description: >-\n {6}For comment only, a token/m, '    description: For comment only, a token with `pull-requests: write`, a token'), /compact mappings|mapping/],
      ['a duplicate key', (s: string) => s.replace('  base:\n', '  base:\n    required: false\n    required: true\n'), /[Dd]uplicate|unique/],
      ['runs.using node20', (s: string) => s.replace('using: node24', 'using: node20'), /must be node24/],
      ['a main file that is not there', (s: string) => s.replace('main: action/dist/index.mjs', 'main: action/dist/missing.mjs'), /does not exist/],
      ['a boolean default', (s: string) => s.replace("default: 'false'", 'default: false'), /default must be a string/],
      ['an unknown key in an input', (s: string) => s.replace('    required: false\n    default: plan', '    requierd: false\n    default: plan'), /unknown key "requierd"/],
      ['an output with a value in a JavaScript action', (s: string) => s.replace('  changed:\n', '  changed:\n    value: ${{ steps.x.outputs.changed }}\n'), /unknown key "value"/],
      ['an input without a description', (s: string) => s.replace(/ {2}lists:\n {4}description: >-\n.*\n/, '  lists:\n'), /missing required key "description"/],
    ])('fails on %s', async (_what, edit, message) => {
      const { lintActionMetadata } = await load()
      const root = copy(`a-${Math.random().toString(36).slice(2)}`, { 'action.yml': edit })
      const problems = lintActionMetadata(root)
      expect(problems.map((p) => p.message).join('\n')).toMatch(message)
      expect(problems[0]).toMatchObject({ file: 'action.yml', line: expect.any(Number), col: expect.any(Number) })
    })
  })

  describe('when a workflow or the template is broken', () => {
    it.each([
      ['a job that needs a job that does not exist', TEMPLATE, (s: string) => s.replace('    needs: plan\n', '    needs: plann\n'), /plann/],
      ['an unknown context in an expression', TEMPLATE, (s: string) => s.replace('github.base_ref', 'github.base_reff'), /base_reff/],
      ['a step with both uses and run', TEMPLATE, (s: string) => s.replace('          command: validate\n', '          command: validate\n        run: echo hi\n'), /run|uses/],
      ['a third-party action pinned by tag', TEMPLATE, (s: string) => s.replace(/actions\/checkout@[0-9a-f]{40} # v5\.0\.0/, 'actions/checkout@v5'), /actions\/checkout@v5 is not pinned/],
      ['a SHA without its version comment', '.github/workflows/ci.yml', (s: string) => s.replace(/(actions\/setup-node@[0-9a-f]{40}) # v5\.0\.0/, '$1'), /say which version/],
      ['a shell bug in a run: block (shellcheck)', '.github/workflows/ci.yml', (s: string) => s.replace('run: sudo -E bash .ci/run', 'run: cd $HOME/x && bash .ci/run'), /shellcheck: .*SC2086/],
    ])('fails on %s', async (_what, file, edit, message) => {
      const { lintAll } = await load()
      const problems = await lintAll(copy(`w-${Math.random().toString(36).slice(2)}`, { [file]: edit }))
      expect(problems.filter((p) => p.file === file).map((p) => p.message).join('\n')).toMatch(message)
    }, 60_000)
  })
})
