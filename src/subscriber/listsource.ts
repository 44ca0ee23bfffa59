import { open } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { VmgitError } from '../util/errors.js'
import { type Fetcher, type FetchLimits, httpStatusError, LIST_SIZE_CAP, readCapped } from '../net/http.js'
import { isOciLocation } from './ociref.js'
import type { ListFetch, ListSource } from './listfetch.js'
import { fetchOciList } from './ocisource.js'

/** Fetch one list location: an http(s) URL (conditional GET), a list kept in a registry (oci://, issue 17) or a local file the operator named. */
export async function fetchList(fetcher: Fetcher, src: ListSource, opts: { limits: FetchLimits; cap?: number; conditional: boolean }): Promise<ListFetch> {
  const cap = opts.cap ?? LIST_SIZE_CAP
  if (src.url.startsWith('file:')) return { kind: 'body', bytes: await readFileCapped(fileURLToPath(src.url), cap) }
  if (isOciLocation(src.url)) return fetchOciList(fetcher, src, { limits: opts.limits, cap, conditional: opts.conditional })
  const headers: Record<string, string> = { accept: 'application/pkcs7-mime, application/x-pkcs7-mime, multipart/signed, */*' }
  // an unchanged list costs one 304
  if (opts.conditional && src.etag) headers['if-none-match'] = src.etag
  if (opts.conditional && src.lastModified) headers['if-modified-since'] = src.lastModified
  const r = await fetcher.open(src.url, { limits: opts.limits, headers, auth: { username: src.username, password: src.password }, noDowngrade: true, addressRule: 'origin' })
  if (r.status === 304) {
    r.release()
    if (!opts.conditional) throw new VmgitError('HTTP_STATUS', `${r.url} answered 304 to an unconditional request`) // exit 3: a server fault
    return { kind: 'unchanged' }
  }
  if (r.status !== 200) throw httpStatusError(r)
  const bytes = await readCapped(r, cap, `the list at ${r.url}`)
  const out: ListFetch = { kind: 'body', bytes }
  const etag = r.headers.etag
  const lm = r.headers['last-modified']
  if (etag) out.etag = etag
  if (lm) out.lastModified = lm
  return out
}

async function readFileCapped(file: string, cap: number): Promise<Buffer> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch (e) {
    throw new VmgitError('LIST_FILE_UNREADABLE', `cannot read the list file ${file}: ${(e as Error).message}`)
  }
  try {
    const buf = Buffer.alloc(cap + 1)
    let total = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, total, buf.length - total, null)
      if (bytesRead === 0) break
      total += bytesRead
      if (total > cap) throw new VmgitError('LIST_TOO_LARGE', `the list file ${file} is larger than the ${cap}-byte cap; refused`)
    }
    return Buffer.from(buf.subarray(0, total))
  } finally {
    await fh.close()
  }
}
