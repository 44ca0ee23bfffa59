#!/usr/bin/env node
// Writes docs/commands.md, the reference of every vmgit command, from the oclif metadata in
// oclif.manifest.json (run `npm run build` first, which regenerates the manifest). The help a
// user sees and this reference come from the same static fields of the commands, so they cannot
// disagree; test/cli/commands-doc.test.ts fails when the file is stale.
//
//   node scripts/readme-commands.mjs            rewrite docs/commands.md
//   node scripts/readme-commands.mjs --check    exit 1 when docs/commands.md is stale
//   --out FILE                                  another file than docs/commands.md
//
// Hidden commands and hidden flags (test hooks such as --now) are left out, as `--help` does.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const DOC_FILE = path.join(ROOT, 'docs/commands.md')
export const REGENERATE = 'run `node scripts/readme-commands.mjs`'

/** `<%= config.bin %>` and `<%= command.id %>` as oclif's help expands them. */
const expand = (text, bin, id) => text.replace(/<%=\s*config\.bin\s*%>/g, bin).replace(/<%=\s*command\.id\s*%>/g, id.split(':').join(' '))

/**
 * Escape Markdown in prose, leaving `code spans` alone: `<` (HTML), `*` and word-edge `_`
 * (emphasis), brackets (links), backslashes. Prose is one line, so only its start could
 * begin a list item or heading.
 */
function prose(text) {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 ? part : part.replace(/[\\*<[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (c) => `\\${c}`)))
    .join('')
    .replace(/^([#+*-]|\d+[.)])(?= |$)/, '\\$1')
}

/**
 * A description: prose paragraphs reflowed, `- ` lines kept as list items, indented lines
 * (examples, formats) kept verbatim in a code block.
 */
function description(text) {
  const out = []
  for (const block of text.trim().split(/\n\s*\n/)) {
    let kind = ''
    let lines = []
    const flush = () => {
      if (kind === 'para') out.push(prose(lines.map((l) => l.trim()).join(' ')), '')
      if (kind === 'list') out.push(...lines.map((l) => `- ${prose(l.replace(/^\s*[-*]\s+/, ''))}`), '')
      if (kind === 'code') {
        const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^\s*/)[0].length))
        out.push('```text', ...lines.map((l) => l.slice(indent)), '```', '')
      }
      lines = []
    }
    for (const line of block.split('\n')) {
      const k = /^\s*[-*] /.test(line) ? 'list' : /^\s+\S/.test(line) ? 'code' : 'para'
      if (k !== kind) flush()
      kind = k
      lines.push(line)
    }
    flush()
  }
  return out
}

function flagValue(f) {
  if (f.type === 'boolean') return ''
  const v = f.helpValue ? [f.helpValue].flat().join(' ') : f.options ? f.options.join('|') : '<value>'
  return `=${v}${f.multiple ? '...' : ''}`
}

const flagName = (f) => (f.type === 'boolean' && f.allowNo ? `--[no-]${f.name}` : `--${f.name}`)

/** Visible flags in help order: the command's own first, the shared --json last. */
function visibleFlags(c) {
  const flags = Object.values(c.flags ?? {}).filter((f) => !f.hidden)
  return [...flags.filter((f) => f.name !== 'json'), ...flags.filter((f) => f.name === 'json')]
}

function usage(c, bin) {
  if (c.usage) return [c.usage].flat().map((u) => `${bin} ${expand(u, bin, c.id)}`)
  const parts = [bin, ...c.id.split(':')]
  for (const a of Object.values(c.args ?? {})) parts.push(a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`)
  if (c.strict === false) parts.push('...')
  for (const f of visibleFlags(c)) {
    const s = `${f.char ? `-${f.char} ` : ''}${flagName(f)}${flagValue(f)}`
    parts.push(f.required ? s : `[${s}]`)
  }
  return [parts.join(' ')]
}

const code = (v) => `\`${String(v).replace(/`/g, "'")}\``

function flagLine(f) {
  const facts = []
  if (f.required) facts.push('required')
  if (f.options) facts.push(`one of ${f.options.map(code).join(', ')}`)
  if (f.default !== undefined && f.default !== false && typeof f.default !== 'function') facts.push(`default ${code([f.default].flat().join(','))}`)
  if (f.env) facts.push(`env ${code(f.env)}`)
  if (f.multiple) facts.push('repeatable')
  if (f.exclusive?.length) facts.push(`not with ${f.exclusive.map((x) => code(`--${x}`)).join(', ')}`)
  if (f.dependsOn?.length) facts.push(`needs ${f.dependsOn.map((x) => code(`--${x}`)).join(', ')}`)
  const name = code(`${f.char ? `-${f.char}, ` : ''}${flagName(f)}${flagValue(f)}`)
  // oclif shows the summary in the flag table and the description under it: both belong here
  const text = [...new Set([f.summary, f.description].filter(Boolean))].join(' ').replace(/\s*\n\s*/g, ' ')
  return `- ${name} ${prose(text)}${facts.length ? ` (${facts.join('; ')})` : ''}`.trimEnd()
}

function commandSection(c, bin) {
  const title = `${bin} ${c.id.split(':').join(' ')}`
  const lines = [`### ${title}`, '']
  const summary = c.summary ?? (c.description ?? '').split('\n')[0]
  if (summary) lines.push(prose(expand(summary, bin, c.id)), '')
  lines.push('```text', ...usage(c, bin), '```', '')
  if (c.description && c.description !== summary) lines.push(...description(expand(c.description, bin, c.id)))
  const args = Object.values(c.args ?? {})
  if (args.length) {
    lines.push('Arguments:', '')
    for (const a of args) {
      const facts = [a.required ? 'required' : 'optional', ...(a.default !== undefined ? [`default ${code(a.default)}`] : []), ...(a.options ? [`one of ${a.options.map(code).join(', ')}`] : [])]
      lines.push(`- ${code(a.name.toUpperCase())} ${prose(a.description ?? '')} (${facts.join('; ')})`)
    }
    lines.push('')
  }
  const flags = visibleFlags(c)
  const groups = new Map()
  for (const f of flags) {
    const g = f.helpGroup ? `${f.helpGroup[0].toUpperCase()}${f.helpGroup.slice(1).toLowerCase()} flags` : 'Flags'
    groups.set(g, [...(groups.get(g) ?? []), f])
  }
  for (const [g, fs] of [...groups].sort(([a], [b]) => (a === 'Flags' ? -1 : b === 'Flags' ? 1 : a.localeCompare(b)))) {
    lines.push(`${g}:`, '', ...fs.map(flagLine), '')
  }
  const examples = (c.examples ?? []).map((e) => (typeof e === 'string' ? { command: e } : e))
  if (examples.length) {
    lines.push('Examples:', '', '```sh')
    for (const e of examples) {
      if (e.description) lines.push(...expand(e.description, bin, c.id).split('\n').map((l) => `# ${l}`))
      lines.push(...expand(e.command, bin, c.id).split('\n').map((l) => (l.startsWith(`${bin} `) ? `$ ${l}` : l)))
    }
    lines.push('```', '')
  }
  if (c.aliases?.length) lines.push(`Aliases: ${c.aliases.map((a) => code(`${bin} ${a.split(':').join(' ')}`)).join(', ')}`, '')
  return lines
}

const anchor = (title) => `#${title.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')}`

/**
 * The whole reference, from the manifest and package.json: a table of contents, then the
 * commands grouped by topic (top-level commands first), each sorted by name.
 */
export function renderCommandsDoc(manifest, pkg) {
  const bin = pkg.oclif?.bin ?? pkg.name
  const topics = pkg.oclif?.topics ?? {}
  const commands = Object.values(manifest.commands)
    .filter((c) => !c.hidden)
    .sort((a, b) => a.id.localeCompare(b.id))
  const groups = new Map([['', []]])
  for (const c of commands) {
    const t = c.id.includes(':') ? c.id.split(':')[0] : ''
    groups.set(t, [...(groups.get(t) ?? []), c])
  }
  const order = [...groups.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
  const heading = (t) => (t === '' ? 'Commands' : `${bin} ${t}`)
  const out = [
    `# ${bin} command reference`,
    '',
    '<!-- Generated by scripts/readme-commands.mjs from oclif.manifest.json; do not edit by hand:',
    `     ${REGENERATE.replace('run ', 'run npm run build && ').replace(/`/g, '')} -->`,
    '',
    `Every command also prints this with \`${bin} COMMAND --help\`. Exit status everywhere: 0 success,`,
    '1 validation or verification failed, 2 usage or configuration error, 3 network or transfer error.',
    '',
  ]
  for (const t of order) {
    const cs = groups.get(t)
    if (!cs.length) continue
    out.push(`- ${heading(t)}${topics[t]?.description ? `: ${prose(topics[t].description)}` : ''}`)
    for (const c of cs) {
      const title = `${bin} ${c.id.split(':').join(' ')}`
      out.push(`  - [${title}](${anchor(title)})${c.summary ? ` ${prose(expand(c.summary, bin, c.id))}` : ''}`)
    }
  }
  out.push('')
  for (const t of order) {
    const cs = groups.get(t)
    if (!cs.length) continue
    out.push(`## ${heading(t)}`, '')
    if (topics[t]?.description) out.push(`${prose(topics[t].description[0].toUpperCase() + topics[t].description.slice(1))}.`, '')
    for (const c of cs) out.push(...commandSection(c, bin))
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n'
}

function main(argv) {
  const check = argv.includes('--check')
  const i = argv.indexOf('--out')
  const file = i >= 0 && argv[i + 1] ? path.resolve(argv[i + 1]) : DOC_FILE
  let manifest
  try {
    manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
  } catch (e) {
    console.error(`cannot read oclif.manifest.json (${e.code ?? e.message}); run npm run build first`)
    return 2
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const doc = renderCommandsDoc(manifest, pkg)
  const rel = path.relative(process.cwd(), file)
  if (check) {
    let current = ''
    try {
      current = readFileSync(file, 'utf8')
    } catch {
      // a missing file is stale too
    }
    if (current === doc) {
      console.log(`${rel} is up to date (${Object.keys(manifest.commands).length} commands)`)
      return 0
    }
    console.error(`${rel} is stale: the commands changed since it was generated; ${REGENERATE} (after npm run build)`)
    return 1
  }
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, doc)
  console.log(`wrote ${rel}`)
  return 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2))
