/**
 * pkijs runs on node's webcrypto (design.md: pkijs + asn1js for S/MIME, not node-forge).
 * Imported for its side effect by every smime module that uses pkijs.
 */
import { webcrypto } from 'node:crypto'
import * as pkijs from 'pkijs'

let done = false
export function ensureEngine(): void {
  if (done) return
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as any }))
  done = true
}
ensureEngine()
