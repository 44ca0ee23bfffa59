/**
 * Issue 14: read-only commands never create state. A mistyped database path (flag or
 * environment, vmgit's or vmcatcher's name) is NO_DATABASE naming the path, in text and under
 * --json, and leaves the file system as it was: no database, no directory, no cache.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

let root: string
let n = 0
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'vmgit-read-only-'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Every path under dir (what a command must not add to). */
const tree = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()

const READERS: [string, (db: string, dir: string) => string[]][] = [
  ['sub list', () => ['sub', 'list']],
  ['sub images', () => ['sub', 'images']],
  ['sub show', () => ['sub', 'show', 'some-list']],
  ['sub trust list', () => ['sub', 'trust', 'list']],
  ['sync', (_db, dir) => ['sync', '--cache-dir', path.join(dir, 'cache'), '--ca-dir', dir]],
  ['glance reconcile', (db, dir) => ['glance', 'reconcile', '--db', db, '--endpoint', 'http://127.0.0.1:9', '--work-dir', path.join(dir, 'work'), '--cache-dir', path.join(dir, 'cache')]],
]

describe('read-only commands on a database that does not exist (issue 14)', () => {
  for (const [name, args] of READERS) {
    describe(`vmgit ${name}`, () => {
      for (const how of ['VMGIT_DB', 'VMCATCHER_RDBMS'] as const) {
        it(`exits 2 with NO_DATABASE naming the path given by ${how}, and creates nothing`, async () => {
          const dir = path.join(root, `case-${++n}`)
          mkdirSync(dir)
          const db = path.join(dir, 'typo', 'subscribr.db')
          const env = how === 'VMGIT_DB' ? { VMGIT_DB: db, VMCATCHER_RDBMS: undefined } : { VMGIT_DB: undefined, VMCATCHER_RDBMS: `sqlite:///${db}` }
          const r = await runCli(args(db, dir), { env: { ...env, OS_TOKEN: 'not-used', VMGIT_EVENT: undefined, VMCATCHER_CACHE_EVENT: undefined } })
          expect(r.code).toBe(2)
          expect(r.stderr).toMatch(/^error \[NO_DATABASE\]: /)
          expect(r.stderr).toContain(db)
          expect(tree(dir)).toEqual([])
        })
      }

      it('says the same as one JSON document on stdout under --json', async () => {
        const dir = path.join(root, `case-${++n}`)
        mkdirSync(dir)
        const db = path.join(dir, 'missing.db')
        const r = await runCli([...args(db, dir), '--json'], { env: { VMGIT_DB: db, VMCATCHER_RDBMS: undefined, OS_TOKEN: 'not-used' } })
        expect(r.code).toBe(2)
        const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } }
        expect(doc.ok).toBe(false)
        expect(doc.error.code).toBe('NO_DATABASE')
        expect(doc.error.message).toContain(db)
        expect(tree(dir)).toEqual([])
      })
    })
  }
})
