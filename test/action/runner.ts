import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { ROOT } from '../helpers/cli.js'

/**
 * A GitHub runner, as far as a JavaScript action sees it: the repository as GitHub downloads it
 * for `uses:` (committed files only: `git archive HEAD`), action.yml read as the runner reads it,
 * inputs as INPUT_<NAME> with action.yml's defaults, the GITHUB_OUTPUT / GITHUB_ENV /
 * GITHUB_STEP_SUMMARY files, an empty RUNNER_TEMP, and the workflow commands on stdout consumed
 * (::add-mask:: hides a value from the log, ::error:: becomes an annotation).
 *
 * GitHub runs `using: node24` with its own Node 24; this machine has Node 20, so the test runs
 * the same bundle with the local node (the bundle targets node20 syntax for that reason).
 */

export interface ActionMetadata {
  name: string
  description: string
  inputs?: Record<string, { description: string; required?: boolean; default?: string }>
  outputs?: Record<string, { description: string; value?: string }>
  runs: { using: string; main?: string; steps?: unknown[] }
}

/** Export HEAD of this repository into `dir`, as GitHub does for `uses: owner/repo@ref`. */
export function exportCommitted(dir: string): string {
  mkdirSync(dir, { recursive: true })
  const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD'], { cwd: ROOT, maxBuffer: 1 << 30 })
  execFileSync('tar', ['-x', '-f', '-', '-C', dir], { input: tar })
  return dir
}

/** action.yml as the runner parses it: strict YAML (duplicate keys are errors). */
export function readActionYml(dir: string): ActionMetadata {
  return parse(readFileSync(path.join(dir, 'action.yml'), 'utf8'), { uniqueKeys: true, strict: true, prettyErrors: true }) as ActionMetadata
}

export interface Annotation {
  level: string
  props: Record<string, string>
  message: string
}

export interface StepResult {
  code: number
  /** stdout exactly as the action wrote it */
  raw: string
  /** the log as the runner shows it: workflow commands consumed, masked values as *** */
  log: string
  stderr: string
  masks: string[]
  annotations: Annotation[]
  outputs: Record<string, string>
  env: Record<string, string>
  summary: string
  /** what is left in RUNNER_TEMP after the step */
  runnerTempLeft: string[]
}

const unescapeData = (s: string) => s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%')
const unescapeProp = (s: string) => unescapeData(s.replace(/%3A/g, ':').replace(/%2C/g, ','))

/** A GITHUB_OUTPUT / GITHUB_ENV file: `name=value` lines and `name<<DELIM ... DELIM` blocks. */
export function parseRunnerFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line === '') continue
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const body: string[] = []
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) body.push(lines[i]!)
      if (i >= lines.length) throw new Error(`runner: no closing delimiter ${heredoc[2]} for ${heredoc[1]}`)
      out[heredoc[1]!] = body.join('\n')
      continue
    }
    const eq = line.indexOf('=')
    if (eq < 1) throw new Error(`runner: malformed line in a runner file: ${line}`)
    out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

export interface RunOptions {
  /** the action's directory (an export of HEAD) */
  actionDir: string
  /** GITHUB_WORKSPACE, the step's working directory */
  workspace: string
  inputs: Record<string, string>
  env?: Record<string, string>
}

/** Run the action's `main` as the runner does; unknown inputs are refused like the runner warns. */
export function runAction(o: RunOptions): Promise<StepResult> {
  const meta = readActionYml(o.actionDir)
  if (!/^node\d+$/.test(meta.runs.using) || !meta.runs.main) throw new Error(`runner: not a JavaScript action (runs.using ${meta.runs.using})`)
  const step = mkdtempSync(path.join(path.dirname(o.workspace), 'step-'))
  const files = { GITHUB_OUTPUT: path.join(step, 'output'), GITHUB_ENV: path.join(step, 'env'), GITHUB_STEP_SUMMARY: path.join(step, 'summary') }
  for (const f of Object.values(files)) writeFileSync(f, '')
  const runnerTemp = path.join(step, 'runner-temp')
  mkdirSync(runnerTemp)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: o.workspace,
    GITHUB_ACTION_PATH: o.actionDir,
    GITHUB_REPOSITORY: 'endorser/images',
    GITHUB_EVENT_NAME: 'pull_request',
    RUNNER_TEMP: runnerTemp,
    RUNNER_OS: 'Linux',
    ...files,
    ...o.env,
  }
  const declared = meta.inputs ?? {}
  for (const name of Object.keys(o.inputs)) if (!(name in declared)) throw new Error(`runner: Unexpected input '${name}', valid inputs are ${Object.keys(declared).join(', ')}`)
  for (const [name, spec] of Object.entries(declared)) {
    const value = o.inputs[name] ?? spec.default ?? ''
    if (spec.required && value === '') throw new Error(`runner: Input required and not supplied: ${name}`)
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  const main = path.join(o.actionDir, meta.runs.main)
  if (!existsSync(main)) throw new Error(`runner: ${meta.runs.main} is not in the committed action`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], { cwd: o.workspace, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let raw = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (raw += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      const masks: string[] = []
      const annotations: Annotation[] = []
      const shown: string[] = []
      let stopped: string | undefined
      for (const line of raw.split('\n')) {
        // ::stop-commands::TOKEN switches commands off until the line ::TOKEN::
        if (stopped !== undefined) {
          if (line === `::${stopped}::`) stopped = undefined
          else shown.push(line)
          continue
        }
        const cmd = /^::([a-z-]+)(?: ([^:]*))?::(.*)$/.exec(line)
        if (cmd?.[1] === 'stop-commands') stopped = cmd[3]!
        else if (cmd?.[1] === 'add-mask') masks.push(unescapeData(cmd[3]!))
        else if (cmd && ['error', 'warning', 'notice'].includes(cmd[1]!)) {
          const props = Object.fromEntries((cmd[2] ?? '').split(',').filter(Boolean).map((p) => [p.slice(0, p.indexOf('=')), unescapeProp(p.slice(p.indexOf('=') + 1))]))
          annotations.push({ level: cmd[1]!, props, message: unescapeData(cmd[3]!) })
          shown.push(`${cmd[1]}: ${unescapeData(cmd[3]!)}`)
        } else shown.push(line)
      }
      const hide = (s: string) => masks.reduce((t, m) => (m ? t.split(m).join('***') : t), s)
      resolve({
        code: code ?? -1,
        raw,
        log: hide(shown.join('\n')),
        stderr,
        masks,
        annotations,
        outputs: parseRunnerFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        env: parseRunnerFile(readFileSync(files.GITHUB_ENV, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        runnerTempLeft: readdirSync(runnerTemp),
      })
    })
  })
}
