/**
 * The GitHub workflow `vmgit init` writes refers to the vmgit action as ACTION_PLACEHOLDER until
 * `vmgit init --action-ref OWNER/REPO@REF` (or the endorser) puts the real reference there.
 * GitHub fails a workflow whose action it cannot resolve, so validate warns while it is left.
 */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import type { Problem } from './problems.js'

export const ACTION_PLACEHOLDER = 'OWNER/REPO@REF'
/** `uses: OWNER/REPO@REF` in a workflow step (group 1: everything before the reference). */
export const USES_PLACEHOLDER = /^(\s*(?:-\s+)?uses:\s*)OWNER\/REPO@REF(?=\s*(?:#.*)?$)/gm

/** owner/repo[/path]@ref, as a workflow's `uses:` takes it (no docker://, no local ./ path). */
const ACTION_REF = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}(?:\/[A-Za-z0-9._-]+)*@[A-Za-z0-9._/-]{1,255}$/

export function checkActionRef(ref: string): string {
  if (!ACTION_REF.test(ref) || ref === ACTION_PLACEHOLDER || ref.includes('..'))
    throw usageError('BAD_ACTION_REF', `--action-ref "${ref}" is not OWNER/REPO@REF; give where the vmgit action lives, e.g. my-org/vmgit@<commit sha>`)
  return ref
}

/** A full commit SHA: the only ref that cannot be moved under the workflow (tags and branches can). */
export const isPinned = (ref: string): boolean => /@[0-9a-f]{40}$/.test(ref)

/** Warnings for workflow files under .github/workflows that still use the placeholder. */
export async function workflowProblems(dir: string): Promise<Problem[]> {
  const wf = path.join(dir, '.github', 'workflows')
  let names: string[]
  try {
    names = (await readdir(wf)).filter((n) => /\.ya?ml$/.test(n)).sort()
  } catch {
    return []
  }
  const out: Problem[] = []
  for (const name of names) {
    const lines = (await readFile(path.join(wf, name), 'utf8')).split(/\r?\n/)
    lines.forEach((text, i) => {
      const col = text.indexOf(ACTION_PLACEHOLDER)
      if (col < 0 || /^\s*#/.test(text)) return
      out.push({
        file: `.github/workflows/${name}`,
        line: i + 1,
        col: col + 1,
        severity: 'warning',
        code: 'ACTION_PLACEHOLDER',
        message: `uses the placeholder ${ACTION_PLACEHOLDER}, which GitHub cannot run: write the vmgit action's repository and commit SHA here (OWNER/REPO@SHA; vmgit init --action-ref writes it in a new repository)`,
      })
    })
  }
  return out
}
