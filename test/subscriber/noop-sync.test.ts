/**
 * Issue 6 (a no-change `vmgit sync` of 200 subscriptions under 2 s, bench/subscriber-sync-noop.mjs):
 * the run is fast because the requests of the next lists overlap the verification of the current
 * one and reuse kept-alive connections, never because a check is skipped. Every list still gets
 * exactly one conditional request per run, and its stored copy is still verified (S23).
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeWorld, sharedPki, type ImageFile, type World } from './world.js'

const N = 12

describe('issue 6: a no-change sync of many subscriptions', () => {
  let w: World
  let img: ImageFile
  const ids = Array.from({ length: N }, () => randomUUID())
  const route = (i: number): string => `/list${i}.smime`
  const publish = (i: number, version: string): Promise<Buffer> =>
    w.publish({ id: ids[i]!, version, uri: w.server.url(route(i)), images: i === 0 ? [img] : [] }, { route: route(i) })

  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    img = w.image('img.qcow2', 8_000)
    for (let i = 0; i < N; i++) await publish(i, '1')
    expect((await w.trust()).code).toBe(0)
    for (let i = 0; i < N; i++) expect((await w.add(w.server.url(route(i)))).stderr).toBe('')
    expect((await w.cli(['sub', 'select', img.id])).code).toBe(0)
    const first = await w.sync()
    expect(first.code, first.stderr).toBe(0)
  })
  afterAll(async () => w.close())

  describe('when every list is unchanged', () => {
    it('asks each list exactly once with its validators (one 304 each), over kept-alive connections, quietly and without changing state', async () => {
      const before = w.dump()
      w.server.reset()
      const connected = w.server.connections()
      const r = await w.sync()
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' })
      for (let i = 0; i < N; i++) expect(w.server.count(route(i))).toBe(1)
      const lists = w.server.requests.filter((q) => /^\/list\d+\.smime$/.test(q.path))
      expect(lists).toHaveLength(N)
      for (const q of lists) {
        expect(q.headers['if-none-match']).toMatch(/^".+"$/)
        expect(q.status).toBe(304)
      }
      // 8 lists asked ahead at most, each connection used again once its 304 was read
      expect(w.server.connections() - connected).toBeLessThanOrEqual(8)
      expect(w.dump()).toEqual(before)
    })
  })

  describe('when one list in the middle of the run changes', () => {
    it('takes its new version, still asks every list exactly once, and reports that one change', async () => {
      await publish(5, '2')
      w.server.reset()
      const r = await w.sync()
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout + r.stderr).toContain(`list ${ids[5]} updated: hv:version 1 -> 2`)
      for (let i = 0; i < N; i++) expect(w.server.count(route(i))).toBe(1)
      expect(w.query<{ version: string }>('SELECT version FROM subscription WHERE id = ?', ids[5])).toEqual([{ version: '2' }])
      expect(w.query<{ n: number }>("SELECT COUNT(*) AS n FROM subscription WHERE version = '1'")).toEqual([{ n: N - 1 }])
    })
  })

  describe('when the stored lists no longer verify against the trust directory (S23)', () => {
    it('still verifies every stored copy after its 304 and withdraws each one (STORED_LIST_UNTRUSTED per list)', async () => {
      w.server.reset()
      const r = await w.sync([], { env: { VMGIT_CA_DIR: w.pki.ca2Dir } })
      expect(r.code).toBe(1)
      for (let i = 0; i < N; i++) expect(w.server.count(route(i))).toBe(1)
      expect(r.stderr.match(/STORED_LIST_UNTRUSTED/g)).toHaveLength(N)
      expect(w.query<{ n: number }>("SELECT COUNT(*) AS n FROM subscription WHERE status = 'expired'")).toEqual([{ n: N }])
    })
  })

  describe('when the endorser is no longer trusted', () => {
    it('asks none of its lists (nothing is asked ahead for them either)', async () => {
      expect((await w.cli(['sub', 'untrust', 'test-endorser'])).code).toBe(0)
      w.server.reset()
      const r = await w.sync()
      expect(r.code).toBe(1)
      expect(w.server.requests.filter((q) => /^\/list\d+\.smime$/.test(q.path))).toEqual([])
    })
  })
})
