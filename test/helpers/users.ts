import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

/**
 * A second, unprivileged user for tests of ownership and permissions. As root (CI): a throwaway
 * system user made with useradd and removed by `remove()`. Otherwise the tests run as this user,
 * whose file modes are honoured anyway (root ignores them, which is why root needs the second user).
 */
export interface TestUser {
  name: string
  uid: number
  gid: number
  /** spawn options that run a child as this user (empty when it is the current user) */
  spawn: { uid?: number; gid?: number }
  remove(): void
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0

export function makeTestUser(): TestUser {
  if (!isRoot()) {
    const uid = process.getuid?.() ?? -1
    const gid = process.getgid?.() ?? -1
    return { name: execFileSync('id', ['-un']).toString().trim(), uid, gid, spawn: {}, remove: () => {} }
  }
  const name = `vmgt${randomBytes(4).toString('hex')}`
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name])
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim())
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim())
  return {
    name, uid, gid, spawn: { uid, gid },
    remove: () => {
      execFileSync('userdel', [name], { stdio: 'ignore' })
    },
  }
}
