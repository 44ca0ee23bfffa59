import type { Fetcher, FetchLimits } from '../net/http.js'
import type { ListFetch, ListSource } from './listfetch.js'
import { fetchList } from './listsource.js'
import { credentialsOf, type DB, getUrls, type SubscriptionMeta, type UrlRow } from './store.js'

/**
 * Issue 6: the list phase asks the mirrors of the next few subscriptions while it verifies the
 * current one, so a run of 200 unchanged lists waits for the network about WINDOW times less.
 * Only the requests move earlier; every reply is still judged in subscription order, by the same
 * code, and every mirror still gets exactly its one conditional request per run.
 *
 * A reply is used only for the very request that would be made now: same URL, credentials and
 * validators as the subscription's row when its turn comes (else that row changed meanwhile and
 * it is asked again). A subscription whose endorser has no trusted credentials is not asked at
 * all, as before. Replies never taken (a run that stops early) are dropped with the fetcher.
 */
export const WINDOW = 8

const sourceOf = (u: UrlRow): ListSource => ({ url: u.url, username: u.username, password: u.password, etag: u.etag, lastModified: u.last_modified })

const sameSource = (a: ListSource, b: ListSource): boolean =>
  a.url === b.url && a.username === b.username && a.password === b.password && a.etag === b.etag && a.lastModified === b.lastModified

/** The conditional request of one list location (what update.ts asks). */
export const askList = (fetcher: Fetcher, u: UrlRow, limits: FetchLimits): Promise<ListFetch> =>
  fetchList(fetcher, sourceOf(u), { limits, conditional: true })

export class ListPrefetch {
  private readonly pending = new Map<string, { source: ListSource; reply: Promise<ListFetch> }>()
  private started = 0

  constructor(private readonly db: DB, private readonly fetcher: Fetcher, private readonly limits: FetchLimits, private readonly subs: readonly SubscriptionMeta[]) {}

  /** Subscription `index` is next: make sure the requests of it and the WINDOW - 1 after it are under way. */
  ahead(index: number): void {
    for (const end = Math.min(this.subs.length, index + WINDOW); this.started < end; this.started++) {
      const sub = this.subs[this.started]!
      if (credentialsOf(this.db, sub.endorser, sub.id).length === 0) continue
      for (const u of getUrls(this.db, sub.id)) {
        const reply = askList(this.fetcher, u, this.limits)
        // judged when its subscription's turn comes; a failure is reported then, not as an unhandled rejection now
        reply.catch(() => undefined)
        this.pending.set(`${sub.id}\u0000${u.position}`, { source: sourceOf(u), reply })
      }
    }
  }

  /** The reply already asked for this mirror of this subscription, if it was asked exactly as it would be now. */
  take(subscriptionId: string, u: UrlRow): Promise<ListFetch> | undefined {
    const key = `${subscriptionId}\u0000${u.position}`
    const p = this.pending.get(key)
    this.pending.delete(key)
    return p && sameSource(p.source, sourceOf(u)) ? p.reply : undefined
  }
}
