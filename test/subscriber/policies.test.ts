import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { makeWorld, sharedPki, snapshot } from './world.js'

describe('the new-image policy of a subscription (vmcatcher\'s refuse / accept / subscribe)', () => {
  it('subscribe: every image, initial and new, is selected and downloaded', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const a = w.image('a.qcow2', 1000)
      await w.publish({ id: w.listId, version: '1', images: [a] })
      for (const r of [await w.trust(), await w.add(w.listUrl, ['--new-images', 'subscribe']), await w.sync()]) expect(r.code).toBe(0)
      const b = w.image('b.qcow2', 1000)
      await w.publish({ id: w.listId, version: '2', images: [a, b] })
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`list ${w.listId} offers new image ${b.id} (Image b.qcow2), selected automatically`)
      expect(w.filesIn('cache')).toEqual([a.id, a.sha512, b.id, b.sha512].sort())
    } finally {
      await w.close()
    }
  })

  it('refuse: a version that adds an image is refused whole (vmcatcher 32) and nothing changes', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const a = w.image('a.qcow2', 1000)
      await w.publish({ id: w.listId, version: '1', images: [a] })
      for (const r of [await w.trust(), await w.add(w.listUrl, ['--new-images', 'refuse'])]) expect(r.code).toBe(0)
      await w.publish({ id: w.listId, version: '2', images: [a, w.image('b.qcow2', 10)] })
      const before = snapshot(w)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[NEW_IMAGE_REFUSED]')
      expect(snapshot(w)).toEqual(before)
    } finally {
      await w.close()
    }
  })

  it('an image identifier may appear in several subscriptions (AppDB VO lists); the cache shares the file', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const a = w.image('a.qcow2', 3000)
      const other = randomUUID()
      await w.publish({ id: w.listId, version: '1', images: [a] })
      await w.publish({ id: other, version: '1', images: [a] }, { route: '/vo2.smime' })
      for (const r of [await w.trust(), await w.add(w.listUrl), await w.add(w.server.url('/vo2.smime')), await w.cli(['sub', 'select', a.id])]) expect(r.code).toBe(0)
      w.server.reset()
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout.trim().split('\n')).toHaveLength(2)
      expect(w.server.count(a.route)).toBe(1)
      expect(w.filesIn('cache')).toEqual([a.id, a.sha512].sort())
      // leaving one list keeps the file for the other
      expect((await w.cli(['sub', 'remove', other])).code).toBe(0)
      expect((await w.sync()).code).toBe(0)
      expect(w.filesIn('cache')).toEqual([a.id, a.sha512].sort())
    } finally {
      await w.close()
    }
  })

  it('untrusting the endorser makes its subscriptions unauthorised: lists refused, images expired', async () => {
    const w = await makeWorld({ pki: await sharedPki() })
    try {
      const a = w.image('a.qcow2', 1000)
      await w.publish({ id: w.listId, version: '1', images: [a] })
      for (const r of [await w.trust(), await w.add(w.listUrl), await w.cli(['sub', 'select', a.id]), await w.sync()]) expect(r.code).toBe(0)
      const u = await w.cli(['sub', 'untrust', 'test-endorser'])
      expect(u.stdout).toContain(`subscription ${w.listId} is no longer authorised`)
      expect((await w.cli(['sub', 'list'])).stdout).toContain(`${w.listId}\tFalse\tok`)
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('[SUBSCRIPTION_UNAUTHORISED]')
      expect(r.stdout).toContain(`image ${a.id} (list ${w.listId}) expired: endorser no longer trusted`)
      expect(w.filesIn('cache')).toEqual([])
    } finally {
      await w.close()
    }
  })
})
