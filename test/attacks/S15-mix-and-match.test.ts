import Database from 'better-sqlite3'
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN } from '../helpers/cli.js'
import { type Baseline, subscribed } from '../subscriber/world.js'

/** Open the database after a crash and check that the stored list and its image rows agree. */
function consistent(db: string): { version: string; images: number } {
  const d = new Database(db, { readonly: true })
  try {
    expect(d.pragma('integrity_check', { simple: true })).toBe('ok')
    const s = d.prepare('SELECT id, version, content FROM subscription').get() as { id: string; version: string; content: Buffer }
    const listed = (JSON.parse(s.content.toString()) as { 'hv:imagelist': { 'hv:images': { 'hv:image': { 'dc:identifier': string } }[] } })['hv:imagelist']['hv:images'].map((i) => i['hv:image']['dc:identifier']).sort()
    const rows = (d.prepare('SELECT identifier FROM image WHERE subscription_id = ? ORDER BY identifier').all(s.id) as { identifier: string }[]).map((r) => r.identifier)
    expect(rows).toEqual(listed)
    return { version: s.version, images: rows.length }
  } finally {
    d.close()
  }
}

describe('S15 mix-and-match: a crash or a switch in the middle of a sync', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('serves only images whose sha512 is in the current version (the old file leaves cache/ even without downloading)', async () => {
    const { w } = b
    const a = b.images[0]!
    const a2 = w.image('a2.qcow2', 5000, a.id)
    await w.publish({ id: w.listId, version: '2.0', images: [a2] })
    const r = await w.sync(['--no-download'])
    expect(r.code).toBe(0)
    expect(w.filesIn('cache')).toEqual([])
    expect(consistent(w.db)).toEqual({ version: '2.0', images: 1 })
  })

  it('applies a big list version atomically even when the process is killed -9 at any moment', async () => {
    const { w } = b
    const many = (n: number): Record<string, string | number>[] => Array.from({ length: n }, (_, i) => ({
      'dc:identifier': randomUUID(), 'dc:title': `bulk ${i}`, 'dc:description': 'bulk', 'hv:hypervisor': 'kvm', 'hv:size': 1,
      'hv:uri': `http://127.0.0.1:1/${i}`, 'hv:version': '1', 'sl:arch': 'x86_64', 'sl:checksum:sha512': randomBytes(64).toString('hex'),
      'sl:comments': '', 'sl:os': 'Linux', 'sl:osversion': '9',
    }))
    await w.publish({ id: w.listId, version: '3.0', images: many(8000) })
    const seen = new Set<string>()
    for (const delay of [250, 450, 650, 850, 1050, 1300, 1600, 2000]) {
      const child = spawn(process.execPath, [BIN, 'sync', '--no-download', '--now', w.nowIso], {
        env: { ...process.env, VMGIT_DB: w.db, VMGIT_CACHE_DIR: w.cacheRoot, VMGIT_CA_DIR: w.pki.caDir }, stdio: 'ignore',
      })
      const exited = new Promise((r) => child.once('exit', r))
      await new Promise((r) => setTimeout(r, delay))
      child.kill('SIGKILL')
      await exited
      const c = consistent(w.db)
      seen.add(c.version)
      if (c.version === '3.0') break
    }
    // every crash left version 2.0 (1 image) or 3.0 (8000 images), never a mix; the next sync completes
    const r = await w.sync(['--no-download'])
    expect(r.code).toBe(0)
    expect(consistent(w.db)).toEqual({ version: '3.0', images: 8000 })
    expect([...seen].every((v) => v === '2.0' || v === '3.0')).toBe(true)
  }, 120_000)
})
