import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { makeWorld, sharedPki, type World } from './world.js'

/** List URLs with credentials: used for basic auth, stored, never printed (vmcatcher printed them). */
describe('a list URL with credentials', () => {
  let w: World
  let other: TestServer
  const secret = 'S3cr3t-t0ken'
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    other = await startServer()
    const img = w.image('i.qcow2', 1000)
    await w.publish({ id: w.listId, version: '1', images: [img] })
    w.server.set('/private.smime', { body: await w.signed({ id: w.listId, version: '1', images: [img] }), auth: { username: 'robot', password: secret } })
    expect((await w.trust()).code).toBe(0)
  })
  afterAll(async () => {
    await other.stop()
    await w.close()
  })

  const authed = (): string => w.server.url('/private.smime').replace('http://', `http://robot:${secret}@`)

  it('is fetched with basic auth and never shown', async () => {
    const add = await w.add(authed())
    expect(add.code).toBe(0)
    const outputs = [add, await w.cli(['sub', 'list']), await w.cli(['sub', 'list', '--json']), await w.cli(['sub', 'show', w.listId]), await w.cli(['sub', 'show', w.listId, '--json']), await w.sync(), await w.sync(['--json'])]
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(secret)
    expect((await w.cli(['sub', 'show', authed()])).stdout).toContain(`subscription.hv:uri=${w.server.url('/private.smime')}`)
    expect(w.server.requests.filter((q) => q.path === '/private.smime').every((q) => q.headers.authorization?.startsWith('Basic '))).toBe(true)
  })

  it('keeps the secret out of error messages too', async () => {
    w.server.set('/private.smime', { status: 500 })
    const r = await w.sync()
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('[HTTP_STATUS]')
    expect(r.stderr).not.toContain(secret)
  })

  it('does not send the credentials to another origin after a redirect', async () => {
    other.set('/elsewhere.smime', { status: 404 })
    w.server.set('/private.smime', { redirect: other.url('/elsewhere.smime') })
    await w.sync()
    expect(other.requests.map((q) => q.headers.authorization)).toEqual([undefined])
  })
})
