/**
 * The GitHub Action (action.yml, `runs: using: node24`): validate, plan, publish or comment,
 * calling vmgit's library in this process, bundled into action/dist/index.mjs by
 * scripts/build-action.mjs. No npm install, no setup-node: the caller's Node is untouched.
 *
 * Secrets arrive as inputs: every line is masked first (::add-mask::), the INPUT_* variables are
 * removed from the environment before anything runs (no child process inherits them), and the
 * key reaches the signer only in memory. Temporary files go to one directory under RUNNER_TEMP,
 * removed at the end, so RUNNER_TEMP is left as it was found.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { loadRepository } from '../model/load.js'
import { isError, sortProblems, summarize, type Problem } from '../model/problems.js'
import { durationFlag } from '../model/time.js'
import { validateProblems } from '../publish/publishable.js'
import { workflowProblems } from '../model/workflow.js'
import { planExitCode } from '../publish/plan.js'
import { formatMarkdown, formatPlan } from '../publish/plan-format.js'
import { planRepository } from '../publish/plan-repo.js'
import { publishRepository } from '../publish/publish-repo.js'
import { Exit, isVmgitError, usageError } from '../util/errors.js'
import { upsertPlanComment } from './comment.js'
import { annotate, appendSummary, forgetInputs, getInput, maskSecret, setFailed, setOutput, untrusted, type Env } from './runner.js'

export const COMMANDS = ['validate', 'plan', 'publish', 'comment'] as const
const truthy = (v: string) => /^(1|true|yes|on)$/i.test(v)

interface Inputs {
  command: string
  workingDirectory: string
  base: string
  key: string
  cert: string
  passphrase: string
  lists: string[]
  dryRun: boolean
  refreshBefore: string
  refreshOnly: boolean
  /** issue 15: publish files no commit holds; the signed lists say so (vmgit:dirty) */
  allowDirty: boolean
  planFile: string
  planMarkdown: string
  token: string
}

function readInputs(env: Env): Inputs {
  const i = (n: string) => getInput(n, env)
  return {
    command: i('command') || 'plan',
    workingDirectory: i('working-directory') || '.',
    base: i('base'),
    key: i('signing-key'),
    cert: i('signing-cert'),
    passphrase: i('signing-key-passphrase'),
    lists: i('lists').split(/[\s,]+/).filter(Boolean),
    dryRun: truthy(i('dry-run')),
    refreshBefore: i('refresh-before'),
    refreshOnly: truthy(i('refresh-only')),
    allowDirty: truthy(i('allow-dirty')),
    planFile: i('plan-file'),
    planMarkdown: i('plan-markdown'),
    token: i('github-token'),
  }
}

/** Paths in annotations are relative to the workspace: GitHub places them on the diff. */
function annotateProblems(problems: Problem[], repoDir: string, workspace: string): void {
  for (const p of sortProblems(problems)) {
    const file = path.relative(workspace, path.join(repoDir, p.file)).split(path.sep).join('/')
    annotate(isError(p) ? 'error' : 'warning', `${p.message} [${p.code}]`, { file, line: p.line, col: p.col, title: `vmgit ${p.code}` })
  }
}

async function validate(dir: string, workspace: string, now: Date): Promise<void> {
  const repo = await loadRepository(dir, { now })
  const problems = [...repo.problems, ...(await validateProblems(repo, { now })), ...(await workflowProblems(dir))]
  annotateProblems(problems, dir, workspace)
  setOutput('changed', 'false')
  const counts = `${repo.endorsers.size} endorser(s), ${repo.images.size} image(s), ${repo.lists.size} list(s)`
  process.stdout.write(problems.length ? `${summarize(problems)} in ${counts}\n` : `ok: ${counts}, no problems\n`)
  if (problems.some(isError)) setFailed(`vmgit validate: ${summarize(problems)} (annotated on the files)`)
}

async function plan(inp: Inputs, dir: string, now: Date): Promise<void> {
  // until the plan exists, "changed" is false: a failing step never reads as "changes"
  setOutput('changed', 'false')
  // the certificate CI signs with, for the endorser dn/ca and expiry checks (not a secret)
  const env: Env = inp.cert ? { ...process.env, VMGIT_SIGNING_CERT: inp.cert } : process.env
  const result = await planRepository({ dir, now, env, ...(inp.base ? { base: inp.base } : {}) })
  const markdown = formatMarkdown(result)
  setOutput('plan', formatPlan(result, 'json').trim())
  setOutput('markdown', markdown)
  const code = planExitCode(result)
  // the exit-code table's 4: only a plan without errors is "changed"
  setOutput('changed', code === Exit.CHANGES ? 'true' : 'false')
  appendSummary(markdown)
  if (inp.planFile) writeFileSync(path.resolve(inp.planFile), markdown)
  untrusted(formatPlan(result, 'text'))
  if (code === Exit.INVALID) setFailed(`vmgit plan found ${result.summary.errors} error(s) in the lists; fix them before publishing (see the plan)`)
}

/**
 * refresh-only (the scheduled job, whose environment needs no daily approval): re-sign only the
 * lists whose content is what is published now. A merged change still waiting for approval in
 * the `publish` environment must not go out through the unattended job, so it is left out and
 * reported, and the job still keeps every unchanged list from expiring.
 */
async function refreshable(inp: Inputs, dir: string, now: Date, env: Env): Promise<string[] | undefined> {
  if (!inp.refreshOnly) return inp.lists
  if (!inp.refreshBefore) throw usageError('REFRESH_ONLY_WITHOUT_DURATION', 'refresh-only needs refresh-before (e.g. 7d): it re-signs lists that expire within it')
  const current = await planRepository({ dir, now, env })
  const wanted = (l: { name: string; identifier: string }) => inp.lists.length === 0 || inp.lists.includes(l.name) || inp.lists.includes(l.identifier)
  const pending = current.lists.filter((l) => l.action !== 'same' && wanted(l))
  for (const l of pending) annotate('warning', `${l.name}: not re-signed by refresh-only: its content differs from what is published (${l.action}); publish it from the publish job`)
  const same = current.lists.filter((l) => l.action === 'same' && wanted(l)).map((l) => l.identifier)
  return same.length ? same : undefined
}

async function publish(inp: Inputs, dir: string, now: Date, env: Env): Promise<void> {
  setOutput('changed', 'false')
  const credEnv: Env = { ...env }
  if (inp.key) credEnv.VMGIT_SIGNING_KEY = inp.key
  if (inp.cert) credEnv.VMGIT_SIGNING_CERT = inp.cert
  if (inp.passphrase) credEnv.VMGIT_KEY_PASSPHRASE = inp.passphrase
  // the plan renders with the signing certificate's dn/ca, as publish signs
  const lists = await refreshable(inp, dir, now, credEnv)
  if (!lists) {
    setOutput('published', '[]')
    appendSummary('### vmgit publish\n\nrefresh-only: no list to re-sign.\n')
    return
  }
  const report = await publishRepository({
    dir,
    lists,
    now,
    dryRun: inp.dryRun,
    allowDirty: inp.allowDirty,
    ...(inp.refreshBefore ? { refreshBeforeMs: durationFlag('refresh-before', inp.refreshBefore) } : {}),
    env: credEnv,
    log: (line) => untrusted(line),
    warn: (line) => annotate('warning', line),
  })
  const published = report.lists
    .filter((l) => l.action === 'published' || l.action === 'refreshed')
    .map((l) => ({ identifier: l.identifier, version: l.version, uri: l.uri }))
  setOutput('published', JSON.stringify(published))
  setOutput('changed', published.length > 0 ? 'true' : 'false')
  const rows = report.lists.map((l) => `| ${l.name} | ${l.action} | ${l.version ?? ''} | ${l.uri ?? ''} |`)
  appendSummary(['### vmgit publish', '', '| list | result | version | uri |', '|---|---|---|---|', ...rows, ''].join('\n'))
  for (const l of report.lists) for (const w of l.warnings) annotate('warning', `${l.name}: ${w}`)
  const failed = report.lists.filter((l) => l.action === 'failed')
  if (failed.length) setFailed(`vmgit publish: ${failed.map((l) => `${l.name}: ${l.error?.message ?? l.reason ?? 'failed'}`).join('; ')}; the previously published lists are still in place`)
}

async function comment(inp: Inputs, env: Env): Promise<void> {
  const markdown = inp.planMarkdown || readFileSync(path.resolve(inp.planFile || 'vmgit-plan.md'), 'utf8')
  const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as { pull_request?: { number?: number }; issue?: { number?: number } }
  const number = event.pull_request?.number ?? event.issue?.number
  if (!number) throw new Error('not a pull_request event: nothing to comment on')
  const r = await upsertPlanComment({ api: env.GITHUB_API_URL || 'https://api.github.com', repository: env.GITHUB_REPOSITORY ?? '', number, token: inp.token }, markdown)
  process.stdout.write(`plan comment ${r.action} (id ${r.id}) on #${number}\n`)
}

export async function main(env: Env = process.env, now: Date = new Date()): Promise<void> {
  const inp = readInputs(env)
  for (const s of [inp.key, inp.passphrase, inp.token]) maskSecret(s)
  forgetInputs(env)
  const workspace = path.resolve(env.GITHUB_WORKSPACE || process.cwd())
  const dir = path.resolve(workspace, inp.workingDirectory)
  // every temporary file (git trees of --base) in one directory, removed at the end
  const tmp = mkdtempSync(path.join(env.RUNNER_TEMP || os.tmpdir(), 'vmgit-'))
  const savedTmp = env.TMPDIR
  env.TMPDIR = tmp
  try {
    if (inp.command === 'validate') await validate(dir, workspace, now)
    else if (inp.command === 'plan') await plan(inp, dir, now)
    else if (inp.command === 'publish') await publish(inp, dir, now, env)
    else if (inp.command === 'comment') await comment(inp, env)
    else setFailed(`unknown command "${inp.command}": use ${COMMANDS.join(', ')}`)
  } catch (e) {
    const msg = isVmgitError(e) ? `[${e.code}] ${e.message}` : (e as Error).message
    setFailed(`vmgit ${inp.command}: ${msg}`)
  } finally {
    if (savedTmp === undefined) delete env.TMPDIR
    else env.TMPDIR = savedTmp
    rmSync(tmp, { recursive: true, force: true })
  }
}
