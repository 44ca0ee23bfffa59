/**
 * A blob to a file, streaming, verified in one pass: the sha256 of every byte against the digest,
 * the byte count against the descriptor's size (the read stops at size + 1: a blob served longer
 * than its descriptor is refused before it fills the disk), resuming with Range after a dropped
 * connection or from a partial file of an earlier run. `onData` sees every byte once, in order
 * (the subscriber's sha512 of the list rides along). A file that fails verification is removed.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { rm, stat, truncate } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import { VmgitError } from '../util/errors.js'
import type { RegistryClient } from './client.js'
import type { OciRepo } from './reference.js'

export interface BlobTarget {
  digest: string
  size: number
}

export interface DownloadOptions {
  /** attempts after a network failure, each resuming where the last stopped (default 3) */
  retries?: number
  onData?: (chunk: Buffer) => void
  /** called when the hashing restarts from byte 0 (a registry that ignored Range) */
  onRestart?: () => void
}

export async function downloadBlob(client: RegistryClient, repo: OciRepo, blob: BlobTarget, file: string, opts: DownloadOptions = {}): Promise<void> {
  const what = `${repo.registry}/${repo.repository}@${blob.digest}`
  let hash = createHash('sha256')
  let have = (await stat(file).catch(() => undefined))?.size ?? 0
  if (have > blob.size) {
    await truncate(file, 0)
    have = 0
  }
  // the bytes of an earlier run are hashed again: nothing unverified is ever trusted
  if (have > 0) {
    for await (const c of createReadStream(file, { end: have - 1 })) {
      hash.update(c as Buffer)
      opts.onData?.(c as Buffer)
    }
  }
  const retries = opts.retries ?? 3
  for (let attempt = 0; ; attempt++) {
    if (have === blob.size) break
    try {
      const { response, from } = await client.openBlob(repo, blob.digest, have, { deadlineMs: Math.max(client.limits.deadlineMs, 3_600_000) })
      if (from !== have) {
        hash = createHash('sha256')
        have = 0
        opts.onRestart?.()
      }
      const declared = Number(response.headers['content-length'])
      if (Number.isFinite(declared) && from + declared > blob.size) {
        response.close()
        throw tooLong(what, blob.size)
      }
      const out = createWriteStream(file, { flags: from === 0 ? 'w' : 'a' })
      try {
        for await (const chunk of response.body) {
          if (have + chunk.length > blob.size) {
            response.close()
            throw tooLong(what, blob.size)
          }
          hash.update(chunk)
          opts.onData?.(chunk)
          have += chunk.length
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()))
        }
      } finally {
        out.end()
        await finished(out)
      }
      if (have < blob.size) throw new VmgitError('OCI_BLOB_SHORT', `${what}: the connection ended after ${have} of ${blob.size} bytes`)
    } catch (e) {
      const retryable = e instanceof VmgitError && e.exit === 3 && attempt < retries
      if (!retryable) {
        if (!(e instanceof VmgitError && e.exit === 3)) await rm(file, { force: true })
        throw e
      }
    }
  }
  const got = `sha256:${hash.digest('hex')}`
  if (got !== blob.digest) {
    await rm(file, { force: true })
    throw new VmgitError('OCI_BLOB_DIGEST_MISMATCH', `${what}: the bytes hash to ${got}; refused and removed (the registry served other bytes than the manifest names)`)
  }
}

const tooLong = (what: string, size: number) => new VmgitError('OCI_BLOB_TOO_LARGE', `${what}: the registry sent more than the ${size} bytes the manifest declares; refused`)
