import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'

/**
 * Trust for every https connection vmgit makes (issue 14: the same for verify, import, sub add,
 * sync, image add, WebDAV, S3 and Glance): node's system roots, plus the PEM files of the site CA
 * directory (IGTF `<hash>.0`; --ca-dir, VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT), plus
 * any CA file a backend is configured with (clouds.yaml `cacert`, VMGIT_DAV_CA).
 */
export { caDirFromEnv, DEFAULT_CA_DIR } from '../util/ca-dir.js'

export function loadCaDirPems(dir: string | undefined): string[] {
  if (!dir) return []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const pems: string[] = []
  for (const n of names.sort()) {
    if (!/\.(\d+|pem|crt)$/.test(n)) continue
    try {
      const text = readFileSync(path.join(dir, n), 'utf8')
      if (text.includes('-----BEGIN CERTIFICATE-----')) pems.push(text)
    } catch {
      // unreadable entry: skip
    }
  }
  return pems
}

/** The CA list for an https agent: giving `ca` to node replaces its roots, so they are added back. */
export function trustedCas(caDir: string | undefined, extra: readonly (string | Buffer)[] = []): string[] {
  return [...tls.rootCertificates, ...loadCaDirPems(caDir), ...extra.map((c) => c.toString())]
}
