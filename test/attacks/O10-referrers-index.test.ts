/**
 * O10 the referrers tag-schema index (`sha256-<subject hex>`), which registries without the
 * referrers API (distribution 2.8) keep as an ordinary tag anyone with push rights can write:
 * poisoned with thousands of entries or junk, it is capped and cleaned, never trusted; written by
 * two publishes at once, neither entry is lost.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Descriptor, MAX_REFERRERS, MEDIA, RegistryClient, referrersTag, sha256 } from '../../src/oci/client.js'
import { addReferrerByTag, putManifest, uploadBlob } from '../../src/oci/push.js'
import type { OciRepo } from '../../src/oci/reference.js'
import { needsRegistry, type Registry, startRegistry } from '../helpers/registry.js'

const LIST = 'application/vnd.hepix.imagelist.v1+smime'
const EMPTY = Buffer.from('{}')
const hex = (): string => randomBytes(32).toString('hex')

/** A registry of the test's own that keeps manifests in memory (no existence checks): what a hostile or careless writer can leave under a tag. */
async function memoryRegistry(): Promise<{ host: string; tags: Map<string, { type: string; body: Buffer }>; close(): Promise<void> }> {
  const tags = new Map<string, { type: string; body: Buffer }>()
  const server = http.createServer((q, s) => {
    const m = /^\/v2\/[^]+?\/manifests\/([^/]+)$/.exec(q.url ?? '')
    if (q.url === '/v2/') return void s.writeHead(200).end('{}')
    if (!m) return void s.writeHead(404).end()
    if (q.method === 'PUT') {
      const chunks: Buffer[] = []
      q.on('data', (c: Buffer) => chunks.push(c))
      q.on('end', () => {
        const body = Buffer.concat(chunks)
        tags.set(m[1]!, { type: String(q.headers['content-type']), body })
        s.writeHead(201, { 'docker-content-digest': sha256(body) }).end()
      })
      return
    }
    const t = tags.get(m[1]!)
    if (!t) return void s.writeHead(404).end()
    s.writeHead(200, { 'content-type': t.type, 'content-length': String(t.body.length) }).end(t.body)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    tags,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const listReferrer = (digest = `sha256:${hex()}`): Descriptor => ({ mediaType: MEDIA.manifest, digest, size: 500, artifactType: LIST })

describe('O10 a poisoned referrers tag-schema index', () => {
  let reg: Awaited<ReturnType<typeof memoryRegistry>>
  let client: RegistryClient
  const subject = `sha256:${hex()}`
  const repo = (): OciRepo => ({ registry: reg.host, repository: 'vm/img' })
  beforeAll(async () => {
    reg = await memoryRegistry()
    client = new RegistryClient(reg.host, { env: {} })
  })
  afterAll(async () => {
    client?.close()
    await reg?.close()
  })

  const poison = (manifests: unknown[]): void => {
    reg.tags.set(referrersTag(subject), { type: MEDIA.index, body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests })) })
  }
  const junk = [
    null, 'x', 7, [], {}, { mediaType: MEDIA.manifest, digest: 'sha512:ab', size: 1, artifactType: LIST },
    { mediaType: MEDIA.manifest, digest: `sha256:${'A'.repeat(64)}`, size: 1, artifactType: LIST },
    { mediaType: MEDIA.manifest, digest: `sha256:${hex()}`, size: -1, artifactType: LIST },
    { mediaType: MEDIA.manifest, digest: `sha256:${hex()}`, size: '1', artifactType: LIST },
    { mediaType: 7, digest: `sha256:${hex()}`, size: 1, artifactType: LIST },
    { mediaType: MEDIA.manifest, digest: `sha256:${hex()}`, size: 1, artifactType: 7 },
    { mediaType: MEDIA.manifest, digest: `sha256:${hex()}`, size: 1, artifactType: LIST, annotations: 'x' },
  ]

  describe('when the index holds thousands of list referrers, junk, duplicates and other artifacts', () => {
    it('the reader keeps only well-formed descriptors of the type asked for, each once, at most MAX_REFERRERS', async () => {
      const good = listReferrer()
      const many = Array.from({ length: 5000 }, () => listReferrer())
      poison([...junk, good, good, { ...good, artifactType: 'application/x-other' }, { mediaType: MEDIA.manifest, digest: `sha256:${hex()}`, size: 3, artifactType: 'application/x-other' }, ...many])
      const { descriptors, via } = await client.referrers(repo(), subject, LIST)
      expect(via).toBe('tag')
      expect(descriptors).toHaveLength(MAX_REFERRERS)
      expect(descriptors[0]).toEqual(good)
      expect(new Set(descriptors.map((d) => d.digest)).size).toBe(MAX_REFERRERS)
      expect(descriptors.every((d) => d.artifactType === LIST && /^sha256:[0-9a-f]{64}$/.test(d.digest))).toBe(true)
    })

    it('a publish writes back a bounded, clean index that holds its referrer (the junk is not carried forward)', async () => {
      const many = Array.from({ length: 3000 }, () => listReferrer())
      poison([...junk, ...many])
      const mine = listReferrer()
      await addReferrerByTag(client, repo(), subject, mine, { settleMs: 1 })
      const written = JSON.parse(reg.tags.get(referrersTag(subject))!.body.toString()) as { manifests: Descriptor[] }
      expect(written.manifests.length).toBeLessThanOrEqual(MAX_REFERRERS)
      expect(written.manifests.at(-1)).toEqual(mine)
      expect(written.manifests.filter((d) => !/^sha256:[0-9a-f]{64}$/.test(String(d?.digest)))).toEqual([])
    })
  })

  describe.each([
    ['another media type', MEDIA.manifest, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, layers: [] })],
    ['not JSON', MEDIA.index, '<html>error</html>'],
  ])('when the reserved tag holds %s', (_n, type, body) => {
    it('a publish replaces it with an index of its referrer', async () => {
      reg.tags.set(referrersTag(subject), { type, body: Buffer.from(body) })
      const mine = listReferrer()
      await addReferrerByTag(client, repo(), subject, mine, { settleMs: 1 })
      const written = JSON.parse(reg.tags.get(referrersTag(subject))!.body.toString()) as { mediaType: string; manifests: Descriptor[] }
      expect(written).toEqual({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [mine] })
    })
  })
})

const need = needsRegistry()

describe.skipIf(need.skip)(`O10 two publishes adding referrers to one image at once ${need.reason}`, () => {
  let reg: Registry
  const repo = (): OciRepo => ({ registry: reg.host, repository: 'vm/shared' })
  beforeAll(async () => {
    reg = await startRegistry()
  }, 60_000)
  afterAll(async () => reg?.stop())

  /** A real manifest (distribution checks an index's entries exist): an image, or a list referrer of it. */
  async function manifest(c: RegistryClient, payload: Buffer, type: string, subject?: Descriptor): Promise<Descriptor> {
    await uploadBlob(c, repo(), { bytes: EMPTY }, sha256(EMPTY), 2)
    await uploadBlob(c, repo(), { bytes: payload }, sha256(payload), payload.length)
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA.manifest, artifactType: type,
      config: { mediaType: MEDIA.empty, digest: sha256(EMPTY), size: 2, data: 'e30=' },
      layers: [{ mediaType: type, digest: sha256(payload), size: payload.length }],
      ...(subject ? { subject } : {}),
    }))
    const { digest } = await putManifest(c, repo(), sha256(bytes), bytes, MEDIA.manifest)
    return { mediaType: MEDIA.manifest, digest, size: bytes.length, ...(subject ? { artifactType: type } : {}) }
  }

  it.each([2, 2, 5])('keeps every entry when %i publishers read the index before any of them writes', async (writers) => {
    const setup = new RegistryClient(reg.host, { env: {} })
    const image = await manifest(setup, randomBytes(100), 'application/x-qemu-disk')
    const refs: Descriptor[] = []
    for (let i = 0; i < writers; i++) refs.push(await manifest(setup, randomBytes(50), LIST, image))
    setup.close()
    // each publish has its own client (its own connections), as separate processes would
    const clients = refs.map(() => new RegistryClient(reg.host, { env: {} }))
    await Promise.all(refs.map((r, i) => addReferrerByTag(clients[i]!, repo(), image.digest, r)))
    for (const c of clients) c.close()
    const reader = new RegistryClient(reg.host, { env: {} })
    const { descriptors } = await reader.referrers(repo(), image.digest, LIST)
    reader.close()
    expect(descriptors.map((d) => d.digest).sort()).toEqual(refs.map((r) => r.digest).sort())
  })
})
