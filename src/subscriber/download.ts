import { constants } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { VmgitError } from '../util/errors.js'
import { HASH_CHUNK, SHA512_HEX, StreamingDigest } from '../util/hash.js'
import { createExclusive, DiskBudget, lstatOrUndefined, openRegular, type Reservation, removeEntry, writeAll } from '../util/safefs.js'
import { type Fetcher, type FetchLimits, httpStatusError, type OpenResponse } from '../net/http.js'
import { redactText } from '../net/redact.js'

/**
 * Download one image into partial/<sha512>, hashing while writing (one pass). The transfer stops
 * at hv:size + 1 byte (attack S12), a partial file left by an earlier run is resumed with an HTTP
 * Range request after re-hashing its prefix, and only a file whose size and sha512 both match is
 * reported verified. A wrong file is deleted (S05); a short one is kept for the next resume.
 *
 * partial/ is written only through descriptors (S27): a new file is created with O_EXCL, a resumed
 * one opened with O_NOFOLLOW and accepted only as a regular file with a single link (a planted
 * symlink or hard link is removed, never written through). Space is reserved for the bytes still to
 * come (S29); a write that meets ENOSPC stops the transfer, deletes the partial file (keeping it would
 * keep the disk full and wedge the next run) and reports DISK_FULL.
 */
export interface DownloadSpec {
  sha512: string
  size: number
  uri: string
  /** issue 17: take the bytes from a registry blob pinned by digest instead of `uri` */
  blob?: BlobSource
}

/**
 * A registry blob as a download source (ocisource.ts makes one after checking the pinned manifest).
 * Everything else — caps, resume, one-pass hashing, crash safety, partial/<sha512> — is the same
 * machinery as for hv:uri: a download broken on one source resumes on the other, since both
 * must deliver the same sha512.
 */
export interface BlobSource {
  /** what messages name (no credentials) */
  shown: string
  /** the blob's sha256 (64 hex digits): checked in the same pass as sl:checksum:sha512 and hv:size */
  sha256: string
  /** GET the blob by its digest, from byte `offset` (a Range when > 0; a 200 answer starts over) */
  open(offset: number, limits: FetchLimits): Promise<OpenResponse>
}

export interface DownloadOutcome {
  file: string
  bytes: number
  resumedFrom: number
  /** the inode written: the caller checks it again (lstat) before moving the file into the cache */
  dev: number
  ino: number
}

export interface DownloadOptions {
  limits: FetchLimits
  onProgress?: (bytesSoFar: number) => void
  /** fsync the verified file before it is moved into the cache (default true) */
  fsync?: boolean
  /** the run's space reservations (one per running download); a fresh budget when absent */
  budget?: DiskBudget
  /** the name in partial/ (default the sha512); another list's size claim for the same bytes gets its own */
  partialName?: string
  /** told about a planted entry removed from partial/ */
  onForeign?: (message: string) => void
}

const FLUSH_EVERY = 32 * 1024 * 1024
/** downloaded bytes are written in blocks of this size (fewer syscalls, fewer awaits) */
const WRITE_BLOCK = 1 << 20
const WRITES_IN_FLIGHT = 4

async function hashPrefix(fh: FileHandle, have: number, digest: StreamingDigest): Promise<void> {
  const buf = Buffer.allocUnsafe(HASH_CHUNK)
  for (let pos = 0; pos < have; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, have - pos), pos)
    if (bytesRead === 0) break
    digest.update(buf.subarray(0, bytesRead))
    pos += bytesRead
  }
}

/**
 * Size of the partial file to resume, or -1. Anything but a regular file with one link is removed
 * first (S27: a planted symlink or hard link would make us append to, or truncate, its target).
 */
async function resumable(file: string, opts: DownloadOptions): Promise<number> {
  const s = await lstatOrUndefined(file)
  if (!s) return -1
  if (s.isFile() && s.nlink === 1) return s.size
  await removeEntry(file, { recursive: true })
  const what = s.isFile() ? 'a regular file with other hard links' : s.isDirectory() ? 'a directory' : s.isSymbolicLink() ? 'a symbolic link' : 'a FIFO, socket or device'
  opts.onForeign?.(`${file} was ${what}, not a download of ours; it was removed without being followed`)
  return -1
}

/** The descriptor to write: the resumed file (still regular, single link, the size seen) or a new one. */
async function openPartial(file: string, have: number): Promise<FileHandle> {
  if (have > 0) {
    const fh = await openRegular(file, constants.O_RDWR)
    const s = await fh.stat()
    if (s.nlink === 1 && s.size === have) return fh
    await fh.close()
    throw new VmgitError('CACHE_FOREIGN_FILE', `${file} changed while it was being opened; it is left alone and downloaded again next time`)
  }
  await removeEntry(file, { recursive: true })
  return createExclusive(file)
}

export async function downloadImage(fetcher: Fetcher, spec: DownloadSpec, partialDir: string, opts: DownloadOptions): Promise<DownloadOutcome> {
  if (!SHA512_HEX.test(spec.sha512)) throw new VmgitError('BAD_SHA512', 'the image checksum is not 128 lowercase hex digits')
  const file = path.join(partialDir, opts.partialName ?? spec.sha512)
  let have = await resumable(file, opts)
  if (have > spec.size) {
    await removeEntry(file)
    have = -1
  }
  const budget = opts.budget ?? new DiskBudget()
  let first = await attempt(fetcher, spec, file, Math.max(have, 0), opts, budget)
  if (first.ok) return first.outcome
  // a resumed file whose result is wrong: the old prefix may be stale; start once from zero
  if (first.resumedFrom > 0) {
    const again = await attempt(fetcher, spec, file, 0, opts, budget)
    if (again.ok) return again.outcome
    first = again
  }
  if (first.wrong === 'sha256' && spec.blob) {
    throw new VmgitError('OCI_BLOB_DIGEST_MISMATCH', `${spec.blob.shown}: the blob's bytes do not hash to the digest the pinned manifest names (sha256:${spec.blob.sha256}); it was deleted (a tampered registry or proxy)`)
  }
  throw new VmgitError('IMAGE_CHECKSUM', `${spec.blob?.shown ?? redactText(spec.uri)}: the downloaded file's sha512 does not match sl:checksum:sha512; it was deleted (a wrong or tampered file)`)
}

type Attempt = { ok: true; outcome: DownloadOutcome } | { ok: false; resumedFrom: number; wrong: 'sha512' | 'sha256' }

/** Errors after which the partial file is worthless (or harmful) and is deleted. */
const DELETE_ON = new Set(['IMAGE_TOO_LARGE', 'IMAGE_SIZE_MISMATCH', 'DISK_FULL', 'CACHE_WRITE_FAILED'])

async function attempt(fetcher: Fetcher, spec: DownloadSpec, file: string, have: number, opts: DownloadOptions, budget: DiskBudget): Promise<Attempt> {
  const reservation = await budget.reserve(path.dirname(file), spec.size - have)
  let fh: FileHandle | undefined
  try {
    fh = await openPartial(file, have)
    const s = await fh.stat()
    const r = await transfer(fetcher, spec, file, fh, have, opts, reservation)
    if (!r.ok) {
      await fh.close()
      fh = undefined
      await removeEntry(file)
      return { ok: false, resumedFrom: r.resumedFrom, wrong: r.wrong ?? 'sha512' }
    }
    if (opts.fsync !== false) await fh.sync()
    return { ok: true, outcome: { file, bytes: spec.size, resumedFrom: r.resumedFrom, dev: s.dev, ino: s.ino } }
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined)
    fh = undefined
    if (e instanceof VmgitError && DELETE_ON.has(e.code)) await removeEntry(file).catch(() => undefined)
    // nothing arrived (refused before connecting, S32; no answer): an empty partial file resumes nothing
    else if ((await lstatOrUndefined(file))?.size === 0) await removeEntry(file).catch(() => undefined)
    throw e
  } finally {
    reservation.release()
    await fh?.close()
  }
}

async function transfer(fetcher: Fetcher, spec: DownloadSpec, file: string, fh: FileHandle, have: number, opts: DownloadOptions, reservation: Reservation): Promise<{ ok: boolean; resumedFrom: number; wrong?: 'sha512' | 'sha256' }> {
  const shown = spec.blob?.shown ?? redactText(spec.uri)
  // issue 17: a registry blob is also checked against its digest, in the same pass
  const newDigest = (): StreamingDigest => new StreamingDigest({ sha256: spec.blob !== undefined })
  let digest = newDigest()
  if (have > 0) await hashPrefix(fh, have, digest)
  let resumedFrom = have
  if (have < spec.size) {
    const headers: Record<string, string> = {}
    if (have > 0) headers.range = `bytes=${have}-`
    const r = spec.blob ? await spec.blob.open(have, opts.limits) : await fetcher.open(spec.uri, { limits: opts.limits, headers })
    if (r.status === 200 && have > 0) {
      // the server ignored the Range: start over from the first byte
      resumedFrom = 0
      await fh.truncate(0)
      digest = newDigest()
    } else if (r.status === 206) {
      const m = /^bytes (\d+)-/.exec(String(r.headers['content-range'] ?? ''))
      if (!m || Number(m[1]) !== have) {
        r.close()
        throw new VmgitError('BAD_RANGE', `${shown} answered the resume request with ${String(r.headers['content-range'])}; the partial file is kept for the next run`)
      }
    } else if (r.status !== 200) {
      throw httpStatusError(r)
    }
    const declared = Number(r.headers['content-length'])
    if (Number.isFinite(declared) && resumedFrom + declared > spec.size) {
      r.close()
      throw new VmgitError('IMAGE_TOO_LARGE', `${shown} announces ${resumedFrom + declared} bytes but hv:size is ${spec.size}; refused before downloading (attack S12)`)
    }
    // flush to disk in the background while downloading, so the final fsync has little left to do
    let flushing: Promise<void> | undefined
    let unflushed = 0
    let pos = resumedFrom
    let block: Buffer[] = []
    let blockBytes = 0
    // up to WRITES_IN_FLIGHT positional writes run in the thread pool while the next bytes arrive and are hashed
    const inFlight: Promise<void>[] = []
    const flushBlock = async (): Promise<void> => {
      if (blockBytes > 0) {
        const data = block.length === 1 ? block[0]! : Buffer.concat(block, blockBytes)
        const at = pos
        pos += data.length
        block = []
        blockBytes = 0
        const w = writeAll(fh, data, at, file).then(() => {
          reservation.wrote(data.length)
          unflushed += data.length
          if (opts.fsync !== false && !flushing && unflushed >= FLUSH_EVERY) {
            unflushed = 0
            flushing = fh.datasync().catch(() => undefined).then(() => void (flushing = undefined))
          }
        })
        w.catch(() => undefined) // awaited below; never an unhandled rejection meanwhile
        inFlight.push(w)
      }
      while (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift()
    }
    const drain = async (): Promise<void> => {
      await flushBlock()
      // every write settles before the descriptor is used again (or closed); the first failure wins
      const results = await Promise.allSettled(inFlight.splice(0))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    }
    let total = resumedFrom
    try {
      for await (const chunk of r.body) {
        total += chunk.length
        if (total > spec.size) {
          throw new VmgitError('IMAGE_TOO_LARGE', `${shown} sent more than hv:size (${spec.size} bytes); the transfer was stopped at ${spec.size + 1} bytes and the file deleted (attack S12)`)
        }
        digest.update(chunk)
        block.push(chunk)
        blockBytes += chunk.length
        if (blockBytes >= WRITE_BLOCK) await flushBlock()
        opts.onProgress?.(total)
      }
    } catch (e) {
      if (e instanceof VmgitError && DELETE_ON.has(e.code)) {
        r.close()
        await Promise.allSettled(inFlight.splice(0))
        await flushing
        throw e
      }
      if (e instanceof VmgitError) {
        // a timeout or a deadline: keep what arrived for the resume, like a broken connection
        r.close()
        await drain().finally(() => flushing)
        throw e
      }
      // the connection broke: keep what arrived, the next run resumes it
      await drain().finally(() => flushing)
      throw new VmgitError('DOWNLOAD_INTERRUPTED', `${shown}: the transfer broke after ${total} of ${spec.size} bytes (${(e as Error).message}); the partial file is kept and resumed next time`)
    }
    await drain()
    await flushing
    if (total < spec.size) {
      // a complete response of the wrong length is a wrong file (S05), not a broken transfer
      throw new VmgitError('IMAGE_SIZE_MISMATCH', `${shown} served ${total} bytes but hv:size is ${spec.size}; the file was deleted`)
    }
  }
  const d = digest.digest()
  if (d.size !== spec.size || d.sha512 !== spec.sha512) return { ok: false, resumedFrom, wrong: 'sha512' }
  if (spec.blob && d.sha256 !== spec.blob.sha256) return { ok: false, resumedFrom, wrong: 'sha256' }
  return { ok: true, resumedFrom }
}
