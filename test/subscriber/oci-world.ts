/**
 * A subscriber world with a real registry (issue 17): Debian's docker-registry behind a small
 * loopback proxy that passes everything through unless a test tells it to serve evil bytes for a
 * path, skopeo as the independent client that pushes what the tests need (OCI layout directories
 * written here by hand: blobs/sha256/<hex>, index.json, oci-layout), and the World of world.ts
 * (PKI, database, cache, CLI) around it. Lists and images are pushed exactly as the contract says:
 * images as OCI 1.1 artifacts with one `application/x-qemu-disk` layer, lists as artifacts of type
 * `application/vnd.hepix.imagelist.v1+smime` whose one layer is the signed bytes.
 */
import { createHash, randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { type Registry, type RegistryAuth, SKOPEO, skopeoCopy, startRegistry } from '../helpers/registry.js'
import { imageEntry, type ImageFile, makeWorld, sharedPki, type World } from './world.js'

export const LIST_TYPE = 'application/vnd.hepix.imagelist.v1+smime'
export const QCOW2 = 'application/x-qemu-disk'
const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${createHash('sha256').update('{}').digest('hex')}`, size: 2 }
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

export interface Pushed {
  /** manifest digest sha256:<hex> (the pin) */
  digest: string
  /** the manifest's exact bytes */
  manifest: Buffer
  /** the layer's digest */
  layer: string
  repository: string
}

/** One path's evil answer: status, headers, body (the proxy sends exactly this instead of asking the registry). */
export interface Evil {
  status?: number
  headers?: Record<string, string>
  body: Buffer
}

export class OciWorld {
  /** what `oci://` references name: the proxy, which forwards to the registry */
  readonly host: string
  private readonly evil = new Map<string, Evil>()
  /** paths whose next answer is cut after this many body bytes (a dropped connection), once */
  readonly drops = new Map<string, number>()
  readonly proxied: { method: string; path: string; range?: string }[] = []

  constructor(readonly w: World, readonly reg: Registry, private readonly proxy: http.Server, private readonly layoutRoot: string) {
    this.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`
    // every CLI run of this world reads the registry's credentials from the environment, as a site's cron job would
    const base = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(w), 'env')!.get!.bind(w)
    const creds = reg.auth === 'anonymous' ? {} : { VMGIT_REGISTRY_USERNAME: reg.username, VMGIT_REGISTRY_PASSWORD: reg.password }
    Object.defineProperty(w, 'env', { get: () => ({ ...base(), REGISTRY_AUTH_FILE: undefined, ...creds }) })
  }

  /** Serve `evil` for GET `path` (e.g. /v2/vm/img/blobs/sha256:…) instead of the registry's answer. */
  serveEvil(p: string, evil: Evil): void {
    this.evil.set(p, evil)
  }

  clearEvil(): void {
    this.evil.clear()
    this.drops.clear()
  }

  evilFor(p: string): Evil | undefined {
    return this.evil.get(p)
  }

  /** skopeo `--creds`/`--src-creds` for this registry */
  private layout(name: string): string {
    const dir = mkdtempSync(path.join(this.layoutRoot, `${name.replace(/\W/g, '_')}-`))
    mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true })
    writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    return dir
  }

  /** Write an OCI layout holding one manifest (config: the empty descriptor; one layer) and push it with skopeo under `tags`. */
  private push(repository: string, tags: string[], layer: { mediaType: string; bytes: Buffer; title?: string }, artifactType: string): Pushed {
    const dir = this.layout(repository)
    const blob = (b: Buffer | string): void => writeFileSync(path.join(dir, 'blobs/sha256', sha256(b)), b)
    blob('{}')
    blob(layer.bytes)
    const m = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType,
      config: EMPTY,
      layers: [{ mediaType: layer.mediaType, digest: `sha256:${sha256(layer.bytes)}`, size: layer.bytes.length, ...(layer.title ? { annotations: { 'org.opencontainers.image.title': layer.title } } : {}) }],
    }
    const manifest = Buffer.from(JSON.stringify(m))
    blob(manifest)
    const digest = `sha256:${sha256(manifest)}`
    writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: m.mediaType, digest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'x' } }] }))
    for (const tag of tags) skopeoCopy(this.reg, `oci:${dir}:x`, `docker://${this.reg.host}/${repository}:${tag}`)
    rmSync(dir, { recursive: true, force: true })
    return { digest, manifest, layer: `sha256:${sha256(layer.bytes)}`, repository }
  }

  /** Push an image file as an OCI 1.1 artifact (one qcow2 layer) to `vm/<name>`. */
  pushImage(img: ImageFile, tags: string[] = ['1']): Pushed {
    return this.push(`vm/${img.name.replace(/\.qcow2$/, '')}`, tags, { mediaType: QCOW2, bytes: img.bytes, title: img.name }, QCOW2)
  }

  /** Push signed list bytes as the list artifact `vm/<listName>` under `tags`. */
  pushList(signed: Buffer, tags: string[], listName = 'prod-list'): Pushed {
    return this.push(`vm/${listName}`, tags, { mediaType: LIST_TYPE, bytes: signed }, LIST_TYPE)
  }

  /** Tag an existing manifest (by digest) under another tag: skopeo copies registry to registry. */
  retag(repository: string, digest: string, tag: string): void {
    const creds = this.reg.auth === 'anonymous' ? [] : ['--src-creds', `${this.reg.username}:${this.reg.password}`]
    skopeoCopy(this.reg, `docker://${this.reg.host}/${repository}@${digest}`, `docker://${this.reg.host}/${repository}:${tag}`, ['--src-tls-verify=false', ...creds])
  }

  /** Delete a manifest in the registry (skopeo delete by digest). */
  deleteManifest(repository: string, digest: string): void {
    const creds = this.reg.auth === 'anonymous' ? [] : ['--creds', `${this.reg.username}:${this.reg.password}`]
    execFileSync(SKOPEO, ['delete', '--tls-verify=false', ...creds, `docker://${this.reg.host}/${repository}@${digest}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  }

  /** The hv:image entry of `img` pinned to `p` (reference at the proxy host), with extra keys. */
  entry(img: ImageFile, p: Pushed, extra: Record<string, string | number> = {}): Record<string, string | number> {
    return imageEntry(img, { 'vmgit:oci:reference': `${this.host}/${p.repository}@${p.digest}`, 'vmgit:oci:digest': p.digest, ...extra })
  }

  /** oci:// location of a list (credentials never sit in it: the CLI gets them from VMGIT_REGISTRY_USERNAME/PASSWORD). */
  listLocation(listName = 'prod-list', tag?: string): string {
    return `oci://${this.host}/vm/${listName}${tag ? `:${tag}` : ''}`
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.proxy.close(() => r()))
    this.proxy.closeAllConnections()
    await closed
    await this.reg.stop()
    await this.w.close()
  }
}

/** A pass-through proxy: every request goes to the registry unchanged, unless the world has evil bytes for its path. */
function startProxy(target: number, world: () => OciWorld | undefined): Promise<http.Server> {
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname
    const ow = world()
    ow?.proxied.push({ method: req.method ?? 'GET', path: p, ...(req.headers.range ? { range: req.headers.range } : {}) })
    const evil = ow?.evilFor(p)
    if (evil) {
      req.resume()
      res.writeHead(evil.status ?? 200, { 'content-length': String(evil.body.length), ...evil.headers })
      res.end(req.method === 'HEAD' ? undefined : evil.body)
      return
    }
    const drop = ow?.drops.get(p)
    if (drop !== undefined) ow!.drops.delete(p)
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${target}` } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      if (drop === undefined) return void r.pipe(res)
      // the connection breaks after `drop` body bytes, as a registry restart or a network cut would
      let sent = 0
      r.on('data', (c: Buffer) => {
        if (sent >= drop) return
        const part = c.subarray(0, drop - sent)
        sent += part.length
        res.write(part)
        if (sent >= drop) {
          r.destroy()
          res.flushHeaders()
          setTimeout(() => res.socket?.destroy(), 50)
        }
      })
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

export async function makeOciWorld(opts: { auth?: RegistryAuth } = {}): Promise<OciWorld> {
  const w = await makeWorld({ pki: await sharedPki() })
  const reg = await startRegistry({ auth: opts.auth ?? 'anonymous' })
  const holder: { ow?: OciWorld } = {}
  const proxy = await startProxy(reg.port, () => holder.ow)
  const layouts = path.join(w.dir, 'layouts')
  mkdirSync(layouts, { recursive: true })
  holder.ow = new OciWorld(w, reg, proxy, layouts)
  return holder.ow
}

export const randomImage = (w: World, name: string, size: number): ImageFile => w.image(name, randomBytes(size))

export interface OciBaseline {
  ow: OciWorld
  w: World
  images: ImageFile[]
  pushed: Pushed[]
  /** the list artifact of hv:version 1.0 */
  list: Pushed
}

/**
 * A registry world with one trusted subscription to `oci://<proxy>/vm/prod-list` (hv:version 1.0,
 * tags 1.0 and latest) whose images are pinned, selected and cached by a first sync. hv:uri of every
 * image answers 404: the images can only have come from the registry.
 */
export async function ociSubscribed(opts: { auth?: RegistryAuth; images?: number[] } = {}): Promise<OciBaseline> {
  const ow = await makeOciWorld(opts)
  const { w } = ow
  const images = (opts.images ?? [60_000]).map((n, i) => w.image(`img${i}.qcow2`, n))
  const pushed = images.map((im) => ow.pushImage(im, ['1', 'stable']))
  for (const im of images) w.server.remove(im.route)
  const list = ow.pushList(await w.signed({ id: w.listId, version: '1.0', images: images.map((im, i) => ow.entry(im, pushed[i]!)) }), ['1.0', 'latest'])
  const steps = [await w.trust(), await w.add(ow.listLocation())]
  for (const im of images) steps.push(await w.cli(['sub', 'select', im.id]))
  steps.push(await w.sync())
  const bad = steps.find((s) => s.code !== 0)
  if (bad) throw new Error(`registry baseline setup failed: ${bad.stderr}`)
  return { ow, w, images, pushed, list }
}

/**
 * A new image (its hv:uri gone: only the registry has it), pushed and pinned beside image 0 in list
 * `version` (tagged `latest`), then synced and selected, so the next sync fetches its bytes from the
 * registry. `extra` overrides keys of its entry (e.g. a pin naming another host).
 */
export async function addPinnedImage(
  b: OciBaseline,
  opts: { name: string; size: number; version: string; extra?: (px: Pushed) => Record<string, string | number> },
): Promise<{ x: ImageFile; px: Pushed }> {
  const { w, ow, images, pushed } = b
  const x = w.image(opts.name, opts.size)
  const px = ow.pushImage(x)
  w.server.remove(x.route)
  ow.pushList(await w.signed({ id: w.listId, version: opts.version, images: [ow.entry(images[0]!, pushed[0]!), ow.entry(x, px, opts.extra?.(px))] }), [opts.version, 'latest'])
  const bad = [await w.sync(), await w.cli(['sub', 'select', x.id])].find((s) => s.code !== 0)
  if (bad) throw new Error(`adding the pinned image ${opts.name} failed: ${bad.stderr}`)
  return { x, px }
}
