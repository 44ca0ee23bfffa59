/**
 * Issue 14 (smaller ones): what `vmgit sync` says when there is nothing to do or its event
 * handler cannot do its part. Nothing here may look like a healthy, quiet run.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeWorld, recordingHandler, sharedPki, type ImageFile, type World } from './world.js'

interface SyncJson {
  ok: boolean
  exit: number
  subscriptions: number
  problems: { code: string; severity: string; message: string }[]
}

describe('sync outcome (issue 14)', () => {
  let w: World
  let img: ImageFile
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    img = w.image('img.ova', 5_000)
    await w.publish({ id: w.listId, version: '1', images: [img] })
  })
  afterAll(async () => w.close())

  describe('when the database holds no subscription', () => {
    beforeAll(async () => {
      expect((await w.trust()).code).toBe(0) // creates the database, subscribes to nothing
    })

    it('says so on stderr, naming the database and the command that subscribes, and exits 0', async () => {
      const r = await w.sync()
      expect(r.code).toBe(0)
      expect(r.stdout).toBe('')
      expect(r.stderr).toContain(`warning [NO_SUBSCRIPTIONS]: no subscriptions in ${w.db}`)
      expect(r.stderr).toContain('vmgit sub add URL')
    })

    it('says so under --json as a NO_SUBSCRIPTIONS problem in the one document on stdout', async () => {
      const r = await w.sync(['--json'])
      expect(r.code).toBe(0)
      const doc = JSON.parse(r.stdout) as SyncJson
      expect(doc).toMatchObject({ ok: true, exit: 0, subscriptions: 0 })
      expect(doc.problems).toEqual([expect.objectContaining({ code: 'NO_SUBSCRIPTIONS', severity: 'warning' })])
    })
  })

  describe('when subscribed', () => {
    beforeAll(async () => {
      for (const r of [await w.add(w.listUrl), await w.cli(['sub', 'select', img.id])]) expect(r.code).toBe(0)
    })

    it('does not report NO_SUBSCRIPTIONS', async () => {
      const r = await w.sync(['--json'])
      expect((JSON.parse(r.stdout) as SyncJson).problems.map((p) => p.code)).not.toContain('NO_SUBSCRIPTIONS')
    })

    describe('and the event handler does not exist', () => {
      it('reports EVENT_HANDLER_MISSING once, naming the fix, exits 2 and keeps the cache', async () => {
        const r = await w.sync(['--event', path.join(w.dir, 'no-such-handler')])
        expect(r.code).toBe(2)
        const lines = r.stderr.split('\n').filter((l) => l.includes('EVENT_HANDLER_MISSING'))
        expect(lines).toHaveLength(1)
        expect(lines[0]).toMatch(/^error \[EVENT_HANDLER_MISSING\]: the event command could not be run for \d+ event\(s\) .*no-such-handler.*fix --event/)
        expect(w.cacheFiles()[`cache/${img.id}`]).toBe(img.sha512)
      })

      it('says the same under --json with ok false and exit 2', async () => {
        const r = await w.sync(['--json', '--event', path.join(w.dir, 'no-such-handler')])
        expect(r.code, r.stdout).toBe(2)
        const doc = JSON.parse(r.stdout) as SyncJson
        expect(doc).toMatchObject({ ok: false, exit: 2 })
        expect(doc.problems).toContainEqual(expect.objectContaining({ code: 'EVENT_HANDLER_MISSING', severity: 'config' }))
      })
    })

    describe('and the event handler is not executable', () => {
      it('reports EVENT_HANDLER_MISSING and exits 2', async () => {
        const log = path.join(w.dir, 'never.log')
        const script = recordingHandler(w.dir, log)
        const plain = path.join(w.dir, 'plain-handler.sh')
        writeFileSync(plain, readFileSync(script), { mode: 0o644 })
        const r = await w.sync(['--event', plain])
        expect(r.code).toBe(2)
        expect(r.stderr).toContain('error [EVENT_HANDLER_MISSING]')
      })
    })

    describe('and the event handler fails', () => {
      it('reports EVENT_FAILED per event and exits 1, after every event ran', async () => {
        const r = await w.sync(['--event', 'exit 4'])
        expect(r.code).toBe(1)
        expect(r.stderr).toContain('error [EVENT_FAILED]: event handler for ProcessPrefix exited with 4')
        expect(r.stderr).toContain('error [EVENT_FAILED]: event handler for ProcessPostfix exited with 4')
      })

      it('reports it under --json with severity failed, ok false and exit 1', async () => {
        const r = await w.sync(['--json', '--event', 'exit 4'])
        expect(r.code).toBe(1)
        const doc = JSON.parse(r.stdout) as SyncJson
        expect(doc).toMatchObject({ ok: false, exit: 1 })
        expect(doc.problems.filter((p) => p.code === 'EVENT_FAILED').map((p) => p.severity)).toEqual(['failed', 'failed'])
      })
    })

    describe('and the event handler succeeds', () => {
      it('exits 0 with no event problem', async () => {
        const r = await w.sync(['--json', '--event', 'exit 0'])
        expect(r.code).toBe(0)
        expect((JSON.parse(r.stdout) as SyncJson).problems.filter((p) => p.code.startsWith('EVENT_'))).toEqual([])
      })
    })
  })

  it('leaves the database a vmgit database throughout (sanity)', () => {
    const d = new Database(w.db, { readonly: true })
    expect((d.prepare('SELECT count(*) AS n FROM subscription').get() as { n: number }).n).toBe(1)
    d.close()
  })
})
