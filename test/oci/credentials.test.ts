/**
 * Registry credentials (src/oci/credentials.ts): from the environment or a docker-style auth.json,
 * never shown.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { credentialsFor } from '../../src/oci/credentials.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vmgit-oci-creds-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const b64 = (s: string) => Buffer.from(s).toString('base64')
const repo = { registry: 'registry.egi.eu', repository: 'cloud/images/ubuntu' }

describe('registry credentials', () => {
  it('take VMGIT_REGISTRY_USERNAME/PASSWORD first, and never show the password', () => {
    const c = credentialsFor(repo, { VMGIT_REGISTRY_USERNAME: 'robot$ci', VMGIT_REGISTRY_PASSWORD: 's3cret-pw' })!
    expect(c.username).toBe('robot$ci')
    expect(`${c} ${JSON.stringify({ c })}`).not.toContain('s3cret-pw')
    expect(c.basic()).toBe(`Basic ${b64('robot$ci:s3cret-pw')}`)
  })

  it('refuse half a pair with OCI_CREDENTIALS_INCOMPLETE', () => {
    expect(() => credentialsFor(repo, { VMGIT_REGISTRY_USERNAME: 'u' })).toThrow(expect.objectContaining({ code: 'OCI_CREDENTIALS_INCOMPLETE', exit: 2 }))
  })

  it('pick the longest matching auth.json key at a path-component boundary', () => {
    const file = path.join(tmp, 'auth.json')
    writeFileSync(file, JSON.stringify({ auths: {
      'https://registry.egi.eu/v2/': { auth: b64('host:h') },
      'registry.egi.eu/cloud': { auth: b64('prefix:p') },
      'registry.egi.eu/cloud/images/ubuntu-other': { auth: b64('near-miss:n') },
      'registry.egi.eu.evil.org': { auth: b64('evil:e') },
    } }))
    expect(credentialsFor(repo, { REGISTRY_AUTH_FILE: file })?.username).toBe('prefix')
    expect(credentialsFor({ registry: 'registry.egi.eu', repository: 'other' }, { REGISTRY_AUTH_FILE: file })?.username).toBe('host')
    expect(credentialsFor({ registry: 'registry.egi.eu:5000', repository: 'cloud' }, { REGISTRY_AUTH_FILE: file })).toBeUndefined()
  })

  it('look in XDG_RUNTIME_DIR/containers/auth.json, then ~/.docker/config.json', () => {
    const home = path.join(tmp, 'home')
    mkdirSync(path.join(home, '.docker'), { recursive: true })
    writeFileSync(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'registry.egi.eu': { auth: b64('docker:d') } } }))
    expect(credentialsFor(repo, { HOME: home })?.username).toBe('docker')
    const xdg = path.join(tmp, 'xdg')
    mkdirSync(path.join(xdg, 'containers'), { recursive: true })
    writeFileSync(path.join(xdg, 'containers', 'auth.json'), JSON.stringify({ auths: { 'registry.egi.eu': { auth: b64('podman:p') } } }))
    expect(credentialsFor(repo, { HOME: home, XDG_RUNTIME_DIR: xdg })?.username).toBe('podman')
    expect(credentialsFor(repo, { HOME: path.join(tmp, 'nobody') })).toBeUndefined()
  })

  it('refuse a missing REGISTRY_AUTH_FILE or a broken one without echoing its content', () => {
    expect(() => credentialsFor(repo, { REGISTRY_AUTH_FILE: path.join(tmp, 'none.json') })).toThrow(expect.objectContaining({ code: 'OCI_AUTH_FILE_UNREADABLE' }))
    const bad = path.join(tmp, 'bad.json')
    writeFileSync(bad, '{"auths": {"registry.egi.eu": {"auth": "c2VjcmV0LXdpdGhvdXQtY29sb24="}}}')
    const e = (() => {
      try {
        credentialsFor(repo, { REGISTRY_AUTH_FILE: bad })
      } catch (x) {
        return x as Error
      }
    })()
    expect(e).toMatchObject({ code: 'OCI_AUTH_FILE_UNREADABLE' })
    expect(e!.message).not.toContain('secret-without-colon')
  })
})
