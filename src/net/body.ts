import { VmgitError } from '../util/errors.js'
import { interruptedError, statusError } from './errors.js'
import type { IncomingMessage } from 'node:http'

/** A response whose body has not been read yet (src/net/http.ts opens it). */
export interface OpenResponse {
  status: number
  headers: IncomingMessage['headers']
  /** The URL that answered, after redirects (without credentials). */
  url: string
  /** The peer the response came from (the proxy, when there is one). */
  remoteAddress?: string
  body: AsyncIterable<Buffer>
  /** Abort the transfer (and free its socket). */
  close(): void
  /**
   * Done with an answer that has no body (a 304 or 204, or an answer to HEAD): its kept-alive
   * connection then serves the next request (issue 6: 200 unchanged lists cost 200 requests, not
   * 200 connections). Any other answer is closed, as close() does.
   */
  release(): void
}

/**
 * Read a whole body into memory, refusing more than `cap` bytes (the read stops at cap + 1).
 * `code` names what was too large: LIST_TOO_LARGE for image lists (S11), RESPONSE_TOO_LARGE
 * for anything else (a --checksums file, an API answer, an error page).
 */
export async function readCapped(r: OpenResponse, cap: number, what: string, code: 'LIST_TOO_LARGE' | 'RESPONSE_TOO_LARGE' = 'LIST_TOO_LARGE'): Promise<Buffer> {
  const declared = Number(r.headers['content-length'])
  if (Number.isFinite(declared) && declared > cap) {
    r.close()
    throw new VmgitError(code, `${what} declares ${declared} bytes, more than the ${cap}-byte cap; refused`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const c of guardedBody(r)) {
    total += c.length
    if (total > cap) {
      r.close()
      throw new VmgitError(code, `${what} sent more than the ${cap}-byte cap; refused (attack S11: endless data)`)
    }
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}

/** The body, where a broken connection is DOWNLOAD_INTERRUPTED (exit 3) instead of a bare socket error. */
export async function* guardedBody(r: OpenResponse): AsyncGenerator<Buffer> {
  let received = 0
  try {
    for await (const c of r.body) {
      received += c.length
      yield c
    }
  } catch (e) {
    throw e instanceof VmgitError ? e : interruptedError(r.url, e as Error, received)
  }
}

export function httpStatusError(r: OpenResponse): VmgitError {
  r.close()
  return statusError(r.url, r.status)
}
