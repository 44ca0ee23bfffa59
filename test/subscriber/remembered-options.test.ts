/**
 * Issue 14: per-subscription verification options are remembered. `sub add --no-crl-check` (a test CA
 * that publishes no CRL) is stored with the subscription (schema 4), shown by `sub show` (lines and
 * --json), and every later `sync` verifies that subscription the same way, so a re-signed list is
 * accepted instead of failing with CRL_MISSING. A flag given to `sync` still overrides it.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Pki } from '../helpers/pki.js'
import { makeWorld, sharedPki, type World } from './world.js'

let pki: Pki
let w: World | undefined
beforeAll(async () => {
  pki = await sharedPki()
})
afterEach(async () => {
  await w?.close()
  w = undefined
})

/** A world whose trust directory holds the CA but no CRL: a subscription needs --no-crl-check. */
async function noCrlWorld(): Promise<World> {
  const world = await makeWorld({ pki })
  await world.publish({ id: world.listId, version: '1', images: [] })
  expect((await world.trust()).code).toBe(0)
  return world
}
const env = (world: World) => ({ env: { VMGIT_CA_DIR: world.pki.noCrlDir } })

describe('issue 14: remembered verification options', () => {
  describe('when a list is subscribed with --no-crl-check', () => {
    it('stores the choice and shows it in sub show (lines and --json)', async () => {
      w = await noCrlWorld()
      const add = await w.cli(['sub', 'add', w.listUrl, '--now', w.nowIso, '--no-crl-check', '--json'], env(w))
      expect(add.code, add.stderr).toBe(0)
      expect(JSON.parse(add.stdout)).toMatchObject({ ok: true, crlCheck: false })
      expect(w.query<{ crl_check: number }>('SELECT crl_check FROM subscription')).toEqual([{ crl_check: 0 }])
      const lines = await w.cli(['sub', 'show', w.listId])
      expect(lines.stdout).toContain('subscription.vmgit:crl_check=False')
      const json = await w.cli(['sub', 'show', w.listId, '--json'])
      expect(JSON.parse(json.stdout)).toMatchObject({ id: w.listId, verification: { crlCheck: false } })
    })

    it('accepts the re-signed list at the next plain sync (no CRL_MISSING)', async () => {
      w = await noCrlWorld()
      expect((await w.cli(['sub', 'add', w.listUrl, '--now', w.nowIso, '--no-crl-check'], env(w))).code).toBe(0)
      await w.publish({ id: w.listId, version: '2', images: [] })
      const s = await w.sync([], env(w))
      expect(s.code, s.stderr).toBe(0)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '2' }])
    })

    it('still checks CRLs when sync is told --crl-check explicitly', async () => {
      w = await noCrlWorld()
      expect((await w.cli(['sub', 'add', w.listUrl, '--now', w.nowIso, '--no-crl-check'], env(w))).code).toBe(0)
      await w.publish({ id: w.listId, version: '2', images: [] })
      const s = await w.sync(['--crl-check'], env(w))
      expect(s.code).toBe(1)
      expect(s.stderr + s.stdout).toMatch(/CRL_MISSING/)
      expect(w.query<{ version: string }>('SELECT version FROM subscription')).toEqual([{ version: '1' }])
    })
  })

  describe('when a list is subscribed with the default', () => {
    it('remembers CRL checks on and a sync without a CRL fails with CRL_MISSING', async () => {
      w = await noCrlWorld()
      expect((await w.add(w.listUrl)).code).toBe(0)
      expect(JSON.parse((await w.cli(['sub', 'show', w.listId, '--json'])).stdout)).toMatchObject({ verification: { crlCheck: true } })
      await w.publish({ id: w.listId, version: '2', images: [] })
      const s = await w.sync([], env(w))
      expect(s.code).toBe(1)
      expect(s.stderr + s.stdout).toMatch(/CRL_MISSING/)
    })
  })
})
