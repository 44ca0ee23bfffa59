import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { makePki, type Pki } from '../helpers/pki.js'
import { makeFixtureRepo, type FixtureRepo } from '../publish/repo-fixture.js'

/**
 * The GitHub Action's scripts, run as a runner runs them: inputs as VMGIT_INPUT_*, a temp
 * GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP, a real git repository and a file target.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-action-'))
const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
let pki: Pki
let repo: FixtureRepo
let keyPem: string

interface Run {
  code: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  runnerTemp: string
}

function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([\w-]+)<<(\S+)$/.exec(lines[i]!)
    if (!m) continue
    const body: string[] = []
    while (++i < lines.length && lines[i] !== m[2]) body.push(lines[i]!)
    out[m[1]!] = body.join('\n')
  }
  return out
}

function runScript(script: string, inputs: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<Run> {
  const dir = mkdtempSync(path.join(tmp, 'runner-'))
  const runnerTemp = path.join(dir, 'temp')
  mkdirSync(runnerTemp)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    RUNNER_TEMP: runnerTemp,
    GITHUB_REPOSITORY: 'endorser/images',
    ...extraEnv,
  }
  for (const [k, v] of Object.entries(inputs)) env[`VMGIT_INPUT_${k.toUpperCase().replace(/-/g, '_')}`] = v
  writeFileSync(env.GITHUB_OUTPUT!, '')
  writeFileSync(env.GITHUB_STEP_SUMMARY!, '')
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'action', script)], { cwd: repo.dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, outputs: parseOutputs(readFileSync(env.GITHUB_OUTPUT!, 'utf8')), summary: readFileSync(env.GITHUB_STEP_SUMMARY!, 'utf8'), runnerTemp }),
    )
  })
}

/** Every line of the key that is long enough to be a secret. */
const keyLines = () => keyPem.split('\n').filter((l) => l.length > 20)

function expectNoKey(r: Run): void {
  // ::add-mask:: lines are the runner's masking commands: it consumes them and never shows them
  const visible = r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')
  for (const l of keyLines()) {
    expect(visible).not.toContain(l)
    expect(r.stderr).not.toContain(l)
    expect(r.summary).not.toContain(l)
    expect(Object.values(r.outputs).join('\n')).not.toContain(l)
  }
  expect(readdirSync(r.runnerTemp)).toEqual([])
}

beforeAll(async () => {
  pki = await makePki(path.join(tmp, 'pki'))
  keyPem = readFileSync(pki.signer.key, 'utf8')
  repo = makeFixtureRepo(path.join(tmp, 'repo'), 'https://images.example.org/', [{ match: 'https://images.example.org/', replace: `file://${path.join(tmp, 'pub')}/` }])
  writeFileSync(path.join(repo.dir, '.gitignore'), 'files/\n')
  const git = (...a: string[]) => execFileSync('git', a, { cwd: repo.dir, env: { ...process.env, ...GIT_ENV }, stdio: 'pipe' })
  git('init', '-q', '-b', 'main')
  git('add', '-A')
  git('commit', '-qm', 'first')
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('the GitHub Action', () => {
  describe('command: validate', () => {
    it('passes on a clean repository and sets changed=false', async () => {
      const r = await runScript('run.mjs', { command: 'validate' })
      expect(r.code).toBe(0)
      expect(r.outputs.changed).toBe('false')
    })
  })

  describe('command: plan', () => {
    it('sets the plan output (JSON), changed=true, and writes the Markdown plan to the job summary', async () => {
      const planFile = path.join(tmp, 'plan.md')
      const r = await runScript('run.mjs', { command: 'plan', 'plan-file': planFile })
      expect(r.code).toBe(0)
      expect(JSON.parse(r.outputs.plan!)).toMatchObject({ version: 1, summary: { add: 1 } })
      expect(r.outputs.changed).toBe('true')
      expect(r.summary).toContain('<!-- vmgit-plan -->')
      expect(readFileSync(planFile, 'utf8')).toContain('Plan: 1 list(s) to add')
    })
  })

  describe('command: publish', () => {
    it('publishes, sets published [{identifier, version, uri}] and changed=true, and never shows the key', async () => {
      const r = await runScript('run.mjs', { command: 'publish', 'signing-key': keyPem, 'signing-cert': readFileSync(pki.signer.cert, 'utf8') })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const published = JSON.parse(r.outputs.published!)
      expect(published).toEqual([{ identifier: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', version: expect.stringMatching(/^\d{14}$/), uri: repo.listUri }])
      expect(r.outputs.changed).toBe('true')
      expect(r.stdout).toContain(`::add-mask::${keyLines()[0]}`)
      expectNoKey(r)
    })
    it('publishes nothing the second time (changed=false)', async () => {
      const r = await runScript('run.mjs', { command: 'publish', 'signing-key': keyPem, 'signing-cert': readFileSync(pki.signer.cert, 'utf8') })
      expect(r.code).toBe(0)
      expect(JSON.parse(r.outputs.published!)).toEqual([])
      expect(r.outputs.changed).toBe('false')
      expectNoKey(r)
    })
    it('fails without credentials, saying how to pass them, and still shows no secret', async () => {
      repo.updateImage('alma')
      const r = await runScript('run.mjs', { command: 'publish', 'signing-key-passphrase': 'hunter2-passphrase' })
      expect(r.code).not.toBe(0)
      expect(r.stderr).toContain('CREDENTIALS_MISSING')
      expect(r.stdout).toContain('::add-mask::hunter2-passphrase')
    })
  })

  describe('command: comment (the pull-request job)', () => {
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
            const c = { id: 100 + comments.length, body: JSON.parse(body).body }
            comments.push(c)
            return json(201, c)
          }
          const m = /^\/repos\/endorser\/images\/issues\/comments\/(\d+)$/.exec(req.url!)
          if (req.method === 'PATCH' && m) {
            const c = comments.find((x) => x.id === Number(m[1]))!
            c.body = JSON.parse(body).body
            return json(200, c)
          }
          res.writeHead(404).end()
        })
      })
      await new Promise<void>((r) => api.listen(0, '127.0.0.1', r))
    })
    afterAll(() => void api.close())

    it('creates one comment, then updates it in place instead of adding another', async () => {
      const event = path.join(tmp, 'event.json')
      writeFileSync(event, JSON.stringify({ pull_request: { number: 7 } }))
      const env = { GITHUB_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, GITHUB_EVENT_PATH: event }
      const planFile = path.join(tmp, 'pr-plan.md')
      writeFileSync(planFile, '<!-- vmgit-plan -->\nfirst plan\n')
      const first = await runScript('comment.mjs', { 'plan-file': planFile, 'github-token': 'gh-test-token' }, env)
      expect(first.code).toBe(0)
      writeFileSync(planFile, '<!-- vmgit-plan -->\nsecond plan\n')
      calls = []
      const second = await runScript('comment.mjs', { 'plan-file': planFile, 'github-token': 'gh-test-token' }, env)
      expect(second.code).toBe(0)
      expect(comments).toHaveLength(1)
      expect(comments[0]!.body).toContain('second plan')
      expect(calls.some((c) => c.startsWith('PATCH'))).toBe(true)
      expect(second.stdout).toContain('::add-mask::gh-test-token')
      expect(second.stdout.replace(/^::add-mask::.*$/gm, '')).not.toContain('gh-test-token')
    })
  })
})
