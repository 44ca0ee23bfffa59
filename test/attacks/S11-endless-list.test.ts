import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

const CAP = 16 * 1024 * 1024

describe('S11 endless data: a huge or endless list', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  it('stops reading an endless list at the 16 MiB cap and keeps state', async () => {
    const { w } = b
    w.server.set('/list.smime', { endless: true })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_TOO_LARGE]')
    expect(snapshot(w)).toEqual(before)
  })

  it('refuses a list that announces more than the cap without reading it', async () => {
    const { w } = b
    w.server.set('/list.smime', { body: Buffer.alloc(CAP + 1, 0x20) })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[LIST_TOO_LARGE]')
    expect(snapshot(w)).toEqual(before)
  })

  it('still reads a list of exactly the cap (and refuses it for what it is, not for its size)', async () => {
    const { w } = b
    w.server.set('/list.smime', { body: Buffer.alloc(CAP, 0x20) })
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).not.toContain('LIST_TOO_LARGE')
  })
})
