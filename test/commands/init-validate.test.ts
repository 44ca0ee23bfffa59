import { parse as parseYaml } from 'yaml'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { registrySettings } from '../../src/oci/publish.js'
import type { VmgitError } from '../../src/util/errors.js'
import { runCli } from '../helpers/cli.js'
import { imageWith, tempDir, VALID, writeFiles } from '../model/repo-helpers.js'

let dir: string
let cleanup: () => void
beforeEach(() => ({ dir, cleanup } = tempDir('vmgit-cli-')))
afterEach(() => cleanup())

const REF = 'my-org/vmgit@0123456789abcdef0123456789abcdef01234567'
const NO_STACK = /\n\s+at .+\(.*:\d+:\d+\)/

describe('vmgit init', () => {
  it('scaffolds a repository that vmgit validate accepts as it is (exit 0)', async () => {
    const repo = path.join(dir, 'x')
    const init = await runCli(['init', repo, '--action-ref', REF])
    expect(init.code).toBe(0)
    for (const f of ['vmgit.yaml', 'endorsers/endorser.yaml', 'images/example-image.yaml', 'imagelists/example.yaml', '.github/workflows/vmgit.yml'])
      expect(existsSync(path.join(repo, f)), f).toBe(true)
    const v = await runCli(['validate', '--repo', repo])
    expect(v.stderr).toBe('')
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/^ok: 1 endorser\(s\), 1 image\(s\), 1 list\(s\), no problems/)
  })

  it('starts every YAML file with the yaml-language-server schema line and uses fresh UUIDs', async () => {
    await runCli(['init', dir])
    const list = readFileSync(path.join(dir, 'imagelists/example.yaml'), 'utf8')
    expect(list.split('\n')[0]).toBe('# yaml-language-server: $schema=https://vmgit.dev/schemas/imagelist.schema.json')
    expect(list).toMatch(/^identifier: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/m)
    expect(readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=https:\/\/vmgit\.dev\/schemas\/config\.schema\.json\n/)
  })

  it('warns, without failing, while the workflow keeps the action placeholder (no --action-ref)', async () => {
    const init = await runCli(['init', dir])
    expect(init.code).toBe(0)
    expect(init.stderr).toContain('placeholder OWNER/REPO@REF')
    const v = await runCli(['validate', '--repo', dir])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/\.github\/workflows\/vmgit\.yml:\d+:\d+: warning: uses the placeholder OWNER\/REPO@REF.*\[ACTION_PLACEHOLDER\]/)
  })

  it('writes the GitOps workflow: PR validate+plan without secrets, a comment job, publish in an environment, a daily refresh', async () => {
    await runCli(['init', dir, '--action-ref', REF])
    const wf = parseYaml(readFileSync(path.join(dir, '.github/workflows/vmgit.yml'), 'utf8')) as {
      on: Record<string, unknown>
      jobs: Record<string, { if?: string; environment?: string; permissions?: Record<string, string>; steps: { uses?: string; with?: Record<string, string> }[] }>
    }
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(['pull_request', 'push', 'schedule']))
    const commands = (job: string) => wf.jobs[job]!.steps.filter((s) => s.uses === REF).map((s) => s.with!.command)
    const secretsIn = (job: string) => JSON.stringify(wf.jobs[job]).includes('secrets.VMGIT')
    expect(commands('plan')).toEqual(['validate', 'plan'])
    expect(secretsIn('plan')).toBe(false)
    expect(wf.jobs.comment!.permissions).toEqual({ 'pull-requests': 'write' })
    expect(commands('comment')).toEqual(['comment'])
    expect(secretsIn('comment')).toBe(false)
    expect(wf.jobs.publish!.environment).toBe('publish')
    expect(commands('publish')).toEqual(['publish'])
    expect(wf.jobs.refresh!.if).toContain('schedule')
    expect(wf.jobs.refresh!.steps.at(-1)!.with!['refresh-before']).toBe('7d')
  })

  it('refuses to overwrite existing files (exit 2, nothing written) unless --force', async () => {
    writeFiles(dir, { 'vmgit.yaml': 'version: 1\n# mine\n' })
    const r = await runCli(['init', dir])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('INIT_EXISTS')
    expect(existsSync(path.join(dir, 'images'))).toBe(false)
    expect(readFileSync(path.join(dir, 'vmgit.yaml'), 'utf8')).toContain('# mine')
    const f = await runCli(['init', dir, '--force'])
    expect(f.code).toBe(0)
    expect(f.stdout).toContain('overwritten vmgit.yaml')
  })
})

describe('vmgit validate', () => {
  describe('when problems are planted', () => {
    it('prints each at path:line:col with its code and exits 1', async () => {
      writeFiles(dir, {
        ...VALID,
        'images/alma.yaml': imageWith({ sha512: 'ABC', version: '1.0' }),
        'imagelists/prod.yaml': VALID['imagelists/prod.yaml'] + '  - ghost\n',
      })
      const r = await runCli(['validate', '--repo', dir])
      expect(r.code).toBe(1)
      const lines = r.stdout.trim().split('\n')
      expect(lines.slice(0, 3)).toEqual([
        expect.stringMatching(new RegExp(`^${dir}/imagelists/prod\\.yaml:9:5: error: image "ghost" .*\\[UNKNOWN_IMAGE\\]$`)),
        expect.stringMatching(new RegExp(`^${dir}/images/alma\\.yaml:5:10: error: .*quote it.* \\[BAD_VERSION\\]$`)),
        expect.stringMatching(new RegExp(`^${dir}/images/alma\\.yaml:8:9: error: sha512 must be 128 lowercase hex digits .*\\[BAD_SHA512\\]$`)),
      ])
      expect(lines.at(-1)).toMatch(/^3 errors, 0 warnings in/)
    })

    it('gives the same problems as JSON with --json', async () => {
      writeFiles(dir, { ...VALID, 'images/alma.yaml': imageWith({ size: '-1' }) })
      const r = await runCli(['validate', '--repo', dir, '--json'])
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as { ok: boolean; problems: unknown[] }
      expect(out.ok).toBe(false)
      expect(out.problems).toEqual([
        { file: 'images/alma.yaml', line: 7, col: 7, severity: 'error', code: 'BAD_SIZE', message: expect.stringContaining('non-negative integer') },
      ])
    })

    it('reports a file that is not YAML at all, never a stack trace', async () => {
      writeFiles(dir, { ...VALID, 'images/alma.yaml': 'title: "unterminated\n  - [\n' })
      const r = await runCli(['validate', '--repo', dir])
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(new RegExp(`^${dir}/images/alma\\.yaml:\\d+:\\d+: error: invalid YAML: .*\\[YAML_SYNTAX\\]$`, 'm'))
      expect(r.stdout + r.stderr).not.toMatch(NO_STACK)
    })

    it('exits 0 when there are only warnings', async () => {
      writeFiles(dir, { ...VALID, 'images/alma.yaml': imageWith({ identifier: 'FOOBAR' }) })
      const r = await runCli(['validate', '--repo', dir])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(':1:13: warning: identifier FOOBAR is not an RFC 4122 UUID')
    })
  })

  describe('when --repo is not a repository', () => {
    it('exits 2 with NOT_A_REPOSITORY', async () => {
      const r = await runCli(['validate'], { cwd: dir })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('NOT_A_REPOSITORY')
    })
  })

  describe('with VMGIT_REPO', () => {
    it('reads the repository it names', async () => {
      writeFiles(dir, VALID)
      const r = await runCli(['validate'], { env: { VMGIT_REPO: dir } })
      expect(r.code).toBe(0)
    })
  })
})

describe('vmgit validate: vmgit.yaml registry: (the same checks as plan and publish)', () => {
  // [registry: as written, the code, line:col of the annotation]; each code is the one
  // registrySettings (src/oci/publish.ts), which plan and publish use, refuses it with
  const cases: [string, string, string, string][] = [
    ['an uppercase host', 'registry: oci://Registry.example.org/egi\n', 'OCI_REFERENCE_INVALID', '3:11'],
    ['a port above 65535', 'registry: oci://registry.example.org:99999/egi\n', 'OCI_REFERENCE_INVALID', '3:11'],
    ['a port with a leading zero', 'registry:\n  url: oci://registry.example.org:05000/egi\n', 'OCI_REFERENCE_INVALID', '4:8'],
    ['user info (a password in the URL)', 'registry: oci://ci:s3cret@registry.example.org/egi\n', 'OCI_REFERENCE_INVALID', '3:11'],
    ['an uppercase prefix', 'registry: oci://registry.example.org/EGI\n', 'OCI_REFERENCE_INVALID', '3:11'],
    ['a tag on the destination', 'registry: oci://registry.example.org/egi:latest\n', 'OCI_REFERENCE_INVALID', '3:11'],
    ['a ".." prefix component', 'registry:\n  url: oci://registry.example.org/egi/../x\n', 'OCI_REFERENCE_INVALID', '4:8'],
    ['a password in the map', 'registry:\n  url: oci://registry.example.org/egi\n  password: hunter2\n', 'TARGET_SECRET_IN_CONFIG', '5:3'],
    ['a capitalised Password in the map', 'registry:\n  url: oci://registry.example.org/egi\n  Password: hunter2\n', 'TARGET_SECRET_IN_CONFIG', '5:3'],
    ['a token in the map', 'registry:\n  url: oci://registry.example.org/egi\n  token: abc\n', 'TARGET_SECRET_IN_CONFIG', '5:3'],
    ['an empty moving_tag', 'registry:\n  url: oci://registry.example.org/egi\n  moving_tag: ""\n', 'CONFIG_INVALID', '5:15'],
    ['a negative chunk_size', 'registry:\n  url: oci://registry.example.org/egi\n  chunk_size: -1\n', 'CONFIG_INVALID', '5:15'],
    ['a fractional chunk_size', 'registry:\n  url: oci://registry.example.org/egi\n  chunk_size: 1.5\n', 'CONFIG_INVALID', '5:15'],
  ]

  describe.each(cases)('when it has %s', (_what, yaml, code, at) => {
    it(`exits 1 with ${code} at vmgit.yaml:${at}, the code plan and publish refuse it with`, async () => {
      writeFiles(dir, { ...VALID, 'vmgit.yaml': VALID['vmgit.yaml'] + yaml })
      const r = await runCli(['validate', '--repo', dir, '--json'])
      expect(r.code).toBe(1)
      const out = JSON.parse(r.stdout) as { ok: boolean; problems: { file: string; line: number; col: number; code: string; message: string }[] }
      expect(out.ok).toBe(false)
      const [line, col] = at.split(':').map(Number)
      expect(out.problems).toContainEqual({ file: 'vmgit.yaml', line, col, severity: 'error', code, message: expect.any(String) })
      // the same verdict as the parser plan and publish call (src/oci/publish.ts)
      const thrown = (() => {
        try {
          registrySettings(parseYaml(VALID['vmgit.yaml'] + yaml))
        } catch (e) {
          return e as VmgitError
        }
        return undefined
      })()
      expect(thrown?.code).toBe(code)
      expect(out.problems.find((p) => p.code === code)?.message).toBe(thrown?.message)
      // a secret key's value, or the password of a URL, is never echoed
      expect(r.stdout).not.toContain('hunter2')
      expect(r.stdout).not.toContain('s3cret')
    })
  })

  describe('when it is a valid destination (string or map)', () => {
    it.each(['registry: oci://registry.example.org/egi\n', 'registry:\n  url: oci://127.0.0.1:5000/a/b_c\n  moving_tag: "{sl:osversion}"\n  chunk_size: 1048576\n', 'registry: oci://[::1]:5000\n'])(
      'accepts %j (exit 0)',
      async (yaml) => {
        writeFiles(dir, { ...VALID, 'vmgit.yaml': VALID['vmgit.yaml'] + yaml })
        const r = await runCli(['validate', '--repo', dir, '--json'])
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, problems: [] })
        expect(r.code).toBe(0)
      },
    )
  })
})
