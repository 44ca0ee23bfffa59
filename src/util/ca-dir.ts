/**
 * Where the site's trust directory is (IGTF `<hash>.0` files and CRLs): one order for every command,
 * used by the S/MIME verifier (src/smime) and by TLS (src/net) alike.
 */
export const DEFAULT_CA_DIR = '/etc/grid-security/certificates'

/**
 * The trust directory from flag, VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT, else the IGTF
 * default — one order for every command (sub add and sync ignored X509_CERT_DIR before issue 14).
 */
export function caDirFromEnv(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return flag || env.VMGIT_CA_DIR || env.X509_CERT_DIR || env.VMCATCHER_DIR_CERT || DEFAULT_CA_DIR
}
