import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli.js'
import { makeTestUser, type TestUser } from '../helpers/users.js'

/**
 * Issue 14: an ordinary problem of the machine is a typed error with its own code and the path,
 * never INTERNAL, and nothing hangs on special files (a FIFO, /dev/zero, /proc). Through the CLI,
 * each with a timeout far below "forever".
 */
describe('environment failures (issue 14)', () => {
  let dir: string
  let repo: string
  let fifo: string
  let user: TestUser
  const run = (args: string[], opts: { uid?: number; gid?: number } = {}): Promise<CliResult> => runCli([...args, '--json'], { timeoutMs: 30_000, env: { VMGIT_REPO: undefined, VMGIT_DB: undefined }, ...opts })

  /** exit 2, the code on stderr and in the one --json document, whose details name the path */
  function typed(r: CliResult, code: string, p: string): void {
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain(`[${code}]`)
    expect(r.stderr).not.toContain('INTERNAL')
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; exit: number; message: string; details?: { path?: string } } }
    expect(doc).toMatchObject({ ok: false, error: { code, exit: 2 } })
    expect(doc.error.details?.path ?? doc.error.message).toContain(p)
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vmgit-env-'))
    chmodSync(dir, 0o755)
    repo = path.join(dir, 'repo')
    const r = await runCli(['init', repo])
    if (r.code !== 0) throw new Error(r.stderr)
    fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    mkdirSync(path.join(dir, 'a-dir'))
    writeFileSync(path.join(dir, 'a-file'), 'x')
    user = makeTestUser()
  })
  afterAll(() => {
    user?.remove()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  describe('vmgit init', () => {
    it('into /proc/x returns at once with FS_CANNOT_CREATE (node\'s recursive mkdir spun there forever)', async () => {
      typed(await run(['init', '/proc/x']), 'FS_CANNOT_CREATE', '/proc/x')
    })
    it('into a file is FS_NOT_A_DIRECTORY naming the file', async () => {
      typed(await run(['init', path.join(dir, 'a-file')]), 'FS_NOT_A_DIRECTORY', path.join(dir, 'a-file'))
    })
  })

  describe('--file, --cert, --key, configuration: regular files only, stat first', () => {
    const add = (file: string) => ['image', 'add', 'x', '--file', file, '--uri', 'https://images.example.org/x.img', '--repo', repo]
    it('image add --file DIR is FS_IS_A_DIRECTORY', async () => typed(await run(add(path.join(dir, 'a-dir'))), 'FS_IS_A_DIRECTORY', path.join(dir, 'a-dir')))
    it('image add --file FIFO is FS_NOT_REGULAR (never read)', async () => typed(await run(add(fifo)), 'FS_NOT_REGULAR', fifo))
    it('image update --file /dev/zero is FS_NOT_REGULAR (never read forever)', async () => typed(await run(['image', 'update', 'example-image', '--file', '/dev/zero', '--repo', repo]), 'FS_NOT_REGULAR', '/dev/zero'))
    it('image add --file LINK-LOOP is FS_LOOP', async () => {
      const [a, b] = [path.join(dir, 'loop-a'), path.join(dir, 'loop-b')]
      symlinkSync(b, a)
      symlinkSync(a, b)
      typed(await run(add(a)), 'FS_LOOP', a)
    })
    it('sub trust --cert FIFO and --cert /dev/zero are FS_NOT_REGULAR', async () => {
      typed(await run(['sub', 'trust', '--cert', fifo, '--db', path.join(dir, 'db1.db')]), 'FS_NOT_REGULAR', fifo)
      typed(await run(['sub', 'trust', '--cert', '/dev/zero', '--db', path.join(dir, 'db1.db')]), 'FS_NOT_REGULAR', '/dev/zero')
    })
    it('sign --key FIFO is FS_NOT_REGULAR', async () => typed(await run(['sign', 'example', '--repo', repo, '--key', fifo, '--cert', '/dev/zero']), 'FS_NOT_REGULAR', fifo))
    it('import-config FIFO is FS_NOT_REGULAR', async () => typed(await run(['import-config', fifo, '--repo', repo]), 'FS_NOT_REGULAR', fifo))
    it('a vmgit.yaml that is a FIFO is FS_NOT_REGULAR for validate', async () => {
      const bad = path.join(dir, 'fifo-repo')
      mkdirSync(bad)
      execFileSync('mkfifo', [path.join(bad, 'vmgit.yaml')])
      typed(await run(['validate', '--repo', bad]), 'FS_NOT_REGULAR', path.join(bad, 'vmgit.yaml'))
    })
  })

  describe('render --out', () => {
    it('onto a FIFO is refused and the FIFO stays (a device or pipe is never replaced by rename)', async () => {
      typed(await run(['render', '--all', '--repo', repo, '--out', fifo]), 'FS_NOT_REGULAR', fifo)
      expect(statSync(fifo).isFIFO()).toBe(true)
    })
    it('onto a directory is FS_IS_A_DIRECTORY', async () => typed(await run(['render', '--all', '--repo', repo, '--out', path.join(dir, 'a-dir')]), 'FS_IS_A_DIRECTORY', path.join(dir, 'a-dir')))
    it('below a file is FS_NOT_A_DIRECTORY', async () => typed(await run(['render', '--all', '--repo', repo, '--out', path.join(dir, 'a-file', 'x.list')]), 'FS_NOT_A_DIRECTORY', path.join(dir, 'a-file')))
    it('into a directory the user may not write is FS_PERMISSION naming the file', async () => {
      const ro = path.join(dir, 'read-only')
      mkdirSync(ro, { mode: 0o555 })
      chmodSync(ro, 0o555)
      typed(await run(['render', '--all', '--repo', repo, '--out', path.join(ro, 'x.list')], user.spawn), 'FS_PERMISSION', path.join(ro, 'x.list'))
    })
  })

  describe('the subscriber database and cache', () => {
    it('a text file as database is DB_CORRUPT', async () => {
      const f = path.join(dir, 'text.db')
      writeFileSync(f, 'hello\n'.repeat(100))
      typed(await run(['sub', 'list', '--db', f]), 'DB_CORRUPT', f)
    })
    it('another program\'s SQLite database is DB_FOREIGN', async () => {
      const f = path.join(dir, 'foreign.db')
      execFileSync(process.execPath, ['-e', `const D=require(${JSON.stringify(path.resolve('node_modules/better-sqlite3'))}); const d=new D(${JSON.stringify(f)}); d.exec('CREATE TABLE foo(a)'); d.close()`])
      typed(await run(['sub', 'list', '--db', f]), 'DB_FOREIGN', f)
    })
    it('a database directory the user may not write is DB_PERMISSION', async () => {
      const d = path.join(dir, 'locked-state')
      mkdirSync(d, { mode: 0o555 })
      chmodSync(d, 0o555)
      typed(await run(['sub', 'trust', '--subject', '/CN=x', '--issuer', '/CN=y', '--name', 'x', '--db', path.join(d, 'sub', 'state.db')], user.spawn), 'DB_PERMISSION', path.join(d, 'sub', 'state.db'))
    })
    it('a cache path that is a file is CACHE_PERMISSION naming it', async () => {
      const f = path.join(dir, 'a-file')
      typed(await run(['sync', '--db', path.join(dir, 'sync.db'), '--cache-dir', f, '--ca-dir', path.join(dir, 'a-dir')]), 'CACHE_PERMISSION', f)
    })
  })
})
