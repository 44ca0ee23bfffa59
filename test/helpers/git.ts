import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'

/**
 * Issue 15, "GitOps means committed": `vmgit publish` signs only what git HEAD holds, so a test
 * that publishes from a repository first makes it a git repository and commits every change.
 */

/** A fixed identity, so git works on machines without a configured user. */
export const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }

export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, stdio: 'pipe' }).toString().trim()

/** Commits everything in dir (git init first when dir is not yet a repository); returns the commit id. */
export function commitAll(dir: string, msg = 'change'): string {
  if (!existsSync(path.join(dir, '.git'))) git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '--allow-empty', '-m', msg)
  return git(dir, 'rev-parse', 'HEAD')
}
