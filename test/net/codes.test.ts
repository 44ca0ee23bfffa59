/**
 * Issue 14, "one failure = one code": verify, sub add and image add read URLs through the same
 * network client (src/net/), so the same server failure gives the same code and exit status in
 * all three, on stderr and in --json. Real servers on 127.0.0.1.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/http-server.js'
import { makeWorld, sharedPki, type World } from '../subscriber/world.js'
import { tlsMaterial } from '../helpers/tls.js'

describe('one failure = one code (verify, sub add, image add)', { timeout: 180_000 }, () => {
  let w: World
  let untrusted: TestServer
  let repo: string
  beforeAll(async () => {
    w = await makeWorld({ pki: await sharedPki() })
    untrusted = await startServer({ tls: tlsMaterial(path.join(w.dir, 'tls')) })
    untrusted.set('/x', { body: 'x' })
    repo = mkdtempSync(path.join(os.tmpdir(), 'vmgit-net-repo-'))
    writeFileSync(path.join(repo, 'vmgit.yaml'), 'version: 1\n')
    expect((await w.trust()).code).toBe(0)
  })
  afterAll(async () => {
    await untrusted.stop()
    await w.close()
  })

  /** The three commands on one URL, each with and without --json: [exit, code] pairs. */
  async function codes(url: string, env: Record<string, string> = {}): Promise<[number, string][]> {
    const runs = [
      ['verify', url, '--ca-dir', w.pki.caDir],
      ['sub', 'add', url, '--now', w.nowIso],
      ['image', 'add', 'probe', '--url', url, '--repo', repo],
    ]
    const out: [number, string][] = []
    for (const args of runs) {
      const text = await w.cli(args, { env })
      const json = await w.cli([...args, '--json'], { env })
      const doc = JSON.parse(json.stdout) as { ok: boolean; error: { code: string } }
      expect(doc.ok).toBe(false)
      expect(json.code).toBe(text.code)
      const m = /\[([A-Z0-9_]+)\]/.exec(text.stderr)
      expect(m?.[1]).toBe(doc.error.code)
      out.push([text.code, doc.error.code])
    }
    return out
  }

  describe('when the server answers 404', () => {
    it('is HTTP_STATUS, exit 3, from all three', async () => {
      expect(await codes(w.server.url('/nothing-here'))).toEqual(Array(3).fill([3, 'HTTP_STATUS']))
    })
  })

  describe('when nothing listens at the port', () => {
    it('is FETCH_CONNECTION_REFUSED, exit 3, from all three', async () => {
      expect(await codes('http://127.0.0.1:1/list')).toEqual(Array(3).fill([3, 'FETCH_CONNECTION_REFUSED']))
    })
  })

  describe('when the https server certificate is not trusted', () => {
    it('is TLS_VERIFY, exit 3, from all three', async () => {
      expect(await codes(untrusted.url('/x'))).toEqual(Array(3).fill([3, 'TLS_VERIFY']))
    })
  })

  describe('when the server stalls in the middle of the body', () => {
    it('is FETCH_IDLE_TIMEOUT, exit 3 (never INTERNAL), from all three', async () => {
      w.server.set('/stall', { body: Buffer.alloc(300_000, 7), stallAfter: 1000 })
      expect(await codes(w.server.url('/stall'), { VMGIT_IDLE_TIMEOUT: '1' })).toEqual(Array(3).fill([3, 'FETCH_IDLE_TIMEOUT']))
    })
  })

  describe('when the connection drops in the middle of the body', () => {
    it('is DOWNLOAD_INTERRUPTED, exit 3, from all three', async () => {
      w.server.set('/drop', { body: Buffer.alloc(300_000, 7), dropAfter: 1000 })
      expect(await codes(w.server.url('/drop'))).toEqual(Array(3).fill([3, 'DOWNLOAD_INTERRUPTED']))
    })
  })
})
