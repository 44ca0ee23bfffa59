import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'

/**
 * Issue 15, "GitOps means committed": `vmgit publish` signs only what git HEAD holds, so a test
 * that publishes from a repository first makes it a git repository and commits every change.
 */

/** A fixed identity and no user/system git config, so commits work the same on any machine. */
export const GIT_ENV = {
  GIT_AUTHOR_NAME: 'vmgit test',
  GIT_AUTHOR_EMAIL: 'test@vmgit.invalid',
  GIT_COMMITTER_NAME: 'vmgit test',
  GIT_COMMITTER_EMAIL: 'test@vmgit.invalid',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
}

export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, stdio: 'pipe' }).toString().trim()

/** Commits everything in dir (git init first when dir is not yet a repository); returns the commit id. */
export function commitAll(dir: string, msg = 'change'): string {
  if (!existsSync(path.join(dir, '.git'))) git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '--allow-empty', '-m', msg)
  return git(dir, 'rev-parse', 'HEAD')
}
