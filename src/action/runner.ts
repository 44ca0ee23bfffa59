/**
 * The GitHub Actions runner protocol, as @actions/core speaks it, without its dependencies:
 * inputs (INPUT_<NAME>: spaces to `_`, upper-cased, hyphens kept), outputs and environment
 * files in the multi-line delimiter form, the job summary, workflow commands (::add-mask::,
 * ::error file=,line=,col=::) with their escaping. The environment is passed in, so tests and
 * the action read the same code.
 */
import { randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { EOL } from 'node:os'

export type Env = NodeJS.ProcessEnv
type Write = (text: string) => void

/** The variable the runner sets for input `name` (runner: `INPUT_` + name, spaces to `_`, upper case). */
export const inputVariable = (name: string): string => `INPUT_${name.replace(/ /g, '_').toUpperCase()}`

/** An input's value, trimmed as @actions/core does; '' when not set. */
export function getInput(name: string, env: Env = process.env): string {
  return (env[inputVariable(name)] ?? '').trim()
}

/** Remove every INPUT_* variable, so that no child process (git, tar) inherits a secret input. */
export function forgetInputs(env: Env = process.env): void {
  for (const k of Object.keys(env)) if (k.startsWith('INPUT_')) delete env[k]
}

// escaping of workflow commands (@actions/core command.ts): data and property values
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C')

export function command(name: string, props: Record<string, string | number | undefined>, message: string, write: Write = stdout): void {
  const p = Object.entries(props)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',')
  write(`::${name}${p ? ' ' + p : ''}::${escapeData(message)}${EOL}`)
}

const stdout: Write = (t) => void process.stdout.write(t)

/**
 * `::add-mask::` for every line of a secret: the runner masks per line of output, so a
 * multi-line PEM is masked line by line. The public armour lines (-----BEGIN ...-----) are
 * not secret and would mask unrelated text, so they are left out.
 */
export function maskSecret(secret: string, write: Write = stdout): void {
  if (!secret) return
  const lines = new Set<string>()
  // real line breaks, and the literal \n of a PEM stored on one line (vmgit reads both)
  for (const raw of secret.split(/\r?\n|\\n/)) {
    const l = raw.trim()
    if (l === '' || /^-----(BEGIN|END) [A-Z0-9 ]+-----$/.test(l)) continue
    lines.add(l)
  }
  for (const l of lines) command('add-mask', {}, l, write)
}

/**
 * Print text that comes from the repository (plan lines hold titles and names a pull request
 * controls) with workflow commands switched off around it (::stop-commands::), so that a line
 * in it such as `::add-mask::`, `::error ...` or `::stop-commands::` is shown, never obeyed.
 */
export function untrusted(text: string, write: Write = stdout): void {
  if (!text) return
  const token = `vmgit-${randomUUID()}`
  write(`::stop-commands::${token}${EOL}${text.endsWith('\n') ? text : text + '\n'}::${token}::${EOL}`)
}

/** Append `name<<DELIM\nvalue\nDELIM` to a runner file (GITHUB_OUTPUT, GITHUB_ENV). */
function appendDelimited(file: string, name: string, value: string): void {
  const delim = `ghadelimiter_${randomUUID()}`
  // the runner would cut the value at a line equal to the delimiter: a random one never occurs
  if (name.includes(delim) || value.includes(delim)) throw new Error('output value contains the delimiter')
  appendFileSync(file, `${name}<<${delim}${EOL}${value}${EOL}${delim}${EOL}`)
}

export function setOutput(name: string, value: string, env: Env = process.env): void {
  const file = env.GITHUB_OUTPUT
  if (file) appendDelimited(file, name, value)
  else command('notice', {}, `output ${name} not set: GITHUB_OUTPUT is not defined (not on a GitHub runner)`)
}

export function exportVariable(name: string, value: string, env: Env = process.env): void {
  if (env.GITHUB_ENV) appendDelimited(env.GITHUB_ENV, name, value)
}

export function appendSummary(markdown: string, env: Env = process.env): void {
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, markdown.endsWith('\n') ? markdown : markdown + '\n')
}

export interface Position {
  file?: string
  line?: number
  col?: number
  title?: string
}

/** An annotation: shown on the pull request's diff at file:line:col. */
export function annotate(level: 'error' | 'warning' | 'notice', message: string, at: Position = {}, write: Write = stdout): void {
  command(level, { file: at.file, line: at.line, col: at.col, title: at.title }, message, write)
}

/** Fail the step: an error annotation and exit code 1 (the runner's only failure signal). */
export function setFailed(message: string): void {
  annotate('error', message)
  process.exitCode = 1
}
