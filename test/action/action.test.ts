import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { makePki, opensslVerify, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'
import { exportCommitted, readActionYml, runAction, type StepResult } from './runner.js'

/**
 * Issue 13: the action as GitHub runs it, from the committed files (git archive HEAD), through
 * test/action/runner.ts. Four scenarios of the issue, then the comment job.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-action-'))
const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
const git = (cwd: string, ...a: string[]) => execFileSync('git', a, { cwd, env: GIT_ENV, stdio: 'pipe' }).toString()
const PUB = path.join(tmp, 'pub')
let actionDir: string
let pki: Pki
let keyPem: string
let certPem: string
let repo: FixtureRepo

/** Every line of the key that is secret (not the public -----BEGIN/END----- armour). */
const keyLines = () => keyPem.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('-----'))

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...(e.name === '.git' ? [] : filesUnder(p)))
    else if (statSync(p).size < 1 << 20) out.push(p)
  }
  return out
}

/** No line of the key anywhere but in ::add-mask:: commands: log, stderr, outputs, env, summary, files written. */
function expectNoKeyOutsideMasks(r: StepResult, dirs: string[]): void {
  const raw = r.raw.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')
  const places: Record<string, string> = {
    stdout: raw,
    stderr: r.stderr,
    outputs: JSON.stringify(r.outputs),
    GITHUB_ENV: JSON.stringify(r.env),
    summary: r.summary,
    ...Object.fromEntries(dirs.flatMap(filesUnder).map((f) => [f, readFileSync(f, 'latin1')])),
  }
  for (const line of keyLines()) for (const [where, text] of Object.entries(places)) if (text.includes(line)) expect.fail(`a line of the key is in ${where}`)
}

beforeAll(async () => {
  actionDir = exportCommitted(path.join(tmp, 'action'))
  pki = await makePki(path.join(tmp, 'pki'))
  keyPem = readFileSync(pki.signer.key, 'utf8')
  certPem = readFileSync(pki.signer.cert, 'utf8')
  // the endorser's repository, with an upstream (origin/main) as actions/checkout leaves it
  repo = makeFixtureRepo(path.join(tmp, 'ws/images-repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${PUB}/` }])
  writeFileSync(path.join(repo.dir, '.gitignore'), 'files/\n')
  git(repo.dir, 'init', '-q', '-b', 'main')
  git(repo.dir, 'add', '-A')
  git(repo.dir, 'commit', '-qm', 'first')
  git(tmp, 'clone', '-q', '--bare', repo.dir, path.join(tmp, 'upstream.git'))
  git(repo.dir, 'remote', 'add', 'origin', path.join(tmp, 'upstream.git'))
  git(repo.dir, 'fetch', '-q', 'origin')
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const workspace = () => path.dirname(repo.dir)

describe('the vmgit action, run as a GitHub runner runs it from git archive HEAD', () => {
  it('has an action.yml that parses and names a committed JavaScript bundle on node24', () => {
    const meta = readActionYml(actionDir)
    expect(meta.runs).toEqual({ using: 'node24', main: 'action/dist/index.mjs' })
    expect(readFileSync(path.join(actionDir, meta.runs.main!), 'utf8').length).toBeGreaterThan(1000)
  })

  describe('validate on a broken YAML file', () => {
    let r: StepResult
    let broken: string
    beforeAll(async () => {
      broken = path.join(tmp, 'ws/broken')
      cpSync(repo.dir, broken, { recursive: true })
      writeFileSync(path.join(broken, 'images/alma.yaml'), readFileSync(path.join(broken, 'images/alma.yaml'), 'utf8').replace(/^title: .*$/m, 'title: [unclosed'))
      r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'validate', 'working-directory': 'broken' } })
    })
    it('fails the step', () => expect(r.code).toBe(1))
    it('annotates the file at the line and column vmgit validate reports, relative to the workspace', async () => {
      const cli = await runCli(['validate', '--json', '--repo', broken])
      const problem = (JSON.parse(cli.stdout) as { problems: { file: string; line: number; col: number; code: string }[] }).problems.find((p) => p.file === 'images/alma.yaml')!
      expect(problem).toBeDefined()
      const annotation = r.annotations.find((a) => a.level === 'error' && a.props.file === 'broken/images/alma.yaml')
      expect(annotation?.props).toMatchObject({ line: String(problem.line), col: String(problem.col) })
      expect(r.raw).toMatch(new RegExp(`^::error file=broken/images/alma\\.yaml,line=${problem.line},col=${problem.col}[,:]`, 'm'))
    })
    it('sets changed=false and leaves RUNNER_TEMP empty', () => {
      expect(r.outputs.changed).toBe('false')
      expect(r.runnerTempLeft).toEqual([])
    })
  })

  describe('plan on a pull request that changes an image (base origin/main)', () => {
    let r: StepResult
    beforeAll(async () => {
      git(repo.dir, 'checkout', '-q', '-b', 'update-alma')
      repo.updateImage('alma')
      // a title a pull request controls, holding workflow commands: shown in the log, never obeyed
      const alma = path.join(repo.dir, 'images/alma.yaml')
      writeFileSync(alma, readFileSync(alma, 'utf8').replace(/^title: .*$/m, 'title: "Alma\\n::error file=x::pwned\\n::add-mask::Alma\\n::stop-commands::x"'))
      git(repo.dir, 'commit', '-qam', 'alma 2.0')
      r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'plan', 'working-directory': 'images-repo', base: 'origin/main' } })
    })
    it('succeeds with changed=true', () => {
      expect(r.code).toBe(0)
      expect(r.outputs.changed).toBe('true')
    })
    it('shows the workflow commands a pull request wrote into a title, and obeys none of them', () => {
      expect(r.log).toContain('::error file=x::pwned')
      expect(r.annotations).toEqual([])
      expect(r.masks).toEqual([])
    })
    it('sets the plan output to the plan JSON, naming the changed image', () => {
      const plan = JSON.parse(r.outputs.plan!) as { version: number; summary: { change: number; errors: number } }
      expect(plan).toMatchObject({ version: 1, summary: { change: 1, errors: 0 } })
      expect(r.outputs.plan).toContain('2.0')
    })
    it('writes the Markdown plan to the job summary and the markdown output (multi-line, delimiter form)', () => {
      expect(r.summary).toContain('<!-- vmgit-plan -->')
      expect(r.outputs.markdown!.split('\n').length).toBeGreaterThan(3)
      expect(r.summary.trim()).toBe(r.outputs.markdown!.trim())
      expect(r.runnerTempLeft).toEqual([])
    })
  })

  describe('plan with a base ref that does not exist', () => {
    let r: StepResult
    beforeAll(async () => {
      r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'plan', 'working-directory': 'images-repo', base: 'origin/no-such-branch' } })
    })
    it('fails the step with an error annotation that names the ref', () => {
      expect(r.code).not.toBe(0)
      expect(r.annotations.find((a) => a.level === 'error')?.message).toMatch(/GIT_BAD_REF.*no-such-branch/)
    })
    it('never sets changed=true (nor a plan)', () => {
      expect(r.outputs.changed).not.toBe('true')
      expect(r.outputs.plan).toBeUndefined()
      expect(r.runnerTempLeft).toEqual([])
    })
  })

  describe('publish with the key and certificate as inputs, to a file target', () => {
    let r: StepResult
    beforeAll(async () => {
      r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'publish', 'working-directory': 'images-repo', 'signing-key': keyPem, 'signing-cert': certPem } })
    })
    it('publishes and reports the list in the published output, changed=true', () => {
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.outputs.published!)).toEqual([{ identifier: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', version: expect.stringMatching(/^\d{14}$/), uri: repo.listUri }])
      expect(r.outputs.changed).toBe('true')
      expect(r.summary).toContain('| production | published |')
    })
    it('writes a list that openssl smime -verify -crl_check accepts', async () => {
      const v = await opensslVerify(path.join(PUB, 'lists/production.list'), pki.caDir, { crlCheck: true })
      expect(v.stderr).toContain('Verification successful')
      expect(v.ok).toBe(true)
      expect(JSON.parse(v.content.toString())).toHaveProperty('hv:imagelist')
    })
    it('masks every line of the key first, and shows none anywhere else', () => {
      const firstOther = r.raw.split('\n').findIndex((l) => !l.startsWith('::add-mask::'))
      expect(r.masks.slice(0, firstOther)).toEqual(keyLines())
      expectNoKeyOutsideMasks(r, [workspace(), PUB])
      expect(r.env).toEqual({})
    })
    it('leaves RUNNER_TEMP empty', () => expect(r.runnerTempLeft).toEqual([]))
    it('publishes nothing the second time (changed=false)', async () => {
      const again = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'publish', 'working-directory': 'images-repo', 'signing-key': keyPem, 'signing-cert': certPem } })
      expect(again.code).toBe(0)
      expect(JSON.parse(again.outputs.published!)).toEqual([])
      expect(again.outputs.changed).toBe('false')
      expectNoKeyOutsideMasks(again, [workspace(), PUB])
    })
    describe('refresh-only (the scheduled job, whose environment needs no approval)', () => {
      const inputs = () => ({ command: 'publish', 'working-directory': 'images-repo', 'signing-key': keyPem, 'signing-cert': certPem, 'refresh-before': '60d', 'refresh-only': 'true' })
      it('re-signs an unchanged list that expires within refresh-before', async () => {
        const r = await runAction({ actionDir, workspace: workspace(), inputs: inputs() })
        expect(r.code, r.log).toBe(0)
        expect(JSON.parse(r.outputs.published!), r.log + r.summary).toHaveLength(1)
        expect(r.outputs.changed).toBe('true')
      })
      it('never publishes a change waiting for approval: the list is left as published, with a warning', async () => {
        const before = readFileSync(path.join(PUB, 'lists/production.list'))
        // a change merged and committed, whose publish waits for the environment's approval
        repo.updateImage('ubuntu')
        git(repo.dir, 'commit', '-qam', 'ubuntu, waiting for approval')
        const r = await runAction({ actionDir, workspace: workspace(), inputs: inputs() })
        expect(r.code).toBe(0)
        expect(JSON.parse(r.outputs.published!)).toEqual([])
        expect(r.outputs.changed).toBe('false')
        expect(r.annotations.find((a) => a.level === 'warning')?.message).toMatch(/production: not re-signed by refresh-only/)
        expect(readFileSync(path.join(PUB, 'lists/production.list')).equals(before)).toBe(true)
        expectNoKeyOutsideMasks(r, [workspace(), PUB])
      })
      it('is refused without refresh-before (a usage error, not a silent no-op)', async () => {
        const r = await runAction({ actionDir, workspace: workspace(), inputs: { ...inputs(), 'refresh-before': '' } })
        expect(r.code).toBe(1)
        expect(r.annotations[0]?.message).toContain('REFRESH_ONLY_WITHOUT_DURATION')
      })
    })
    it('fails without a certificate, saying what to set, and still shows no secret', async () => {
      const bad = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'publish', 'working-directory': 'images-repo', 'signing-key': keyPem, 'signing-key-passphrase': 'hunter2-passphrase' } })
      expect(bad.code).toBe(1)
      expect(bad.annotations[0]?.message).toMatch(/CREDENTIALS_INCOMPLETE|VMGIT_SIGNING_CERT/)
      expect(bad.masks).toContain('hunter2-passphrase')
      expect(bad.log).not.toContain('hunter2-passphrase')
      expect(bad.outputs.changed).toBe('false')
      expectNoKeyOutsideMasks(bad, [workspace()])
    })
  })

  describe('publish with allow-dirty (issue 15: a job that generates files before publishing)', () => {
    const inputs = (extra: Record<string, string> = {}) => ({ command: 'publish', 'working-directory': 'images-repo', 'signing-key': keyPem, 'signing-cert': certPem, ...extra })
    const listFile = () => path.join(PUB, 'lists/production.list')
    let before: Buffer
    beforeAll(() => {
      before = readFileSync(listFile())
      // a step before vmgit generated a new image version and did not commit it
      repo.updateImage('ubuntu')
    })
    afterAll(() => git(repo.dir, 'commit', '-qam', 'the generated image, committed afterwards'))

    it('declares allow-dirty in action.yml, default false, with a warning about vmgit:dirty', () => {
      const input = readActionYml(actionDir).inputs?.['allow-dirty']
      expect(input?.default).toBe('false')
      expect(input?.description).toMatch(/vmgit:dirty/)
    })
    it('without it, fails the step with NOT_COMMITTED and leaves the published list as it was', async () => {
      const r = await runAction({ actionDir, workspace: workspace(), inputs: inputs() })
      expect(r.code).toBe(1)
      expect(r.annotations.find((a) => a.level === 'error')?.message).toContain('NOT_COMMITTED')
      expect(r.outputs.changed).toBe('false')
      expect(readFileSync(listFile()).equals(before)).toBe(true)
    })
    it('with allow-dirty: false (as written in a workflow), still refuses', async () => {
      const r = await runAction({ actionDir, workspace: workspace(), inputs: inputs({ 'allow-dirty': 'false' }) })
      expect(r.code).toBe(1)
      expect(r.annotations.find((a) => a.level === 'error')?.message).toContain('NOT_COMMITTED')
      expect(readFileSync(listFile()).equals(before)).toBe(true)
    })
    it('on plan, changes nothing: it is for publish only', async () => {
      const r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'plan', 'working-directory': 'images-repo', 'signing-cert': certPem, 'allow-dirty': 'true' } })
      expect(r.code, r.log).toBe(0)
      expect(r.annotations.filter((a) => /allow-dirty/.test(a.message))).toEqual([])
      expect(readFileSync(listFile()).equals(before)).toBe(true)
    })
    it('with allow-dirty: true, publishes, says so in warning annotations, and signs vmgit:dirty into the list', async () => {
      const r = await runAction({ actionDir, workspace: workspace(), inputs: inputs({ 'allow-dirty': 'true' }) })
      expect(r.code, r.log).toBe(0)
      expect(JSON.parse(r.outputs.published!)).toHaveLength(1)
      expect(r.outputs.changed).toBe('true')
      const warnings = r.annotations.filter((a) => a.level === 'warning').map((a) => a.message)
      expect(warnings.join('\n')).toMatch(/WARNING: --allow-dirty: publishing what no commit holds \[NOT_COMMITTED\]/)
      expect(warnings.join('\n')).toMatch(/vmgit:dirty/)
      const v = await opensslVerify(listFile(), pki.caDir, { crlCheck: true })
      expect(v.ok).toBe(true)
      expect((JSON.parse(v.content.toString()) as { 'hv:imagelist': Record<string, unknown> })['hv:imagelist']['vmgit:dirty']).toBe('true')
      expectNoKeyOutsideMasks(r, [workspace(), PUB])
    })
  })

  describe('comment (the pull-request job, no secrets but the token)', () => {
    let api: Server
    const comments: { id: number; body: string }[] = []
    let calls: string[] = []
    beforeAll(async () => {
      api = createServer((req, res) => {
        let body = ''
        req.on('data', (d) => (body += d))
        req.on('end', () => {
          calls.push(`${req.method} ${req.url}`)
          if (req.headers.authorization !== 'Bearer gh-test-token') return res.writeHead(401).end()
          const json = (code: number, v: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(v))
          if (req.method === 'GET' && /^\/repos\/endorser\/images\/issues\/7\/comments/.test(req.url!)) return json(200, [{ id: 1, body: 'LGTM' }, ...comments])
          if (req.method === 'POST' && req.url === '/repos/endorser/images/issues/7/comments') {
            const c = { id: 100 + comments.length, body: (JSON.parse(body) as { body: string }).body }
            comments.push(c)
            return json(201, c)
          }
          const m = /^\/repos\/endorser\/images\/issues\/comments\/(\d+)$/.exec(req.url!)
          if (req.method === 'PATCH' && m) {
            const c = comments.find((x) => x.id === Number(m[1]))!
            c.body = (JSON.parse(body) as { body: string }).body
            return json(200, c)
          }
          res.writeHead(404).end()
        })
      })
      await new Promise<void>((r) => api.listen(0, '127.0.0.1', r))
    })
    afterAll(() => void api.close())

    it('creates one comment from the plan markdown, then updates it in place', async () => {
      const event = path.join(tmp, 'event.json')
      writeFileSync(event, JSON.stringify({ pull_request: { number: 7 } }))
      const env = { GITHUB_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, GITHUB_EVENT_PATH: event }
      const inputs = (md: string) => ({ command: 'comment', 'plan-markdown': md, 'github-token': 'gh-test-token' })
      const first = await runAction({ actionDir, workspace: workspace(), inputs: inputs('<!-- vmgit-plan -->\nfirst plan\n'), env })
      expect(first.code).toBe(0)
      calls = []
      const second = await runAction({ actionDir, workspace: workspace(), inputs: inputs('<!-- vmgit-plan -->\nsecond plan\n'), env })
      expect(second.code).toBe(0)
      expect(comments).toHaveLength(1)
      expect(comments[0]!.body).toContain('second plan')
      expect(calls.some((c) => c.startsWith('PATCH'))).toBe(true)
      expect(second.masks).toContain('gh-test-token')
      expect(second.raw.replace(/^::add-mask::.*$/gm, '')).not.toContain('gh-test-token')
    })
    it('fails on a token the API refuses, telling which permission the job needs', async () => {
      const event = path.join(tmp, 'event.json')
      const env = { GITHUB_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, GITHUB_EVENT_PATH: event }
      const r = await runAction({ actionDir, workspace: workspace(), inputs: { command: 'comment', 'plan-markdown': 'x', 'github-token': 'wrong-token' }, env })
      expect(r.code).toBe(1)
      expect(r.annotations[0]?.message).toMatch(/HTTP 401.*pull-requests: write/)
    })
  })
})
