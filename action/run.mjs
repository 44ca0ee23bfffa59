#!/usr/bin/env node
// The GitHub Action's main step: `vmgit validate | plan | publish` with the runner's conventions.
// Secrets arrive as inputs; they are masked first, handed to vmgit only through its environment
// (never written to disk) and never printed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { appendSummary, fail, input, mask, setOutput, truthy, vmgit } from './lib.mjs'

const command = input('command') || 'plan'
const repo = path.resolve(input('working-directory') || '.')
const key = input('signing-key')
const cert = input('signing-cert')
const passphrase = input('signing-key-passphrase')
mask(key)
mask(passphrase)

// The child sees the credentials as VMGIT_SIGNING_* and nothing else of the action's inputs.
const env = { ...process.env }
for (const k of Object.keys(env)) if (k.startsWith('VMGIT_INPUT_')) delete env[k]
if (key) env.VMGIT_SIGNING_KEY = key
if (cert) env.VMGIT_SIGNING_CERT = cert
if (passphrase) env.VMGIT_KEY_PASSPHRASE = passphrase

const tmp = mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'vmgit-'))
try {
  if (command === 'validate') {
    const r = await vmgit(['validate', '--repo', repo], { env })
    process.stdout.write(r.stdout)
    setOutput('changed', 'false')
    if (r.code !== 0) fail('vmgit validate found problems (see above)')
  } else if (command === 'plan') {
    const md = path.join(tmp, 'plan.md')
    const args = ['plan', '--repo', repo, '--format', 'json', '--summary', md]
    if (input('base')) args.push('--base', input('base'))
    const r = await vmgit(args, { env })
    setOutput('plan', r.stdout.trim() || '{}')
    setOutput('changed', r.code === 2 ? 'true' : 'false')
    let markdown = ''
    try {
      markdown = readFileSync(md, 'utf8')
    } catch {
      markdown = ''
    }
    if (markdown) {
      appendSummary(markdown)
      const keep = input('plan-file')
      if (keep) {
        const { writeFileSync } = await import('node:fs')
        writeFileSync(path.resolve(keep), markdown)
      }
    }
    if (r.code === 1 || (r.code !== 0 && r.code !== 2)) fail('vmgit plan found errors (see the plan)')
  } else if (command === 'publish') {
    const args = ['publish', '--repo', repo, '--json']
    if (truthy(input('dry-run'))) args.push('--dry-run')
    if (input('refresh-before')) args.push('--refresh-before', input('refresh-before'))
    args.push(...input('lists').split(/[\s,]+/).filter(Boolean))
    const r = await vmgit(args, { env })
    let report = {}
    try {
      report = JSON.parse(r.stdout)
    } catch {
      report = {}
    }
    const published = (report.lists ?? [])
      .filter((l) => l.action === 'published' || l.action === 'refreshed')
      .map((l) => ({ identifier: l.identifier, version: l.version, uri: l.uri }))
    setOutput('published', published)
    setOutput('changed', published.length > 0 ? 'true' : 'false')
    const rows = (report.lists ?? []).map((l) => `| ${l.name} | ${l.action} | ${l.version ?? ''} | ${l.uri ?? ''} |`)
    appendSummary(['### vmgit publish', '', '| list | result | version | uri |', '|---|---|---|---|', ...rows, ''].join('\n'))
    if (r.code !== 0) fail(`vmgit publish failed (exit ${r.code}); the previously published lists are still in place`)
  } else {
    fail(`unknown command "${command}": use validate, plan or publish`)
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
