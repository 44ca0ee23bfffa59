import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

describe('S04 wrong list: another valid list of the same endorser served at the subscribed URL', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('is refused with LIST_ID_MISMATCH (vmcatcher 31) and nothing changes', async () => {
    const { w } = b
    const other = randomUUID()
    await w.publish({ id: other, version: '9.0', images: [w.image('other.qcow2', 1000)] })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_ID_MISMATCH]')
    expect(r.stderr).toContain(other)
    expect(snapshot(w)).toEqual(before)
  })

  it('is refused at subscription time when --id names the list expected', async () => {
    const { w } = b
    const r = await w.add(w.server.url('/list.smime'), ['--id', randomUUID()])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_ID_MISMATCH]')
  })
})
