/** The shapes of a list fetch, shared by the http(s)/file fetcher (listsource.ts) and the registry one (ocisource.ts). */
/** One list location to fetch, with the validators of the copy stored. */
export interface ListSource {
  url: string
  username?: string | null
  password?: string | null
  etag?: string | null
  lastModified?: string | null
}

export type ListFetch =
  | { kind: 'unchanged' }
  | { kind: 'body'; bytes: Buffer; etag?: string; lastModified?: string }
