/**
 * Chain building to a trust anchor and revocation checking (spec §2.2, attacks S02).
 * The signer's issuer selects candidate CAs (and later CRLs) by name before any signature is
 * checked, so a large trust directory costs no more than a small one.
 */
import { VmgitError } from '../util/errors.js'
import { isWeakCertHash, keyBits, sigScheme } from './algorithms.js'
import { crlSignedBy, isoDate, publicKey, signedBy, type CertInfo, type CrlInfo } from './cert.js'
import { checkNameConstraints } from './constraints.js'
import { nameHash, sameName } from './dn.js'
import type { TrustStore } from './trust.js'

const MAX_DEPTH = 10

export interface Chain {
  /** signer first, anchor last (a self-signed trusted signer is its own anchor) */
  certs: CertInfo[]
  anchor: CertInfo
}

const validAt = (c: CertInfo, at: Date): boolean => c.notBefore <= at && at <= c.notAfter

function untrusted(leaf: CertInfo, dir: string, why: string): VmgitError {
  return new VmgitError('UNTRUSTED_SIGNER', `signer ${leaf.subject} is not trusted: ${why}; ` +
    `install the issuing CA (e.g. the IGTF bundle) in ${dir} or point --ca-dir at the right directory`,
  { details: { signer: leaf.subject, issuer: leaf.issuer, caDir: dir } })
}

/**
 * Build signer → … → self-signed anchor from the trust directory (trusted) and the certificates
 * embedded in the message (untrusted intermediates only). Then check CA constraints and the CAs'
 * validity at `at` (TRUST_ANCHOR_EXPIRED / CA_CERT_EXPIRED); the signer's own validity is checked
 * by the caller after this, so an untrusted signer is reported as such first.
 */
export async function buildChain(leaf: CertInfo, embedded: CertInfo[], trust: TrustStore, at: Date): Promise<Chain> {
  const certs: CertInfo[] = [leaf]
  let cur = leaf
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const trusted = await trust.issuersOf(cur.issuerDer)
    if (cur.selfIssued && trusted.some((t) => t.der.equals(cur.der))) return finish(certs, cur, at, trust.dir)
    const cands = [
      ...trusted.map((c) => ({ c, trusted: true })),
      ...embedded.filter((e) => e !== cur && !certs.includes(e) && sameName(e.subjectDer, cur.issuerDer)).map((c) => ({ c, trusted: false })),
    ]
    if (cands.length === 0) {
      const why = cur === leaf
        ? (leaf.selfIssued ? 'it is self-signed and not in the trust directory' : `no certificate for its CA ${leaf.issuer} (file ${nameHash(leaf.issuerDer)}.0)`)
        : `no certificate for ${cur.issuer}, the CA of ${cur.subject}`
      throw untrusted(leaf, trust.dir, why)
    }
    const good = cands.filter((x) => !certs.includes(x.c) && signedBy(cur, x.c))
    if (good.length === 0) throw untrusted(leaf, trust.dir, `the signature on ${cur.subject} does not verify with the key of any CA named ${cur.issuer}`)
    // prefer trusted certificates, then ones valid at `at` (a renewed CA may sit beside its expired predecessor)
    good.sort((a, b) => Number(b.trusted) - Number(a.trusted) || Number(validAt(b.c, at)) - Number(validAt(a.c, at)))
    const pick = good[0]!
    certs.push(pick.c)
    if (pick.c.selfIssued) {
      if (!pick.trusted) throw untrusted(leaf, trust.dir, `its root CA ${pick.c.subject} is not in the trust directory`)
      return finish(certs, pick.c, at, trust.dir)
    }
    cur = pick.c
  }
  throw untrusted(leaf, trust.dir, `no self-signed root within ${MAX_DEPTH} certificates`)
}

const EMAIL_PROTECTION = '1.3.6.1.5.5.7.3.4'
const NS_SSL_CLIENT = 0x80
const NS_SMIME = 0x20

/**
 * S21: the checks of `openssl cms -verify -purpose smimesign` on the built chain, in OpenSSL's
 * order where it matters, plus vmgit's stricter rules (rules.ts).
 */
function finish(certs: CertInfo[], anchor: CertInfo, at: Date, dir: string): Chain {
  const leaf = certs[0]!
  for (const c of certs) {
    // RFC 5280 §4.2 / OpenSSL X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION (rules.ts CRITICAL_POLICY for the ones OpenSSL knows)
    if (c.unknownCritical.length) {
      throw new VmgitError('UNSUPPORTED_CRITICAL_EXTENSION', `signer ${leaf.subject} is not trusted: ${c.subject} carries critical extension(s) ` +
        `${c.unknownCritical.join(', ')} that vmgit does not process; such a certificate may not be relied on — the CA must issue it without them`,
      { details: { signer: leaf.subject, certificate: c.subject, extensions: c.unknownCritical } })
    }
  }
  let plen = 0
  for (const [i, ca] of certs.entries()) {
    if (i === 0) continue
    // a CA must be marked as one (basicConstraints cA) unless it is a v1-style self-signed root (rules.ts CA_WITHOUT_BASIC_CONSTRAINTS)
    if (ca.isCA === false || (ca.isCA === undefined && !(ca === anchor && ca.pk.version === 0 && ca.selfIssued))) {
      throw untrusted(leaf, dir, `${ca.subject} is not a CA certificate (basicConstraints cA is not set)`)
    }
    if (ca.keyUsage && !ca.keyUsage.has('keyCertSign')) throw untrusted(leaf, dir, `${ca.subject} may not sign certificates (keyUsage lacks keyCertSign)`)
    // RFC 5280 §4.2.1.9 / OpenSSL check_chain: non-self-issued intermediates below a CA may not exceed its pathLenConstraint
    if (i > 1 && ca.pathLen !== undefined && plen > ca.pathLen) {
      throw new VmgitError('PATH_LENGTH_EXCEEDED', `signer ${leaf.subject} is not trusted: CA ${ca.subject} allows ${ca.pathLen} intermediate CA(s) ` +
        `below it (pathLenConstraint) but the chain has ${plen}; the chain was issued against the CA's policy`, { details: { signer: leaf.subject, ca: ca.subject } })
    }
    if (!ca.selfIssued) plen++
  }
  // OpenSSL smimesign purpose (v3_purp.c purpose_smime): an extendedKeyUsage, wherever in the chain,
  // must include emailProtection (anyExtendedKeyUsage alone is refused by OpenSSL too)
  for (const [i, c] of certs.entries()) {
    if (c.eku && !c.eku.has(EMAIL_PROTECTION)) {
      const what = i === 0 ? 'signer certificate' : 'CA certificate'
      throw new VmgitError(i === 0 ? 'SIGNER_PURPOSE' : 'CA_PURPOSE', `${what} ${c.subject} may not be used for S/MIME signing: its extendedKeyUsage ` +
        `(${[...c.eku].join(', ')}) lacks emailProtection (1.3.6.1.5.5.7.3.4); the list must be signed with an S/MIME (email protection) certificate`,
      { details: { signer: leaf.subject, certificate: c.subject, eku: [...c.eku] } })
    }
  }
  if (leaf.nsCertType !== undefined && !(leaf.nsCertType & (NS_SMIME | NS_SSL_CLIENT))) {
    throw new VmgitError('SIGNER_PURPOSE', `signer certificate ${leaf.subject} may not be used for S/MIME signing: its netscape-cert-type lacks S/MIME; ` +
      'the list must be signed with an S/MIME certificate', { details: { signer: leaf.subject } })
  }
  checkNameConstraints(certs)
  checkAlgorithms(certs, anchor)
  // CA validity at `at`: the anchor first, then intermediates (the signer is the caller's next check)
  const cas = certs.slice(1).reverse()
  for (const ca of cas) {
    const anchorCa = ca === anchor
    if (at > ca.notAfter) {
      throw new VmgitError(anchorCa ? 'TRUST_ANCHOR_EXPIRED' : 'CA_CERT_EXPIRED',
        `${anchorCa ? 'trust anchor' : 'intermediate CA'} ${ca.subject} (${ca.file ?? 'embedded'}) expired on ${isoDate(ca.notAfter)}; ` +
        `update the CA bundle in ${dir}, or use --at for a historical check`, { details: { ca: ca.subject, notAfter: isoDate(ca.notAfter) } })
    }
    if (at < ca.notBefore) {
      throw new VmgitError(anchorCa ? 'TRUST_ANCHOR_NOT_YET_VALID' : 'CA_CERT_NOT_YET_VALID',
        `CA ${ca.subject} is not valid before ${isoDate(ca.notBefore)}; check the system clock or --at`, { details: { ca: ca.subject } })
    }
  }
  return { certs, anchor }
}

const weak = (what: string, fix: string, details: Record<string, unknown>): VmgitError =>
  new VmgitError('WEAK_ALGORITHM', `${what} is too weak to rely on (vmgit follows OpenSSL 3's default security level, 80 bits); ${fix}`, { details })

/** rules.ts WEAK_CERT_SIGNATURE and WEAK_KEY: MD5/SHA-1 signatures below the anchor, keys under 80 bits anywhere. */
function checkAlgorithms(certs: CertInfo[], anchor: CertInfo): void {
  for (const c of certs) {
    if (c !== anchor) {
      const { hash, name } = sigScheme(c.sigAlg)
      if (isWeakCertHash(hash)) {
        throw weak(`the ${hash} signature on certificate ${c.subject} (${name})`, 'the CA must re-issue it with SHA-256 or better',
          { certificate: c.subject, algorithm: hash })
      }
    }
    const bits = keyBits(publicKey(c))
    if (bits !== undefined && bits < 80) {
      throw new VmgitError('WEAK_KEY', `the public key of ${c.subject} is too small (${bits} security bits, fewer than OpenSSL's default level of 80: ` +
        'RSA needs 1024 bits, EC 160); the certificate must be re-issued with a larger key', { details: { certificate: c.subject, bits } })
    }
  }
}

/** The signer's own validity at `at` (never at the CMS signingTime: attacks S02). */
export function checkSignerValidity(leaf: CertInfo, at: Date): void {
  if (at > leaf.notAfter) {
    throw new VmgitError('SIGNER_EXPIRED', `signer certificate ${leaf.subject} expired on ${isoDate(leaf.notAfter).slice(0, 10)}; ` +
      'renew it and re-sign, or use --at for a historical check', { details: { signer: leaf.subject, notAfter: isoDate(leaf.notAfter) } })
  }
  if (at < leaf.notBefore) {
    throw new VmgitError('SIGNER_NOT_YET_VALID', `signer certificate ${leaf.subject} is not valid before ${isoDate(leaf.notBefore)}; ` +
      'check the clock of the signing and the verifying machine, or use --at', { details: { signer: leaf.subject, notBefore: isoDate(leaf.notBefore) } })
  }
}

/**
 * S21, OpenSSL -crl_check_all: every certificate below the trust anchor needs a CRL of its issuer
 * that is present, signed by that issuer (whose keyUsage, if any, allows cRLSign), current at `at`,
 * free of critical extensions vmgit cannot interpret (rules.ts CRL_CRITICAL_EXTENSION), and that
 * does not list it. A revoked intermediate CA therefore rejects whatever it signed, even when only
 * the root's CRL lists it (vmcatcher checked only the issuing CA's CRL). Returns the signer's CRL.
 */
export async function checkRevocation(chain: Chain, trust: TrustStore, at: Date, embedded: CrlInfo[] = []): Promise<CrlInfo> {
  const below = chain.certs.length > 1 ? chain.certs.slice(0, -1) : chain.certs
  let signerCrl: CrlInfo | undefined
  for (const [i, cert] of below.entries()) {
    const issuer = chain.certs[i + 1] ?? cert
    const crl = await currentCrl(cert, issuer, trust, at)
    signerCrl ??= crl
    // CRLs in the signature (OpenSSL uses them as well) may add a revocation, never remove one or stand in for the directory's
    const extra = embedded.filter((e) => sameName(e.issuerDer, cert.issuerDer) && e.thisUpdate <= at && e.revoked.has(cert.serial) && crlSignedBy(e, issuer))
    const by = crl.revoked.has(cert.serial) ? crl : extra[0]
    const when = by?.revoked.get(cert.serial)
    if (!by || !when) continue
    if (i === 0) {
      throw new VmgitError('SIGNER_REVOKED', `signer certificate ${cert.subject} (serial ${cert.serial}) was revoked on ${isoDate(when)} ` +
        `(CRL ${by.file}); the list must be re-signed with a valid certificate`, { details: { signer: cert.subject, serial: cert.serial, revoked: isoDate(when) } })
    }
    throw new VmgitError('CA_REVOKED', `intermediate CA ${cert.subject} (serial ${cert.serial}), which issued the signer's chain, was revoked on ` +
      `${isoDate(when)} (CRL ${by.file}); nothing it signed may be trusted — the list must be re-signed under a valid CA`,
    { details: { signer: chain.certs[0]!.subject, ca: cert.subject, serial: cert.serial, revoked: isoDate(when) } })
  }
  return signerCrl!
}

/** The newest usable CRL of `issuer` covering `cert`. */
async function currentCrl(cert: CertInfo, issuer: CertInfo, trust: TrustStore, at: Date): Promise<CrlInfo> {
  const all = await trust.crlsOf(cert.issuerDer)
  const fix = 'run fetch-crl (or copy the CA\'s CRL there), or pass --no-crl-check for a test CA that publishes none'
  const ca = cert.issuer
  if (all.length === 0) {
    throw new VmgitError('CRL_MISSING', `no CRL for CA ${ca} in ${trust.dir} (expected ${nameHash(cert.issuerDer)}.r0); ${fix}`,
      { details: { ca, certificate: cert.subject } })
  }
  const signed = all.filter((c) => crlSignedBy(c, issuer))
  if (signed.length === 0) {
    throw new VmgitError('CRL_BAD_SIGNATURE', `the CRL for ${ca} (${all.map((c) => c.file).join(', ')}) is not signed by that CA; ` +
      're-download it with fetch-crl', { details: { ca } })
  }
  if (issuer.keyUsage && !issuer.keyUsage.has('cRLSign')) {
    throw new VmgitError('CRL_BAD_SIGNATURE', `CA ${ca} may not sign CRLs (its keyUsage lacks cRLSign), so its CRL cannot be relied on; ` +
      'the CA must be re-issued with cRLSign', { details: { ca } })
  }
  for (const c of signed) {
    const { hash, name } = sigScheme({ oid: c.sigAlg, params: c.sigParams })
    if (isWeakCertHash(hash)) throw weak(`the ${hash} signature on the CRL of ${ca} (${c.file}, ${name})`, 'the CA must sign its CRL with SHA-256 or better', { ca, algorithm: hash })
  }
  const usable = signed.filter((c) => c.criticalExtensions.length === 0)
  if (usable.length === 0) {
    throw new VmgitError('CRL_MISSING', `the CRL for ${ca} (${signed.map((c) => c.file).join(', ')}) has critical extension(s) ` +
      `${signed[0]!.criticalExtensions.join(', ')} (a partitioned, delta or indirect CRL), which does not cover every certificate; ` +
      'install the CA\'s full CRL', { details: { ca } })
  }
  const current = usable.filter((c) => c.thisUpdate <= at && (!c.nextUpdate || at <= c.nextUpdate))
  if (current.length === 0) {
    const future = usable.find((c) => c.thisUpdate > at)
    if (future) {
      throw new VmgitError('CRL_NOT_YET_VALID', `the CRL for ${ca} is not valid before ${isoDate(future.thisUpdate)}; ` +
        'check the clock or --at (historical checks need a CRL from that time, or --no-crl-check)', { details: { ca } })
    }
    const newest = [...usable].sort((a, b) => +(b.nextUpdate ?? 0) - +(a.nextUpdate ?? 0))[0]!
    throw new VmgitError('CRL_EXPIRED', `the CRL for ${ca} (${newest.file}) expired on ${isoDate(newest.nextUpdate ?? at)}; ${fix}`,
      { details: { ca, nextUpdate: newest.nextUpdate && isoDate(newest.nextUpdate) } })
  }
  return current.sort((a, b) => +b.thisUpdate - +a.thisUpdate)[0]!
}
