import { FILE_NAME } from './load.js'

/**
 * A safe file name from list text (a title, a DN): lowercase letters, digits, `.` and `-`,
 * at most 60 characters, never a path, never starting with a dot. Falls back when nothing is left.
 */
export function slug(text: string, fallback: string): string {
  const s = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[-.]+/, '')
    .slice(0, 60)
    .replace(/[-.]+$/, '')
  return s && FILE_NAME.test(s) ? s : fallback
}

/** `base`, else `base-2`, `base-3`, ... not in `taken`. */
export function uniqueName(base: string, taken: (name: string) => boolean): string {
  if (!taken(base)) return base
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`
}

/** The CN of an OpenSSL one-line DN (`/C=DE/O=GermanGrid/CN=Owen Synge` → `Owen Synge`). */
export function commonName(dn: string): string | undefined {
  const m = /\/CN=([^/]+)$/.exec(dn) ?? /\/CN=([^/]+)/.exec(dn)
  return m?.[1]
}
