/**
 * The registry harness itself (test/helpers/registry.ts): each flavour starts, refuses the wrong
 * credentials and serves skopeo, the independent client.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { needsRegistry, ociLayout, type Registry, skopeo, skopeoCopy, SKOPEO, startRegistry } from '../helpers/registry.js'

const need = needsRegistry(SKOPEO)

for (const auth of ['anonymous', 'basic', 'token'] as const) {
  describe.skipIf(need.skip)(`the ${auth} registry harness ${need.reason}`, () => {
    let reg: Registry
    let tmp: string
    beforeAll(async () => {
      reg = await startRegistry({ auth })
      tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-layout-'))
    })
    afterAll(async () => {
      await reg?.stop()
      rmSync(tmp, { recursive: true, force: true })
    })

    it('takes an OCI artifact from skopeo and lists its tag', () => {
      skopeoCopy(reg, `oci:${ociLayout(tmp, Buffer.from('disk bytes'))}`, `docker://${reg.host}/egi/harness:1.0`)
      expect(JSON.parse(skopeo(reg, ['list-tags', `docker://${reg.host}/egi/harness`])).Tags).toEqual(['1.0'])
      const raw = JSON.parse(skopeo(reg, ['inspect', '--raw', `docker://${reg.host}/egi/harness:1.0`]))
      expect(raw.layers[0].mediaType).toBe('application/x-qemu-disk')
      if (auth === 'token') expect(reg.tokenRequests.some((t) => t.authorized && t.scope.some((s) => s.includes('egi/harness')))).toBe(true)
    })

    if (auth !== 'anonymous') {
      it('refuses wrong credentials', () => {
        expect(() => execFileSync(SKOPEO, ['list-tags', '--tls-verify=false', '--creds', 'endorser:wrong', `docker://${reg.host}/egi/harness`], { stdio: 'pipe' })).toThrow()
      })
    }
  })
}
