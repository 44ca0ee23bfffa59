import { existsSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, imageEntry, makeWorld, sharedPki, snapshot, subscribed } from '../subscriber/world.js'

describe('S18 injection: identifiers used as paths', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it.each([
    ['a path traversal', '../../escaped'],
    ['a NUL byte', 'abc\u0000def'],
    ['200 characters', 'x'.repeat(200)],
    ['a slash', 'a/b'],
  ])('refuses a list whose image identifier contains %s, and creates no file', async (_what, id) => {
    const { w } = b
    const x = w.image('x.qcow2', 1000)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, imageEntry(x, { 'dc:identifier': id })] })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[UNSAFE_IDENTIFIER]')
    expect(snapshot(w)).toEqual(before)
    expect(existsSync(path.resolve(w.cacheRoot, 'cache', '../../escaped'))).toBe(false)
  })

  it('names cached files by sha512; the identifier link exists only for a vetted identifier', async () => {
    const { w } = b
    const im = b.images[0]!
    expect(w.filesIn('cache')).toEqual([im.id, im.sha512].sort())
  })
})

describe('S18 at subscription time', () => {
  it('refuses a list whose own dc:identifier is unsafe', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      await w.publish({ id: '../../../etc', version: '1', images: [] })
      expect((await w.trust()).code).toBe(0)
      const r = await w.add(w.listUrl)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[UNSAFE_IDENTIFIER]')
      expect(w.dump().subscription).toEqual([])
    } finally {
      await w.close()
    }
  })
})
