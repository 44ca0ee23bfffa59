import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { opensslSign } from '../helpers/pki.js'
import { type Baseline, snapshot, subscribed } from '../subscriber/world.js'

describe('S19 parser confusion: extra MIME parts, duplicate JSON keys', () => {
  let b: Baseline
  beforeAll(async () => {
    b = await subscribed()
  })
  afterAll(async () => b.w.close())

  const refused = async (body: Buffer, code: RegExp): Promise<void> => {
    const { w } = b
    w.server.set('/list.smime', { body })
    const before = snapshot(w)
    const r = await w.sync()
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(code)
    expect(snapshot(w)).toEqual(before)
  }

  it('refuses a message with a third MIME part', async () => {
    const { w } = b
    const good = (await w.signed({ id: w.listId, version: '2.0', images: b.images })).toString('latin1')
    const boundary = /boundary="([^"]+)"/.exec(good)![1]!
    const extra = good.replace(`--${boundary}--`, `--${boundary}\nContent-Type: application/json\n\n{"hv:imagelist": {}}\n\n--${boundary}--`)
    await refused(Buffer.from(extra, 'latin1'), /\[(MIME_[A-Z_]+|CMS_MALFORMED)\]/)
  })

  it('refuses a signed part that is itself a nested multipart', async () => {
    const { w } = b
    const inner = `Content-Type: multipart/mixed; boundary="in"\r\n\r\n--in\r\n\r\n${w.listJson({ id: w.listId, version: '2.0', images: b.images })}\r\n--in--\r\n`
    await refused(await opensslSign(inner, w.pki.signer), /\[(NOT_JSON|MIME_[A-Z_]+)\]/)
  })

  it('refuses a validly signed list with duplicate JSON keys', async () => {
    const { w } = b
    const json = w.listJson({ id: w.listId, version: '2.0', images: b.images }).replace('"hv:version": "2.0"', '"hv:version": "1.0", "hv:version": "2.0"')
    await refused(await opensslSign(json, w.pki.signer), /\[JSON_DUPLICATE_KEY\]/)
  })
})
