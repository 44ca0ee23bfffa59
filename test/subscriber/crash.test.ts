import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN } from '../helpers/cli.js'
import { type ImageFile, makeWorld, sharedPki, type World } from './world.js'

/**
 * Crash safety: `kill -9` a `vmgit sync` child while it downloads, repeatedly. After every kill
 * the database is intact and cache/ holds only verified files; the next sync finishes, resuming
 * the partial download. (The kill during a list update is in test/attacks/S15-mix-and-match.)
 */
const sha = (b: Buffer): string => createHash('sha512').update(b).digest('hex')

function onlyVerified(w: World, known: ImageFile[]): void {
  const db = new Database(w.db, { readonly: true })
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const blobs = new Set((db.prepare('SELECT sha512 FROM blob').all() as { sha512: string }[]).map((b) => b.sha512))
    const dir = path.join(w.cacheRoot, 'cache')
    // cache/ is created on demand: a run killed before its first download has none yet
    const names = existsSync(dir) ? readdirSync(dir) : []
    for (const name of names) {
      const content = sha(readFileSync(path.join(dir, name)))
      // a blob is named by its own sha512; a link carries the content of a known image
      if (/^[0-9a-f]{128}$/.test(name)) expect(content).toBe(name)
      else expect(known.map((k) => k.sha512)).toContain(content)
    }
    for (const b of blobs) expect(names).toContain(b)
  } finally {
    db.close()
  }
}

describe('kill -9 during downloads', () => {
  let w: World
  let big: ImageFile
  let small: ImageFile
  let partialBefore = 0
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    big = w.image('big.raw', 24 * 1024 * 1024)
    small = w.image('small.raw', 300_000)
    await w.publish({ id: w.listId, version: '1', images: [big, small] })
    for (const r of [await w.trust(), await w.add(w.listUrl), await w.cli(['sub', 'select', big.id]), await w.cli(['sub', 'select', small.id])]) expect(r.code).toBe(0)
    // about 8 MB/s: a download takes ~3 s, so the kills land in the middle of it
    w.server.set(big.route, { file: big.path, trickle: { bytes: 256 * 1024, everyMs: 30 } })
  })
  afterAll(async () => w.close())

  it('leaves a consistent database and only verified files, every time', async () => {
    const caughtMidDownload: boolean[] = []
    // kill points are measured from the moment the big image is requested, not from spawn, so a
    // slow start on a loaded machine cannot make every kill land before the download begins
    for (const delay of [0, 500, 1000, 1500, 200]) {
      const requested = w.server.count(big.route)
      const child = spawn(process.execPath, [BIN, 'sync', '--jobs', '1', '--now', w.nowIso], {
        env: { ...process.env, VMGIT_DB: w.db, VMGIT_CACHE_DIR: w.cacheRoot, VMGIT_CA_DIR: w.pki.caDir }, stdio: 'ignore',
      })
      let done = false
      const exited = new Promise((r) => child.once('exit', (c) => { done = true; r(c) }))
      for (let waited = 0; !done && w.server.count(big.route) === requested && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, delay))
      child.kill('SIGKILL')
      await exited
      onlyVerified(w, [big, small])
      caughtMidDownload.push(w.filesIn('partial').includes(big.sha512))
    }
    // the loop really interrupted downloads (a partial file was left behind)
    expect(caughtMidDownload).toContain(true)
    partialBefore = w.filesIn('partial').includes(big.sha512) ? 1 : 0
  }, 60_000)

  it('finishes at the next sync, resuming the partial file, even over a lock left by a killed run', async () => {
    w.server.set(big.route, { file: big.path })
    w.server.reset()
    const r = await w.sync()
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    onlyVerified(w, [big, small])
    expect(w.cacheFiles()[`cache/${big.id}`]).toBe(big.sha512)
    expect(w.cacheFiles()[`cache/${small.id}`]).toBe(small.sha512)
    expect(w.filesIn('partial')).toEqual([])
    const resumed = w.server.requests.filter((q) => q.path === big.route && q.headers.range)
    // a partial file left by a killed run is resumed with a Range request, not downloaded again
    expect(resumed.length).toBe(partialBefore)
  })
})
