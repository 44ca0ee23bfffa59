// Helpers for the GitHub Action's scripts: inputs, outputs, masking, step summary.
// Plain node, no dependencies: they run on the runner before and around the vmgit CLI.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ACTION_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const VMGIT_BIN = path.join(ACTION_ROOT, 'bin', 'run.js')

/** Inputs arrive as VMGIT_INPUT_<NAME> (action.yml maps each input explicitly). */
export function input(name, env = process.env) {
  return (env[`VMGIT_INPUT_${name.toUpperCase().replace(/-/g, '_')}`] ?? '').trim()
}

export const truthy = (v) => /^(1|true|yes|on)$/i.test(String(v ?? '').trim())

/** `::add-mask::` every line of a secret, so a multi-line PEM never reaches the log, even in part. */
export function mask(secret, write = (s) => process.stdout.write(s)) {
  if (!secret) return
  for (const line of String(secret).split(/\r?\n/)) {
    const l = line.trim()
    if (l.length >= 4) write(`::add-mask::${l}\n`)
  }
}

/** Write an output with the multi-line delimiter form of $GITHUB_OUTPUT. */
export function setOutput(name, value, env = process.env) {
  const file = env.GITHUB_OUTPUT
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (!file) {
    process.stdout.write(`${name}=${text}\n`)
    return
  }
  const delim = `vmgit_${randomBytes(8).toString('hex')}`
  appendFileSync(file, `${name}<<${delim}\n${text}\n${delim}\n`)
}

export function appendSummary(markdown, env = process.env) {
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, markdown.endsWith('\n') ? markdown : markdown + '\n')
}

/** Run the vmgit CLI; stdout captured, stderr passed through (it never carries secrets). */
export function vmgit(args, { env = process.env, cwd = process.cwd() } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VMGIT_BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] })
    const out = []
    child.stdout.on('data', (d) => out.push(d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString() }))
  })
}

export function fail(message) {
  process.stdout.write(`::error::${message.replace(/\r?\n/g, '%0A')}\n`)
  process.exitCode = 1
}
