import { createReadStream, createWriteStream, fdatasync } from 'node:fs'
import { open, rm, stat, statfs, truncate } from 'node:fs/promises'
import { once } from 'node:events'
import path from 'node:path'
import { VmgitError } from '../util/errors.js'
import { HASH_CHUNK, SHA512_HEX, StreamingDigest } from '../util/hash.js'
import { type Fetcher, type FetchLimits, httpStatusError } from './fetch.js'
import { redactText } from './redact.js'

/**
 * Download one image into partial/<sha512>, hashing while writing (one pass). The transfer stops
 * at hv:size + 1 byte (attack S12), a partial file left by an earlier run is resumed with an HTTP
 * Range request after re-hashing its prefix, and only a file whose size and sha512 both match is
 * reported verified. A wrong file is deleted (S05); a short one is kept for the next resume.
 */
export interface DownloadSpec {
  sha512: string
  size: number
  uri: string
}

export interface DownloadOutcome {
  file: string
  bytes: number
  resumedFrom: number
}

export interface DownloadOptions {
  limits: FetchLimits
  onProgress?: (bytesSoFar: number) => void
  /** fsync the verified file before it is moved into the cache (default true) */
  fsync?: boolean
}

const FLUSH_EVERY = 32 * 1024 * 1024

async function hashPrefix(file: string, digest: StreamingDigest): Promise<void> {
  for await (const c of createReadStream(file, { highWaterMark: HASH_CHUNK }) as AsyncIterable<Buffer>) digest.update(c)
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size
  } catch {
    return -1
  }
}

/** Refuse to start a download the disk cannot hold (vmcatcher checked this too). */
async function checkFreeSpace(dir: string, needed: number): Promise<void> {
  const s = await statfs(dir)
  const free = Number(s.bavail) * Number(s.bsize)
  if (free < needed) {
    throw new VmgitError('DISK_FULL', `${needed} more bytes are needed in ${dir} but only ${free} are free; free some space or move the cache (--cache-dir)`)
  }
}

export async function downloadImage(fetcher: Fetcher, spec: DownloadSpec, partialDir: string, opts: DownloadOptions): Promise<DownloadOutcome> {
  if (!SHA512_HEX.test(spec.sha512)) throw new VmgitError('BAD_SHA512', 'the image checksum is not 128 lowercase hex digits')
  const file = path.join(partialDir, spec.sha512)
  let have = await sizeOf(file)
  if (have > spec.size) {
    await rm(file, { force: true })
    have = -1
  }
  const first = await attempt(fetcher, spec, file, Math.max(have, 0), opts)
  if (first.ok) return first.outcome
  // a resumed file whose result is wrong: the old prefix may be stale; start once from zero
  if (first.resumedFrom > 0) {
    const again = await attempt(fetcher, spec, file, 0, opts)
    if (again.ok) return again.outcome
  }
  throw new VmgitError('IMAGE_CHECKSUM', `${redactText(spec.uri)}: the downloaded file's sha512 does not match sl:checksum:sha512; it was deleted (a wrong or tampered file)`)
}

type Attempt = { ok: true; outcome: DownloadOutcome } | { ok: false; resumedFrom: number }

async function attempt(fetcher: Fetcher, spec: DownloadSpec, file: string, have: number, opts: DownloadOptions): Promise<Attempt> {
  const shown = redactText(spec.uri)
  if (have === 0) await rm(file, { force: true })
  await checkFreeSpace(path.dirname(file), spec.size - have)
  let digest = new StreamingDigest()
  if (have > 0) await hashPrefix(file, digest)
  let resumedFrom = have
  if (have < spec.size) {
    const headers: Record<string, string> = {}
    if (have > 0) headers.range = `bytes=${have}-`
    const r = await fetcher.open(spec.uri, { limits: opts.limits, headers })
    if (r.status === 200 && have > 0) {
      // the server ignored the Range: start over from the first byte
      resumedFrom = 0
      await truncate(file, 0)
      digest = new StreamingDigest()
    } else if (r.status === 206) {
      const m = /^bytes (\d+)-/.exec(String(r.headers['content-range'] ?? ''))
      if (!m || Number(m[1]) !== have) {
        r.close()
        throw new VmgitError('BAD_RANGE', `${shown} answered the resume request with ${String(r.headers['content-range'])}; the partial file is kept for the next run`, { exit: 3 })
      }
    } else if (r.status !== 200) {
      throw httpStatusError(r)
    }
    const declared = Number(r.headers['content-length'])
    if (Number.isFinite(declared) && resumedFrom + declared > spec.size) {
      r.close()
      throw new VmgitError('IMAGE_TOO_LARGE', `${shown} announces ${resumedFrom + declared} bytes but hv:size is ${spec.size}; refused before downloading (attack S12)`)
    }
    const out = createWriteStream(file, { flags: resumedFrom > 0 ? 'a' : 'w', highWaterMark: HASH_CHUNK })
    const closed = once(out, 'close')
    // flush to disk in the background while downloading, so the final fsync has little left to do
    let flushing: Promise<void> | undefined
    let unflushed = 0
    const flushSome = (): void => {
      const fd = (out as unknown as { fd: number | null }).fd
      if (opts.fsync === false || flushing || typeof fd !== 'number' || unflushed < FLUSH_EVERY) return
      unflushed = 0
      flushing = new Promise<void>((resolve) => fdatasync(fd, () => resolve())).then(() => void (flushing = undefined))
    }
    let total = resumedFrom
    try {
      for await (const chunk of r.body) {
        total += chunk.length
        if (total > spec.size) {
          r.close()
          throw new VmgitError('IMAGE_TOO_LARGE', `${shown} sent more than hv:size (${spec.size} bytes); the transfer was stopped at ${spec.size + 1} bytes and the file deleted (attack S12)`)
        }
        digest.update(chunk)
        if (!out.write(chunk)) await once(out, 'drain')
        unflushed += chunk.length
        flushSome()
        opts.onProgress?.(total)
      }
    } catch (e) {
      await flushing
      out.end()
      await closed
      if (e instanceof VmgitError && e.code === 'IMAGE_TOO_LARGE') await rm(file, { force: true })
      if (e instanceof VmgitError) throw e
      // the connection broke: keep what arrived, the next run resumes it
      throw new VmgitError('DOWNLOAD_INTERRUPTED', `${shown}: the transfer broke after ${total} of ${spec.size} bytes (${(e as Error).message}); the partial file is kept and resumed next time`, { exit: 3 })
    }
    await flushing
    out.end()
    await closed
    if (total < spec.size) {
      // a complete response of the wrong length is a wrong file (S05), not a broken transfer
      await rm(file, { force: true })
      throw new VmgitError('IMAGE_SIZE_MISMATCH', `${shown} served ${total} bytes but hv:size is ${spec.size}; the file was deleted`)
    }
  }
  const d = digest.digest()
  if (d.size !== spec.size || d.sha512 !== spec.sha512) {
    await rm(file, { force: true })
    return { ok: false, resumedFrom }
  }
  if (opts.fsync !== false) await fsyncFile(file)
  return { ok: true, outcome: { file, bytes: d.size, resumedFrom } }
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
