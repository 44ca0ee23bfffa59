import type { Action, ImagePlan, KeyChange, ListPlan, Plan, PlanIssue } from './plan.js'

/** The three forms of a plan: Terraform-style text, Markdown for PR comments, JSON for scripts. */
export type PlanFormat = 'text' | 'markdown' | 'json'

const SIGN: Record<Action, string> = { add: '+', remove: '-', change: '~', same: ' ' }
const VERB: Record<Action, string> = { add: 'will be added', remove: 'will be removed', change: 'will be updated', same: 'unchanged' }

/** Marker that lets the GitHub Action find and update its own pull-request comment. */
export const PLAN_COMMENT_MARKER = '<!-- vmgit-plan -->'

const short = (v: unknown): string => {
  const s = String(v)
  return s.length > 72 ? `${s.slice(0, 69)}...` : s
}

function changeLine(c: KeyChange): string {
  if (c.from === undefined) return `${c.key} = ${JSON.stringify(short(c.to))}`
  if (c.to === undefined) return `${c.key} = ${JSON.stringify(short(c.from))} -> (removed)`
  return `${c.key}: ${JSON.stringify(short(c.from))} -> ${JSON.stringify(short(c.to))}`
}

const versionMove = (v: { from?: string; to?: string }): string =>
  v.from && v.to && v.from !== v.to ? ` (version ${v.from} -> ${v.to})` : v.to && !v.from ? ` (version ${v.to})` : ''

export function summaryLine(plan: Plan): string {
  const s = plan.summary
  const problems = s.errors || s.warnings ? `, ${s.errors} error(s), ${s.warnings} warning(s)` : ''
  if (s.add + s.change + s.remove === 0) return `No changes. The published lists match ${plan.head}${problems}.`
  return `Plan: ${s.add} list(s) to add, ${s.change} to change, ${s.remove} to remove${problems}.`
}

const issueLine = (i: PlanIssue): string => `${i.severity}[${i.code}]: ${i.message}`

function imageLines(img: ImagePlan, indent: string): string[] {
  if (img.action === 'same') return []
  const out = [`${indent}${SIGN[img.action]} image "${img.title}" (${img.identifier}) ${VERB[img.action]}${versionMove(img.version)}`]
  if (img.action === 'change') for (const c of img.changes) out.push(`${indent}    ${changeLine(c)}`)
  return out
}

function listLines(l: ListPlan): string[] {
  const out = [`${SIGN[l.action]} list ${l.name} "${l.title}" (${l.identifier}) ${VERB[l.action]}${versionMove(l.version)}`]
  for (const c of l.changes) out.push(`    ${changeLine(c)}`)
  for (const img of l.images) out.push(...imageLines(img, '  '))
  return out
}

export function formatText(plan: Plan): string {
  const lines = [
    `vmgit plan: ${plan.base} -> ${plan.head}`,
    'Legend: + add, ~ update in place, - remove',
    ...(plan.registry ? [`Registry: ${plan.registry} (images to PREFIX/<image>, lists to PREFIX/<list>)`] : []),
    '',
  ]
  for (const l of plan.lists) if (l.action !== 'same') lines.push(...listLines(l), '')
  for (const i of plan.issues) lines.push(issueLine(i))
  if (plan.issues.length) lines.push('')
  lines.push(summaryLine(plan))
  return lines.join('\n') + '\n'
}

const md = (s: string): string => s.replace(/[|`*_<>[\]\\]/g, (c) => `\\${c}`)

export function formatMarkdown(plan: Plan): string {
  const out = [PLAN_COMMENT_MARKER, '### vmgit plan', '', `\`${md(plan.base)}\` → \`${md(plan.head)}\``, '', ...(plan.registry ? [`Registry: \`${md(plan.registry)}\``, ''] : []), `**${summaryLine(plan)}**`, '']
  const changed = plan.lists.filter((l) => l.action !== 'same')
  if (changed.length) {
    out.push('| | list | version | images added / changed / removed |', '|---|---|---|---|')
    for (const l of changed) {
      const n = (a: string) => l.images.filter((i) => i.action === a).length
      out.push(`| ${SIGN[l.action]} | ${md(l.name)} (${md(l.title)}) | ${md(versionMove(l.version).replace(/^ \(version |\)$/g, '') || '-')} | ${n('add')} / ${n('change')} / ${n('remove')} |`)
    }
    out.push('', '<details><summary>Details</summary>', '', '```diff')
    for (const l of changed) out.push(...listLines(l))
    out.push('```', '', '</details>', '')
  }
  if (plan.issues.length) {
    out.push('#### Problems', '')
    for (const i of plan.issues) out.push(`- ${i.severity === 'error' ? '❌' : '⚠️'} **${i.code}**: ${md(i.message)}`)
    out.push('')
  }
  return out.join('\n')
}

export function formatPlan(plan: Plan, format: PlanFormat): string {
  if (format === 'json') return JSON.stringify(plan, null, 2) + '\n'
  return format === 'markdown' ? formatMarkdown(plan) : formatText(plan)
}
