/**
 * The trust directory (IGTF / OpenSSL CApath layout): `<hash>.N` CA certificates, `<hash>.rN` CRLs,
 * plus `*.pem`/`*.crt` certificates and `*.crl` CRLs under other names. `.signing_policy`,
 * `.namespaces`, `.crl_url` and `.info` files are metadata and are skipped.
 *
 * Lookups go by the OpenSSL subject hash of the wanted issuer, as `openssl -CApath` does, so a
 * directory with hundreds of CAs costs one or two file reads per verification; only when the hash
 * names nothing do the unhashed files get parsed (once, then indexed by canonical subject).
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { usageError } from '../util/errors.js'
import { CERT_LABELS, CRL_LABELS, isoDate, parseCert, parseCrl, pemBlocks, type CertInfo, type CrlInfo } from './cert.js'
import { canonicalName, nameHash } from './dn.js'

// one resolution of the trust directory for signatures and for TLS (src/net/trust.ts)
export { caDirFromEnv, DEFAULT_CA_DIR } from '../util/ca-dir.js'

const HASHED_CERT = /^[0-9a-f]{8}\.\d+$/
const HASHED_CRL = /^[0-9a-f]{8}\.r\d+$/
const SKIP = /\.(signing_policy|namespaces|crl_url|info|lsc|key)$/i
const OTHER_CERT = /\.(pem|crt|cer|der|\d+)$/i
const OTHER_CRL = /\.(crl|pem|r\d+)$/i

export interface TrustReport {
  dir: string
  anchors: { file: string; subject: string; notAfter: string; expired: boolean; notYetValid: boolean }[]
  crls: { file: string; issuer: string; nextUpdate?: string; expired: boolean }[]
  skipped: string[]
  unreadable: { file: string; message: string }[]
}

export class TrustStore {
  private certCache = new Map<string, CertInfo[]>()
  private crlCache = new Map<string, CrlInfo[]>()
  private otherCerts?: Map<string, CertInfo[]>
  private otherCrls?: Map<string, CrlInfo[]>
  readonly unreadable: { file: string; message: string }[] = []

  constructor(readonly dir: string, private readonly names: Set<string>, readonly skipped: string[]) {}

  private async readCerts(file: string): Promise<CertInfo[]> {
    let c = this.certCache.get(file)
    if (c) return c
    c = []
    try {
      for (const der of pemBlocks(await readFile(path.join(this.dir, file)), CERT_LABELS)) c.push(parseCert(der, file))
    } catch (e) {
      this.unreadable.push({ file, message: (e as Error).message })
    }
    this.certCache.set(file, c)
    return c
  }

  private async readCrls(file: string): Promise<CrlInfo[]> {
    let c = this.crlCache.get(file)
    if (c) return c
    c = []
    try {
      for (const der of pemBlocks(await readFile(path.join(this.dir, file)), CRL_LABELS)) c.push(parseCrl(der, file))
    } catch (e) {
      this.unreadable.push({ file, message: (e as Error).message })
    }
    this.crlCache.set(file, c)
    return c
  }

  /** `<hash>.<i>` / `<hash>.r<i>` for i = 0.. while the file exists (OpenSSL by_dir). */
  private hashedFiles(hash: string, crl: boolean): string[] {
    const out: string[] = []
    for (let i = 0; ; i++) {
      const f = `${hash}.${crl ? 'r' : ''}${i}`
      if (!this.names.has(f)) return out
      out.push(f)
    }
  }

  private unhashed(re: RegExp, hashed: RegExp): string[] {
    return [...this.names].filter((n) => re.test(n) && !hashed.test(n) && !SKIP.test(n)).sort()
  }

  /** CA certificates in the directory whose subject is `name` (DER), by OpenSSL's name rules. */
  async issuersOf(name: Uint8Array): Promise<CertInfo[]> {
    const canon = canonicalName(name)
    const match = (c: CertInfo): boolean => canonicalName(c.subjectDer).equals(canon)
    const found: CertInfo[] = []
    for (const f of this.hashedFiles(nameHash(name), false)) found.push(...(await this.readCerts(f)).filter(match))
    if (found.length) return found
    if (!this.otherCerts) {
      this.otherCerts = new Map()
      for (const f of this.unhashed(OTHER_CERT, HASHED_CERT)) {
        for (const c of await this.readCerts(f)) {
          const k = canonicalName(c.subjectDer).toString('hex')
          this.otherCerts.set(k, [...(this.otherCerts.get(k) ?? []), c])
        }
      }
    }
    return this.otherCerts.get(canon.toString('hex')) ?? []
  }

  /** CRLs in the directory issued by `name` (DER). */
  async crlsOf(name: Uint8Array): Promise<CrlInfo[]> {
    const canon = canonicalName(name)
    const match = (c: CrlInfo): boolean => canonicalName(c.issuerDer).equals(canon)
    const found: CrlInfo[] = []
    for (const f of this.hashedFiles(nameHash(name), true)) found.push(...(await this.readCrls(f)).filter(match))
    if (found.length) return found
    if (!this.otherCrls) {
      this.otherCrls = new Map()
      for (const f of this.unhashed(OTHER_CRL, HASHED_CRL)) {
        for (const c of await this.readCrls(f)) {
          const k = canonicalName(c.issuerDer).toString('hex')
          this.otherCrls.set(k, [...(this.otherCrls.get(k) ?? []), c])
        }
      }
    }
    return this.otherCrls.get(canon.toString('hex')) ?? []
  }

  /** Parse everything and describe it: expired anchors and CRLs are flagged (for `vmgit verify` diagnostics and tests). */
  async report(now: Date): Promise<TrustReport> {
    const r: TrustReport = { dir: this.dir, anchors: [], crls: [], skipped: [...this.skipped].sort(), unreadable: [] }
    const seen = new Set<string>()
    for (const f of [...this.names].sort()) {
      if (SKIP.test(f)) continue
      if (HASHED_CRL.test(f) || /\.crl$/i.test(f)) {
        for (const c of await this.readCrls(f)) {
          r.crls.push({ file: f, issuer: c.issuer, nextUpdate: c.nextUpdate && isoDate(c.nextUpdate), expired: !!c.nextUpdate && c.nextUpdate < now })
        }
      } else if (HASHED_CERT.test(f) || OTHER_CERT.test(f)) {
        for (const c of await this.readCerts(f)) {
          const key = c.der.toString('base64')
          if (seen.has(key)) continue
          seen.add(key)
          r.anchors.push({ file: f, subject: c.subject, notAfter: isoDate(c.notAfter), expired: c.notAfter < now, notYetValid: c.notBefore > now })
        }
      }
    }
    r.unreadable = [...this.unreadable]
    return r
  }
}

/** Open a trust directory (reads only the file names; certificates are parsed on demand). */
export async function loadTrustStore(dir: string): Promise<TrustStore> {
  let names: string[]
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory')
    names = await readdir(dir)
  } catch {
    throw usageError('TRUST_DIR_MISSING', `trust directory ${dir} does not exist or is not a directory; ` +
      'install the IGTF CA bundle (with fetch-crl for CRLs) or point --ca-dir / VMGIT_CA_DIR at a directory of CA certificates')
  }
  const skipped = names.filter((n) => SKIP.test(n))
  return new TrustStore(dir, new Set(names.filter((n) => !n.startsWith('.'))), skipped)
}
