import { randomBytes } from 'node:crypto'
import { utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, type ImageFile, snapshot, subscribed } from '../subscriber/world.js'

describe('S05 wrong image: the bytes served are not the image the list vouches for', () => {
  let b: Baseline
  let x: ImageFile
  beforeAll(async () => {
    b = await subscribed()
    const { w } = b
    x = w.image('x.qcow2', 30_000)
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, x] })
    expect((await w.sync()).code).toBe(0)
    expect((await w.cli(['sub', 'select', x.id])).code).toBe(0)
  })
  afterAll(async () => b.w.close())

  it('deletes a download whose sha512 differs (same length) and caches nothing', async () => {
    const { w } = b
    w.server.set(x.route, { body: randomBytes(x.size) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[IMAGE_CHECKSUM]')
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('partial')).toEqual([])
  })

  it('deletes a complete download of the wrong length', async () => {
    const { w } = b
    w.server.set(x.route, { body: x.bytes.subarray(0, x.size - 10) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[IMAGE_SIZE_MISMATCH]')
    expect(snapshot(w)).toEqual(before)
    expect(w.filesIn('partial')).toEqual([])
  })

  it('downloads the right bytes once they are served', async () => {
    const { w } = b
    w.server.set(x.route, { file: x.path })
    const r = await w.sync()
    expect(r.code).toBe(0)
    expect(w.filesIn('cache')).toContain(x.sha512)
  })

  it('re-hashes with --check, moves a substituted cached file to expired/ and fetches the real one again', async () => {
    const { w } = b
    const p = path.join(w.cacheRoot, 'cache', x.sha512)
    writeFileSync(p, randomBytes(x.size)) // same size; the hard link cache/<id> points to the same inode
    const r = await w.sync(['--check'])
    expect(r.stderr).toContain('[CACHE_CORRUPT]')
    expect(w.cacheFiles()[`cache/${x.sha512}`]).toBe(x.sha512)
    expect(w.cacheFiles()[`cache/${x.id}`]).toBe(x.sha512)
    expect(w.filesIn('expired').some((n) => n.startsWith(x.id))).toBe(true)
  })

  it('without --check, a cached file whose size or mtime changed is re-hashed too', async () => {
    const { w } = b
    const p = path.join(w.cacheRoot, 'cache', x.sha512)
    writeFileSync(p, randomBytes(x.size))
    utimesSync(p, new Date('2001-01-01'), new Date('2001-01-01'))
    const r = await w.sync()
    expect(r.stderr).toContain('[CACHE_CORRUPT]')
    expect(w.cacheFiles()[`cache/${x.sha512}`]).toBe(x.sha512)
  })
})
