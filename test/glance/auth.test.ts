/**
 * Keystone cannot run on this machine (no Debian keystone without a full OpenStack stack), so
 * token requests go to a tiny node http server in this test that checks the request and answers
 * with a canned Keystone v3 token response: an HTTP peer fixture for the Keystone side only. The
 * image endpoint in its catalog is a real Glance.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectGlance, resolveAuth } from '../../src/glance/auth.js'
import { findEndpoint, tokenRequestBody, tokensUrl, type CatalogService } from '../../src/glance/keystone.js'
import { glanceNeeds, startGlance, type GlanceServer } from '../helpers/glance.js'

interface Seen {
  url: string
  body: { auth: { identity: Record<string, unknown>; scope?: unknown } }
}

/** A Keystone v3 stand-in: 201 + X-Subject-Token + catalog for password "right", app cred "ac-1"/"s3cret". */
async function keystoneFixture(catalog: () => CatalogService[]): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (d: Buffer) => (raw += d.toString()))
    req.on('end', () => {
      const body = JSON.parse(raw) as Seen['body']
      seen.push({ url: req.url ?? '', body })
      const id = body.auth.identity as { password?: { user: { password: string } }; application_credential?: { id: string; secret: string } }
      const ok = id.password?.user.password === 'right' || (id.application_credential?.id === 'ac-1' && id.application_credential.secret === 's3cret')
      if (req.method !== 'POST' || req.url !== '/identity/v3/auth/tokens' || !ok) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } }))
        return
      }
      res.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 'gAAAA-issued-token' })
      res.end(JSON.stringify({ token: { methods: ['password'], expires_at: '2030-01-01T00:00:00.000000Z', project: { id: 'proj-42', name: 'vo' }, catalog: catalog() } }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}/identity`, seen, close: () => new Promise((r) => server.close(() => r())) }
}

const CATALOG: CatalogService[] = [
  { type: 'identity', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: 'https://keystone.example/v3' }] },
  {
    type: 'image',
    name: 'glance',
    endpoints: [
      { interface: 'public', region_id: 'RegionOne', url: 'https://glance-one.example:9292' },
      { interface: 'internal', region_id: 'RegionOne', url: 'http://glance-one.internal:9292' },
      { interface: 'public', region_id: 'RegionTwo', url: 'https://glance-two.example:9292' },
    ],
  },
]

describe('Keystone v3 authentication', () => {
  describe('the token request document', () => {
    it('uses the password method with user and project domains (default: "default")', () => {
      expect(tokenRequestBody({ authUrl: 'x', method: 'password', username: 'alice', password: 'pw', userDomainName: 'Users', projectName: 'vo' })).toEqual({
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'alice', domain: { name: 'Users' }, password: 'pw' } } },
          scope: { project: { name: 'vo', domain: { id: 'default' } } },
        },
      })
    })

    it('sends an application credential unscoped (it carries its own project)', () => {
      expect(tokenRequestBody({ authUrl: 'x', method: 'application_credential', applicationCredentialId: 'ac-1', applicationCredentialSecret: 's' })).toEqual({
        auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: 's' } } },
      })
    })

    it('refuses a password login without a project (KEYSTONE_INCOMPLETE): no catalog would come back', () => {
      expect(() => tokenRequestBody({ authUrl: 'x', method: 'password', username: 'a', password: 'p' })).toThrow(expect.objectContaining({ code: 'KEYSTONE_INCOMPLETE' }))
    })

    it('accepts auth_url with or without /v3 and refuses v2.0', () => {
      expect(tokensUrl('https://k.example:5000').href).toBe('https://k.example:5000/v3/auth/tokens')
      expect(tokensUrl('https://k.example/identity/v3/').href).toBe('https://k.example/identity/v3/auth/tokens')
      expect(() => tokensUrl('https://k.example:5000/v2.0')).toThrow(expect.objectContaining({ code: 'KEYSTONE_V2' }))
    })
  })

  describe('the catalog lookup', () => {
    it('picks the public image endpoint of the region', () => {
      expect(findEndpoint(CATALOG, { region: 'RegionTwo' })).toBe('https://glance-two.example:9292')
      expect(findEndpoint(CATALOG, { region: 'RegionOne', interface: 'internalURL' })).toBe('http://glance-one.internal:9292')
    })
    it('asks for a region when the image service is in several (GLANCE_AMBIGUOUS_ENDPOINT)', () => {
      expect(() => findEndpoint(CATALOG)).toThrow(expect.objectContaining({ code: 'GLANCE_AMBIGUOUS_ENDPOINT' }))
    })
    it('says so when there is no image service (GLANCE_NO_ENDPOINT)', () => {
      expect(() => findEndpoint(CATALOG.slice(0, 1))).toThrow(expect.objectContaining({ code: 'GLANCE_NO_ENDPOINT' }))
    })
  })

  describe('settings from clouds.yaml and OS_* variables', () => {
    let home: string
    beforeAll(() => {
      home = mkdtempSync(path.join(os.tmpdir(), 'vmgit-clouds-'))
      mkdirSync(path.join(home, '.config/openstack'), { recursive: true })
      writeFileSync(
        path.join(home, '.config/openstack/clouds.yaml'),
        'clouds:\n  site:\n    auth:\n      auth_url: https://k.example:5000/v3\n      username: alice\n      project_name: vo\n      user_domain_name: Default\n    region_name: RegionOne\n  unsafe:\n    auth: {auth_url: https://k.example}\n    verify: false\n',
      )
      writeFileSync(path.join(home, '.config/openstack/secure.yaml'), 'clouds:\n  site:\n    auth:\n      password: from-secure-yaml\n')
    })
    afterAll(() => rmSync(home, { recursive: true, force: true }))
    const env = (extra: Record<string, string> = {}): Record<string, string> => ({ HOME: home, ...extra })

    it('reads the OS_CLOUD entry from ~/.config/openstack/clouds.yaml, with the password from secure.yaml', () => {
      const a = resolveAuth({}, env({ OS_CLOUD: 'site' }), home + '/nowhere')
      expect(a).toMatchObject({ region: 'RegionOne', interface: 'public', keystone: { method: 'password', authUrl: 'https://k.example:5000/v3', username: 'alice', password: 'from-secure-yaml', projectName: 'vo' } })
    })

    it('lets OS_* variables override the entry key by key', () => {
      const a = resolveAuth({ cloud: 'site' }, env({ OS_PASSWORD: 'from-env', OS_REGION_NAME: 'RegionTwo' }), home)
      expect(a).toMatchObject({ region: 'RegionTwo', keystone: { password: 'from-env', username: 'alice' } })
    })

    it('uses an application credential from OS_* alone', () => {
      const a = resolveAuth({}, env({ OS_AUTH_URL: 'https://k', OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: 'ac', OS_APPLICATION_CREDENTIAL_SECRET: 's' }), home)
      expect(a.keystone).toMatchObject({ method: 'application_credential', applicationCredentialId: 'ac' })
    })

    it('uses OS_TOKEN with an endpoint as is, without Keystone', () => {
      expect(resolveAuth({ endpoint: 'http://g:9292' }, env({ OS_TOKEN: 't' }), home)).toMatchObject({ endpoint: 'http://g:9292', token: 't' })
      expect(resolveAuth({}, env({ OS_TOKEN: 't', OS_IMAGE_URL: 'http://g:9292' }), home).keystone).toBeUndefined()
    })

    it('refuses verify: false (TLS_VERIFY_OFF), an unknown cloud (CLOUD_UNKNOWN) and no credentials at all (GLANCE_NO_AUTH)', () => {
      expect(() => resolveAuth({ cloud: 'unsafe' }, env(), home)).toThrow(expect.objectContaining({ code: 'TLS_VERIFY_OFF' }))
      expect(() => resolveAuth({ cloud: 'nope' }, env(), home)).toThrow(expect.objectContaining({ code: 'CLOUD_UNKNOWN' }))
      expect(() => resolveAuth({}, env(), home)).toThrow(expect.objectContaining({ code: 'GLANCE_NO_AUTH', exit: 2 }))
    })
  })

  describe.skipIf(glanceNeeds.skip)(`end to end: token from Keystone, image endpoint from its catalog, a real Glance (${glanceNeeds.reason})`, () => {
    let glance: GlanceServer
    let keystone: Awaited<ReturnType<typeof keystoneFixture>>
    beforeAll(async () => {
      glance = await startGlance()
      keystone = await keystoneFixture(() => [{ type: 'image', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: glance.url }] }])
    })
    afterAll(async () => {
      await keystone?.close()
      await glance?.stop()
    })

    it('logs in with a password and lists images at the catalog endpoint', async () => {
      const { client } = await connectGlance({}, { OS_AUTH_URL: keystone.url, OS_USERNAME: 'alice', OS_PASSWORD: 'right', OS_PROJECT_NAME: 'vo' }, os.tmpdir())
      expect(client.base.href).toBe(glance.url + '/')
      expect(await client.listImages()).toEqual([])
      expect(keystone.seen.at(-1)?.body.auth.scope).toEqual({ project: { name: 'vo', domain: { id: 'default' } } })
    })

    it('logs in with an application credential', async () => {
      const { client } = await connectGlance({}, { OS_AUTH_URL: keystone.url, OS_APPLICATION_CREDENTIAL_ID: 'ac-1', OS_APPLICATION_CREDENTIAL_SECRET: 's3cret' }, os.tmpdir())
      expect(await client.listImages()).toEqual([])
    })

    it('reports rejected credentials as KEYSTONE_AUTH_FAILED (exit 2) without echoing the secret', async () => {
      const err = await connectGlance({}, { OS_AUTH_URL: keystone.url, OS_USERNAME: 'alice', OS_PASSWORD: 'wrong-secret', OS_PROJECT_NAME: 'vo' }, os.tmpdir()).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'KEYSTONE_AUTH_FAILED', exit: 2 })
      expect(String((err as Error).message)).not.toContain('wrong-secret')
    })
  })
})
