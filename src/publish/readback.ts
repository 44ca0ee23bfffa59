import { readSource } from '../net/source.js'
import { verifySmime } from '../smime/verify.js'
import { VmgitError } from '../util/errors.js'

/**
 * After an upload, fetch the list from its public hv:uri, as subscribers will. 'ok' when the
 * bytes served are the ones just uploaded and their signature verifies; 'unreachable' when the
 * URL cannot be fetched from here (a private network, or not served yet); different bytes are
 * an error (a stale cache or a wrong target mapping would mislead every subscriber).
 */
export async function readBackList(uri: string, expected: Buffer, now = new Date()): Promise<'ok' | 'unreachable'> {
  if (!/^https?:\/\//i.test(uri)) return 'unreachable'
  let served: Buffer
  try {
    served = await readSource(uri, { deadlineMs: 30_000 })
  } catch (e) {
    if (e instanceof VmgitError) return 'unreachable'
    throw e
  }
  if (!served.equals(expected)) {
    throw new VmgitError('READBACK_MISMATCH', `${uri} serves ${served.length} bytes that are not the list just uploaded (${expected.length} bytes); check the target mapping in vmgit.yaml and any cache in front of the server`)
  }
  // digest and signature only: the signer's chain is the subscribers' concern (their trust dir)
  await verifySmime(served, { trust: null, at: now, crlCheck: false })
  return 'ok'
}
