import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_IMAGES } from '../../src/net/http.js'
import { NEW_IMAGE_EVENT_CAP } from '../../src/subscriber/newimages.js'
import { type Baseline, imageEntry, makeWorld, readEvents, recordingHandler, sharedPki, snapshot, subscribed } from '../subscriber/world.js'

/** `n` list entries that are valid to store but point at nothing (renamed every version: a fresh prefix). */
function fakeImages(n: number, prefix: string = randomUUID().slice(0, 8)): Record<string, string | number>[] {
  return Array.from({ length: n }, (_, i) => ({
    'dc:identifier': `${prefix}-${i}`, 'dc:title': `junk ${i}`, 'hv:uri': `http://127.0.0.1:9/${prefix}-${i}`, 'hv:size': 1,
    'sl:checksum:sha512': 'ab'.repeat(64), 'hv:version': '1', 'hv:hypervisor': 'kvm', 'hv:format': 'raw', 'sl:arch': 'x86_64', 'sl:os': 'Linux', 'sl:osversion': '9',
  }))
}

describe('S31 amplification: a list with tens of thousands of images, renamed each version', () => {
  let b: Baseline
  let log: string
  let handler: string
  beforeAll(async () => {
    b = await subscribed()
    log = path.join(b.w.dir, 'events.log')
    handler = recordingHandler(b.w.dir, log)
  })
  afterAll(async () => b.w.close())

  const eventTypes = (): string[] => readEvents(log).map((e) => e.VMCATCHER_EVENT_TYPE ?? '')

  it(`refuses a verified list of 20,000 images as a whole (TOO_MANY_IMAGES, default cap ${DEFAULT_MAX_IMAGES}), keeps state and runs no image event`, async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '2.0', images: [...b.images, ...fakeImages(20_000)] })
    const before = snapshot(w)
    const started = Date.now()
    const r = await w.sync([], { env: { VMGIT_EVENT: handler } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[TOO_MANY_IMAGES]')
    expect(r.stderr).toContain('--max-images')
    expect(snapshot(w)).toEqual(before)
    expect(eventTypes()).toEqual(['ProcessPrefix', 'ProcessPostfix'])
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('takes the cap from --max-images / VMGIT_MAX_IMAGES: one image over it is refused, exactly at it accepted', async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '3.0', images: [...b.images, ...fakeImages(50)] })
    const before = snapshot(w)
    const over = await w.sync(['--max-images', '50'])
    expect(over.code).toBe(1)
    expect(over.stderr).toContain('the list has 51 images, more than the 50 allowed')
    expect(snapshot(w)).toEqual(before)
    const at = await w.sync([], { env: { VMGIT_MAX_IMAGES: '51' } })
    expect(at.code).toBe(0)
    expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '3.0' }])
  })

  it(`accepts a version that renames 300 images with ONE summary line and at most ${NEW_IMAGE_EVENT_CAP} SubscriptionImageNew events`, async () => {
    const { w } = b
    await w.publish({ id: w.listId, version: '4.0', images: [...b.images, ...fakeImages(300)] })
    const r = await w.sync(['--no-download'], { env: { VMGIT_EVENT: handler } })
    expect(r.code).toBe(0)
    const offers = r.stdout.split('\n').filter((l) => l.includes(' offers '))
    expect(offers).toHaveLength(1)
    expect(offers[0]).toMatch(/offers 300 new images .*`vmgit sub images` lists them/)
    expect(r.stderr).toContain('[NEW_IMAGE_EVENTS_CAPPED]')
    expect(r.stderr).toContain(`first ${NEW_IMAGE_EVENT_CAP} only (${300 - NEW_IMAGE_EVENT_CAP} not run`)
    expect(eventTypes().filter((t) => t === 'SubscriptionImageNew')).toHaveLength(NEW_IMAGE_EVENT_CAP)
    // the good image is untouched: still selected and cached
    expect(w.filesIn('cache')).toContain(b.images[0]!.sha512)
    const json = await w.sync(['--no-download', '--json'])
    expect(JSON.parse(json.stdout).ok).toBe(true)
  })

  it(`reports and fires per image up to ${NEW_IMAGE_EVENT_CAP} new images, with no warning`, async () => {
    const { w } = b
    const x = w.image('x.qcow2', 100)
    await w.publish({ id: w.listId, version: '5.0', images: [...b.images, imageEntry(x), ...fakeImages(NEW_IMAGE_EVENT_CAP - 1)] })
    const n = readEvents(log).length
    const r = await w.sync(['--no-download'], { env: { VMGIT_EVENT: handler } })
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n').filter((l) => l.includes(' offers new image '))).toHaveLength(NEW_IMAGE_EVENT_CAP)
    expect(r.stderr).not.toContain('NEW_IMAGE_EVENTS_CAPPED')
    const fresh = readEvents(log).slice(n)
    expect(fresh.filter((e) => e.VMCATCHER_EVENT_TYPE === 'SubscriptionImageNew')).toHaveLength(NEW_IMAGE_EVENT_CAP)
    expect(fresh.some((e) => e.VMCATCHER_EVENT_DC_IDENTIFIER === x.id)).toBe(true)
  })
})

describe('S31 when the subscription refuses new images', () => {
  it('refuses a version adding 300 images with one bounded message, and keeps state', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const a = w.image('a.qcow2', 100)
      await w.publish({ id: w.listId, version: '1', images: [a] })
      expect((await w.trust()).code).toBe(0)
      expect((await w.add(w.listUrl, ['--new-images', 'refuse'])).code).toBe(0)
      await w.publish({ id: w.listId, version: '2', images: [a, ...fakeImages(300)] })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[NEW_IMAGE_REFUSED]')
      expect(r.stderr).toContain('and 290 more')
      expect(r.stderr.length).toBeLessThan(4000)
      expect(snapshot(w)).toEqual(before)
    } finally {
      await w.close()
    }
  })
})

describe('S31 at subscription time', () => {
  it('refuses to subscribe to a list above the cap, and records nothing', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      await w.publish({ id: w.listId, version: '1', images: fakeImages(DEFAULT_MAX_IMAGES + 1) })
      expect((await w.trust()).code).toBe(0)
      const before = snapshot(w)
      const r = await w.add(w.listUrl)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[TOO_MANY_IMAGES]')
      expect(snapshot(w)).toEqual(before)
      expect((await w.add(w.listUrl, ['--max-images', String(DEFAULT_MAX_IMAGES + 1)])).code).toBe(0)
    } finally {
      await w.close()
    }
  })
})
