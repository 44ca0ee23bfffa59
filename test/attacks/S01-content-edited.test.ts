import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

const fixture = (p: string): Buffer => readFileSync(path.join(ROOT, 'test/fixtures', p))

describe('S01 arbitrary content: a list edited after signing', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('is refused with DIGEST_MISMATCH and the stored list and cache stay as they were', async () => {
    const { w } = b
    const good = await w.signed({ id: w.listId, version: '2.0', images: b.images })
    const edited = Buffer.from(good.toString('latin1').replace('"hv:version": "2.0"', '"hv:version": "3.0"'), 'latin1')
    expect(edited.equals(good)).toBe(false)
    w.server.set('/list.smime', { body: edited })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[DIGEST_MISMATCH]')
    expect(snapshot(w)).toEqual(before)
  })

  it('checks the digest over the exact signed bytes before any JSON parsing', async () => {
    const { w } = b
    const good = await w.signed({ id: w.listId, version: '2.0', images: b.images })
    // break the JSON itself: a parser that ran first would answer NOT_JSON
    const broken = Buffer.from(good.toString('latin1').replace('"hv:imagelist": {', '"hv:imagelist": {{'), 'latin1')
    w.server.set('/list.smime', { body: broken })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[DIGEST_MISMATCH]')
    expect(r.stderr).not.toContain('NOT_JSON')
    expect(snapshot(w)).toEqual(before)
  })

  it.each([
    ['the HEPiX book example (hand-edited after signing)', 'hepix-virtualisation-book/book_example.smime'],
    ['cloudkeeper imagelist_invalid.signed (tampered)', 'cloudkeeper/imagelist_invalid.signed'],
  ])('refuses %s', async (_what, file) => {
    const { w } = b
    w.server.set('/list.smime', { body: fixture(file) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[DIGEST_MISMATCH]')
    expect(snapshot(w)).toEqual(before)
  })
})
