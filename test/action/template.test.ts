import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ROOT, runCli } from '../helpers/cli.js'

/**
 * Issue 13, "a workflow template that is safe by default": what `vmgit init` writes, read as
 * GitHub reads it. Job conditions are evaluated by a small evaluator of GitHub's expression
 * language (==, !=, &&, ||, !, parentheses, 'strings', contexts, format(), always()).
 */

interface Job {
  if?: string
  environment?: string
  permissions?: Record<string, string>
  concurrency?: { group: string; 'cancel-in-progress': boolean }
  needs?: string
  outputs?: Record<string, string>
  steps: { uses?: string; if?: string; with?: Record<string, string | boolean> }[]
}
interface Workflow {
  on: Record<string, unknown>
  permissions: Record<string, string>
  jobs: Record<string, Job>
}

const TEMPLATE = path.join(ROOT, 'templates/repo/dot-github/workflows/vmgit.yml')
const text = readFileSync(TEMPLATE, 'utf8')
const wf = parse(text) as Workflow
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-template-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** Third-party actions the template may use: pinned commit → version, each running on Node 24. */
const PINNED: Record<string, string> = {
  'actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8': 'v5.0.0',
}

type Ctx = Record<string, unknown>
/** Evaluate a GitHub Actions expression (the subset the template uses) against a context. */
function evaluate(expr: string, ctx: Ctx): unknown {
  const tokens = expr.match(/'(?:[^']|'')*'|==|!=|&&|\|\||[()!,]|[A-Za-z_][\w.-]*/g) ?? []
  let i = 0
  const peek = () => tokens[i]
  const next = () => tokens[i++]!
  const lookup = (name: string) => name.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], ctx)
  const primary = (): unknown => {
    const t = next()
    if (t === '(') {
      const v = or()
      next()
      return v
    }
    if (t === '!') return !primary()
    if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'")
    if (peek() === '(') {
      next()
      const args: unknown[] = []
      while (peek() !== ')') {
        args.push(or())
        if (peek() === ',') next()
      }
      next()
      if (t === 'format') return String(args[0]).replace(/\{(\d+)\}/g, (_m, n: string) => String(args[Number(n) + 1]))
      if (t === 'always') return true
      if (t === 'success') return ctx.success ?? true
      if (t === 'failure') return ctx.failure ?? false
      throw new Error(`function ${t} not supported`)
    }
    if (t === 'true' || t === 'false') return t === 'true'
    return lookup(t) ?? ''
  }
  const cmp = (): unknown => {
    let v = primary()
    while (peek() === '==' || peek() === '!=') {
      const op = next()
      const r = primary()
      const eq = String(v).toLowerCase() === String(r).toLowerCase()
      v = op === '==' ? eq : !eq
    }
    return v
  }
  const and = (): unknown => {
    let v = cmp()
    while (peek() === '&&') {
      next()
      const r = cmp()
      v = v ? r : v
    }
    return v
  }
  function or(): unknown {
    let v = and()
    while (peek() === '||') {
      next()
      const r = and()
      v = v ? v : r
    }
    return v
  }
  const v = or()
  if (i !== tokens.length) throw new Error(`unparsed: ${tokens.slice(i).join(' ')}`)
  return v
}

const runs = (job: string, event: string, ref: string, extra: Ctx = {}) =>
  Boolean(evaluate(wf.jobs[job]!.if ?? 'true', {
    github: { event_name: event, ref, repository: 'endorser/images', event: { repository: { default_branch: 'main' }, pull_request: { head: { repo: { full_name: 'endorser/images' } } } } },
    needs: { plan: { outputs: { markdown: '<!-- vmgit-plan -->' } } },
    ...extra,
  }))

describe('the workflow template vmgit init writes', () => {
  describe('publish', () => {
    it('runs on a push to the default branch and on a manual run on it', () => {
      expect(runs('publish', 'push', 'refs/heads/main')).toBe(true)
      expect(runs('publish', 'workflow_dispatch', 'refs/heads/main')).toBe(true)
    })
    it('never runs from another branch, a tag or a pull request (workflow_dispatch included)', () => {
      for (const ref of ['refs/heads/feature', 'refs/heads/main-evil', 'refs/tags/v1', 'refs/pull/7/merge']) {
        expect(runs('publish', 'workflow_dispatch', ref), ref).toBe(false)
        expect(runs('publish', 'push', ref), ref).toBe(false)
      }
      expect(runs('publish', 'pull_request', 'refs/heads/main')).toBe(false)
      expect(runs('publish', 'schedule', 'refs/heads/main')).toBe(false)
    })
    it('runs in the publish environment, one at a time, never cancelled half-way', () => {
      expect(wf.jobs.publish!.environment).toBe('publish')
      expect(wf.jobs.publish!.concurrency).toEqual({ group: 'vmgit-publish', 'cancel-in-progress': false })
    })
  })

  describe('the scheduled re-sign', () => {
    it('runs on the schedule only, in its own environment (no daily approval), in the same concurrency group', () => {
      expect(runs('refresh', 'schedule', 'refs/heads/main')).toBe(true)
      expect(runs('refresh', 'push', 'refs/heads/main')).toBe(false)
      expect(wf.jobs.refresh!.environment).toBe('publish-refresh')
      expect(wf.jobs.refresh!.concurrency).toEqual(wf.jobs.publish!.concurrency)
    })
    it('only re-signs (refresh-only): a change waiting for approval never goes out through it', () => {
      const step = wf.jobs.refresh!.steps.find((s) => s.with?.command === 'publish')!
      expect(step.with).toMatchObject({ 'refresh-before': '7d', 'refresh-only': true })
    })
  })

  describe('pull requests', () => {
    it('validate and plan with a read-only token and no secret', () => {
      expect(runs('plan', 'pull_request', 'refs/pull/7/merge')).toBe(true)
      expect(wf.jobs.plan!.permissions).toEqual({ contents: 'read' })
      expect(wf.jobs.plan!.steps.filter((s) => s.with?.command).map((s) => s.with!.command)).toEqual(['validate', 'plan'])
      expect(JSON.stringify(wf.jobs.plan)).not.toContain('secrets.')
    })
    it('comment from a job that holds only pull-requests: write and the token, skipped for forks', () => {
      expect(wf.jobs.comment!.permissions).toEqual({ 'pull-requests': 'write' })
      expect(runs('comment', 'pull_request', 'refs/pull/7/merge')).toBe(true)
      const fork = { github: { event_name: 'pull_request', repository: 'endorser/images', event: { pull_request: { head: { repo: { full_name: 'someone/images' } } } } }, needs: { plan: { outputs: { markdown: 'x' } } } }
      expect(Boolean(evaluate(wf.jobs.comment!.if!, fork))).toBe(false)
      expect(JSON.stringify(wf.jobs.comment).match(/secrets\.\w+/g)).toEqual(['secrets.GITHUB_TOKEN'])
    })
  })

  it('grants no permission at the top and only contents: read or pull-requests: write per job', () => {
    expect(wf.permissions).toEqual({})
    for (const [name, job] of Object.entries(wf.jobs)) expect([{ contents: 'read' }, { 'pull-requests': 'write' }], name).toContainEqual(job.permissions)
  })

  it('pins every third-party action by commit SHA with its version in a comment, on Node 24', () => {
    const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)]
    expect(uses.length).toBeGreaterThan(4)
    for (const [, ref, rest] of uses) {
      if (ref === 'OWNER/REPO@REF') continue
      expect(PINNED, ref).toHaveProperty([ref!])
      expect(rest!.trim()).toBe(`# ${PINNED[ref!]}`)
    }
  })

  describe('vmgit init --action-ref', () => {
    const SHA = 'my-org/vmgit@0123456789abcdef0123456789abcdef01234567'
    it('writes the reference into every uses: of the vmgit action and nowhere else', async () => {
      const dir = path.join(tmp, 'pinned')
      const r = await runCli(['init', dir, '--action-ref', SHA])
      expect(r.code).toBe(0)
      expect(r.stderr).toBe('')
      const out = readFileSync(path.join(dir, '.github/workflows/vmgit.yml'), 'utf8')
      expect(out.match(/uses: my-org\/vmgit@0123456789abcdef0123456789abcdef01234567$/gm)).toHaveLength((text.match(/uses: OWNER\/REPO@REF$/gm) ?? []).length)
      expect(out.replace(/^\s*#.*$/gm, '')).not.toContain('OWNER/REPO@REF')
      const v = await runCli(['validate', '--repo', dir])
      expect(v.stdout).not.toContain('ACTION_PLACEHOLDER')
    })
    it('warns when the reference is a tag or branch, not a commit SHA', async () => {
      const r = await runCli(['init', path.join(tmp, 'tag'), '--action-ref', 'my-org/vmgit@v1'])
      expect(r.code).toBe(0)
      expect(r.stderr).toContain('not pinned to a commit SHA')
    })
    it.each([['my-org/vmgit'], ['vmgit@v1'], ['OWNER/REPO@REF'], ['my-org/vmgit@v1 extra'], ['./local@v1'], ['my-org/vmgit@v1\nrun: evil']])('refuses %j with exit 2 and writes nothing', async (ref) => {
      const dir = path.join(tmp, `bad-${Math.random().toString(36).slice(2)}`)
      const r = await runCli(['init', dir, '--action-ref', ref])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('BAD_ACTION_REF')
      expect(() => readFileSync(path.join(dir, 'vmgit.yaml'))).toThrow()
    })
  })
})
