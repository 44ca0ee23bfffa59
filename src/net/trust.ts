import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'

/**
 * Trust for every https connection vmgit makes (issue 14: the same for verify, import, sub add,
 * sync, image add, WebDAV and Glance): node's system roots, plus the PEM files of the site CA
 * directory (IGTF `<hash>.0`; --ca-dir, VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT), plus
 * any CA file a backend is configured with (clouds.yaml `cacert`, VMGIT_DAV_CA).
 */
export const DEFAULT_CA_DIR = '/etc/grid-security/certificates'

/**
 * The trust directory from flag, VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT, else the IGTF
 * default — one order for every command (sub add and sync ignored X509_CERT_DIR before issue 14).
 */
export function caDirFromEnv(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return flag || env.VMGIT_CA_DIR || env.X509_CERT_DIR || env.VMCATCHER_DIR_CERT || DEFAULT_CA_DIR
}

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
