/**
 * Issue 6 (a no-change sync of 200 lists under 2 s): results that depend on nothing but the exact
 * bytes they were computed from (a parsed certificate, a name's OpenSSL hash, a signature checked
 * with a given key) are computed once per process instead of once per list. Nothing that depends
 * on time, on the trust directory or on a credential is memoised here: every list still gets every
 * check, against this run's `now` and trust store.
 *
 * Bounded (the oldest entry goes first), so a long-lived process (the Action, `glance watch`) does
 * not grow without limit; failures are never memoised (the next call throws again).
 */
export class BytesMemo<T> {
  private readonly entries = new Map<string, T>()

  constructor(private readonly max: number) {}

  get(bytes: Uint8Array, make: () => T): T {
    // the key is the bytes themselves (never a digest of them): equal keys are equal inputs
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    const hit = this.entries.get(key)
    if (hit !== undefined) return hit
    const value = make()
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(key, value)
    return value
  }
}

/** A yes/no verdict per pair of objects (e.g. signature of X checked with the key of Y), forgotten with either object. */
export class PairMemo<A extends object, B extends object> {
  private readonly verdicts = new WeakMap<A, WeakMap<B, boolean>>()

  get(a: A, b: B, decide: () => boolean): boolean {
    let inner = this.verdicts.get(a)
    const hit = inner?.get(b)
    if (hit !== undefined) return hit
    const v = decide()
    if (!inner) this.verdicts.set(a, (inner = new WeakMap()))
    inner.set(b, v)
    return v
  }
}
