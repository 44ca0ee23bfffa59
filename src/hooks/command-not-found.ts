import type { Hook } from '@oclif/core'
import notFound from '@oclif/plugin-not-found'
import { escapeText } from '../util/escape.js'
import { VmgitError } from '../util/errors.js'
import { Logger } from '../util/log.js'

/**
 * A mistyped command (issue 14: "did you mean"): on a terminal, @oclif/plugin-not-found asks
 * "Did you mean vmgit verify?" and runs it when confirmed; everywhere else (scripts, CI, --json,
 * or when the question is declined) the answer is one COMMAND_UNKNOWN error naming the closest
 * command, exit 2 like every usage error (not the plugin's 127, which is outside vmgit's exit table),
 * with the --json document when --json was given.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  const json = (opts.argv ?? []).includes('--json')
  const sep = opts.config.topicSeparator ?? ' '
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  // with a space separator oclif folds the arguments into the id ("verfy list.smime" → verfy:list.smime):
  // the command is one of its prefixes, the one nearest to a real command
  const parts = opts.id.split(':')
  let typed = opts.id
  let best: string | undefined
  let bestD = Infinity
  for (let k = parts.length; k >= 1; k--) {
    const prefix = parts.slice(0, k).join(':')
    const c = closest(prefix, ids)
    const d = c === undefined ? Infinity : distance(prefix, c)
    if (d < bestD || (c === undefined && best === undefined && k === 1)) [best, bestD, typed] = [c, d, prefix]
  }
  typed = typed.split(':').join(sep)
  if (!json && process.stdin.isTTY && process.stderr.isTTY) {
    try {
      return await notFound.call(this, opts)
    } catch (e) {
      if ((e as { oclif?: { exit?: number } }).oclif?.exit !== 127) throw e // the command it ran failed: its own exit stands
    }
  }
  const err = new VmgitError('COMMAND_UNKNOWN', `"${typed}" is not a vmgit command${best ? `; did you mean "${opts.config.bin} ${best.split(':').join(sep)}"?` : ''} (${opts.config.bin} help lists the commands)`, best ? { details: { suggestion: best.split(':').join(sep) } } : {})
  if (json) process.stdout.write(JSON.stringify({ ok: false, error: err.toJSON() }, null, 2) + '\n')
  new Logger({ format: 'text' }).error(escapeText(err.message), { code: err.code })
  this.exit(err.exit)
}

/** The command id nearest to what was typed (Levenshtein distance over the whole id, ties: the shorter). */
export function closest(typed: string, ids: string[]): string | undefined {
  let best: { id: string; d: number } | undefined
  for (const id of ids) {
    const d = distance(typed, id)
    if (!best || d < best.d || (d === best.d && id.length < best.id.length)) best = { id, d }
  }
  return best && best.d <= Math.max(3, Math.ceil(typed.length / 2)) ? best.id : undefined
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}

export default hook
