import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { usageError } from '../util/errors.js'

/**
 * List URLs may carry credentials (basic auth from the userinfo, or an AppDB token as user with
 * password `x-oauth-basic`). vmcatcher stored and printed them; vmgit keeps them in the
 * database only, sends them only as an Authorization header to the URL's own origin, and prints
 * every URL without them.
 */
export interface SplitUrl {
  /** The URL without userinfo (or a file:// URL for a local path). */
  url: string
  username?: string
  password?: string
}

/** Normalise a subscription location: http(s) URLs, file:// URLs, or a local path. */
export function splitCredentials(location: string): SplitUrl {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(location)) return { url: pathToFileURL(path.resolve(location)).href }
  let u: URL
  try {
    u = new URL(location)
  } catch {
    throw usageError('BAD_URL', `${JSON.stringify(redactText(location))} is not a URL or a path; give an https:// URL or a local file`)
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw usageError('URL_SCHEME', `${u.protocol} URLs are not supported for image lists; use https://, http:// or a local file`)
  }
  const out: SplitUrl = { url: '' }
  if (u.username !== '') out.username = decodeURIComponent(u.username)
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  u.username = ''
  u.password = ''
  out.url = u.href
  return out
}

/** A URL for display: userinfo removed (works on anything URL-shaped inside free text too). */
export function redactText(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s?#]*@/gi, '$1')
}

export const redactUrl = (u: string): string => {
  try {
    return splitCredentials(u).url
  } catch {
    return redactText(u)
  }
}

export function basicAuthHeader(username?: string | null, password?: string | null): string | undefined {
  if (!username && !password) return undefined
  return 'Basic ' + Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64')
}
