/**
 * An image source read once: sha512 + size (what HEPiX publishes), any upstream checksum
 * algorithm needed (md5/sha1/sha256) and the format sniffed from the first bytes, all in ONE
 * streaming pass with 1 MiB reads. A URL source streams through the hashes and is not stored
 * unless `keep` names a file (written to a temp name, fsynced, renamed when complete).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { readSource, streamUrl } from '../net/source.js'
import { VmgitError } from '../util/errors.js'
import { HASH_CHUNK } from '../util/hash.js'
import type { ChecksumAlgo } from './checksums.js'
import { openTransfer, optionsFromEnv, parseTarget } from './index.js'

export interface SourceDigest {
  sha512: string
  size: number
  /** hex digests of the extra algorithms asked for */
  extra: Partial<Record<ChecksumAlgo, string>>
  /** hv:format guessed from magic bytes or the file name (QCOW2, VMDK, VHDX, VPC, RAW, OVA, ISO, raw.gz, ...) */
  format?: string
}

export interface DigestOptions {
  algos?: ChecksumAlgo[]
  /** URL sources: also store the bytes here */
  keep?: string
  onProgress?: (bytes: number) => void
}

class Digester {
  private readonly hashes: [string, Hash][]
  size = 0
  head?: Buffer
  constructor(algos: ChecksumAlgo[]) {
    this.hashes = [...new Set<string>(['sha512', ...algos])].map((a) => [a, createHash(a)])
  }
  update(chunk: Buffer): void {
    if (!this.head) this.head = Buffer.from(chunk.subarray(0, 512))
    for (const [, h] of this.hashes) h.update(chunk)
    this.size += chunk.length
  }
  result(name: string): SourceDigest {
    const all = Object.fromEntries(this.hashes.map(([a, h]) => [a, h.digest('hex')]))
    const { sha512, ...extra } = all
    const format = sniffFormat(this.head ?? Buffer.alloc(0), name)
    return { sha512: sha512!, size: this.size, extra, ...(format ? { format } : {}) }
  }
}

/** hv:format from magic bytes, else from the file name's extension. */
export function sniffFormat(head: Buffer, name: string): string | undefined {
  const magic = head.subarray(0, 8).toString('latin1')
  if (magic.startsWith('QFI\xfb')) return 'QCOW2'
  if (magic.startsWith('KDMV')) return 'VMDK'
  if (magic === 'vhdxfile') return 'VHDX'
  if (magic === 'conectix') return 'VPC'
  const base = path.posix.basename(name.split('?')[0]!).toLowerCase()
  const comp = /\.([a-z0-9]+)\.(gz|bz2|xz)$/.exec(base)
  if (comp) return `${comp[1]}.${comp[2]}`
  const ext = /\.([a-z0-9]+)$/.exec(base)?.[1]
  const known: Record<string, string> = { qcow2: 'QCOW2', img: 'RAW', raw: 'RAW', ova: 'OVA', vmdk: 'VMDK', vhd: 'VPC', vhdx: 'VHDX', vdi: 'VDI', iso: 'ISO' }
  return ext ? known[ext] : undefined
}

/** Hash a local file: one reused 1 MiB buffer, no stream machinery (the `image update` hot path). */
export async function digestFile(file: string, opts: DigestOptions = {}): Promise<SourceDigest> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new VmgitError('IMAGE_SOURCE_UNREADABLE', `cannot read ${file} (${e.code ?? e.message}); check the path`, { exit: 2 })
  })
  const d = new Digester(opts.algos ?? [])
  const buf = Buffer.allocUnsafe(HASH_CHUNK)
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, HASH_CHUNK, null)
      if (bytesRead === 0) break
      d.update(buf.subarray(0, bytesRead))
      opts.onProgress?.(d.size)
    }
  } finally {
    await fh.close()
  }
  return d.result(file)
}

/**
 * Hash what a URL serves (http(s), or any transfer URL: sftp://, s3://, file://). Public
 * http(s) downloads get no credentials: a vendor's server must never see a publishing token.
 */
export async function digestUrl(url: string, opts: DigestOptions = {}): Promise<SourceDigest> {
  const target = parseTarget(url)
  const web = target.scheme === 'http' || target.scheme === 'https'
  // a public http(s) download is a plain GET through the one network client (src/net/): proxies,
  // the CA directory, timeouts, and the same failure codes as verify and sub add
  const transfer = web ? undefined : await openTransfer(target, optionsFromEnv())
  const keep = opts.keep
  const tmp = keep ? path.join(path.dirname(keep), `.${path.basename(keep)}.${randomBytes(6).toString('hex')}.part`) : undefined
  if (keep) await mkdir(path.dirname(keep), { recursive: true })
  const out = tmp ? await open(tmp, 'wx', 0o644) : undefined
  const d = new Digester(opts.algos ?? [])
  try {
    const stream = transfer ? ((await transfer.createReadStream(target.path)) as AsyncIterable<Buffer>) : streamUrl(url)
    for await (const chunk of stream) {
      d.update(chunk)
      if (out) await out.write(chunk)
      opts.onProgress?.(d.size)
    }
    if (out) {
      await out.sync()
      await out.close()
      await rename(tmp!, keep!)
    }
  } catch (e) {
    if (out) await out.close().catch(() => undefined)
    if (tmp) await rm(tmp, { force: true })
    throw e
  } finally {
    await transfer?.close()
  }
  return d.result(target.url.pathname)
}

export interface ImageSourceOptions extends Omit<DigestOptions, 'algos'> {
  /** an upstream MD5SUMS/SHA256SUMS/SHA512SUMS file (path or URL) the image must match */
  checksums?: string
  /** the image's name in that file, when it differs from the source's base name */
  checksumName?: string
}

export interface ImageSourceDigest extends SourceDigest {
  checksum?: { algo: ChecksumAlgo; hex: string; file: string; name: string }
}

async function readSmall(where: string): Promise<Buffer> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) {
    const t = parseTarget(where)
    // an http(s) checksum file: the one network client, capped like a list (it was read without a cap)
    if (t.scheme === 'http' || t.scheme === 'https') return readSource(where, { kind: 'document' })
    const transfer = await openTransfer(t, optionsFromEnv())
    try {
      return await transfer.get(t.path)
    } finally {
      await transfer.close()
    }
  }
  const { readFile } = await import('node:fs/promises')
  return readFile(where).catch((e: NodeJS.ErrnoException) => {
    throw new VmgitError('CHECKSUMS_UNREADABLE', `cannot read the checksum file ${where} (${e.code ?? e.message})`, { exit: 2 })
  })
}

/** Digest an image from a file or URL in one pass, checked against an upstream checksum file first. */
export async function digestImageSource(src: { file: string } | { url: string }, opts: ImageSourceOptions = {}): Promise<ImageSourceDigest> {
  const { parseChecksums, findChecksum, checkChecksum } = await import('./checksums.js')
  const name = opts.checksumName ?? path.posix.basename('file' in src ? src.file : new URL(src.url).pathname)
  const entry = opts.checksums ? findChecksum(parseChecksums((await readSmall(opts.checksums)).toString('utf8')), name, opts.checksums) : undefined
  const dopts: DigestOptions = { ...opts, algos: entry ? [entry.algo] : [] }
  const d = 'file' in src ? await digestFile(src.file, dopts) : await digestUrl(src.url, dopts)
  if (!entry) return d
  const actual = entry.algo === 'sha512' ? d.sha512 : d.extra[entry.algo]!
  try {
    checkChecksum(entry, actual, opts.checksums!)
  } catch (e) {
    if (opts.keep) await rm(opts.keep, { force: true })
    throw e
  }
  return { ...d, checksum: { algo: entry.algo, hex: entry.hex, file: opts.checksums!, name: entry.name } }
}

/** What `vmgit image add` and `image update` take: which image file, from where, checked against what. */
export interface ImageCommandOptions {
  /** the repository directory */
  repo: string
  /** images/NAME.yaml */
  name: string
  file?: string
  url?: string
  /** upstream MD5SUMS/SHA256SUMS/SHA512SUMS (path or URL) */
  checksums?: string
  checksumName?: string
  /** with url: keep the download here and make it the source */
  keep?: string
  now: Date
}
