/**
 * Chain building to a trust anchor and revocation checking (spec §2.2, attacks S02).
 * The signer's issuer selects candidate CAs (and later CRLs) by name before any signature is
 * checked, so a large trust directory costs no more than a small one.
 */
import { VmgitError } from '../util/errors.js'
import { crlSignedBy, isoDate, signedBy, type CertInfo, type CrlInfo } from './cert.js'
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

function finish(certs: CertInfo[], anchor: CertInfo, at: Date, dir: string): Chain {
  const leaf = certs[0]!
  for (const [i, ca] of certs.entries()) {
    if (i === 0) continue
    // a CA must be marked as one (basicConstraints cA) unless it is a v1-style self-signed root
    if (ca.isCA === false || (ca.isCA === undefined && ca !== anchor)) {
      throw untrusted(leaf, dir, `${ca.subject} is not a CA certificate (basicConstraints cA is not set)`)
    }
    if (ca.keyUsage && !ca.keyUsage.has('keyCertSign')) throw untrusted(leaf, dir, `${ca.subject} may not sign certificates (keyUsage lacks keyCertSign)`)
  }
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
 * The CRL of the signer's issuing CA must be present, signed by that CA, current at `at`, and must
 * not list the signer (OpenSSL -crl_check semantics: the end-entity certificate only).
 */
export async function checkRevocation(chain: Chain, trust: TrustStore, at: Date): Promise<CrlInfo> {
  const leaf = chain.certs[0]!
  const issuer = chain.certs[1] ?? leaf
  const all = await trust.crlsOf(leaf.issuerDer)
  const fix = 'run fetch-crl (or copy the CA\'s CRL there), or pass --no-crl-check for a test CA that publishes none'
  if (all.length === 0) {
    throw new VmgitError('CRL_MISSING', `no CRL for CA ${leaf.issuer} in ${trust.dir} (expected ${nameHash(leaf.issuerDer)}.r0); ${fix}`,
      { details: { ca: leaf.issuer } })
  }
  const signed = all.filter((c) => crlSignedBy(c, issuer))
  if (signed.length === 0) {
    throw new VmgitError('CRL_BAD_SIGNATURE', `the CRL for ${leaf.issuer} (${all.map((c) => c.file).join(', ')}) is not signed by that CA; ` +
      're-download it with fetch-crl', { details: { ca: leaf.issuer } })
  }
  const current = signed.filter((c) => c.thisUpdate <= at && (!c.nextUpdate || at <= c.nextUpdate))
  if (current.length === 0) {
    const future = signed.find((c) => c.thisUpdate > at)
    if (future) {
      throw new VmgitError('CRL_NOT_YET_VALID', `the CRL for ${leaf.issuer} is not valid before ${isoDate(future.thisUpdate)}; ` +
        'check the clock or --at (historical checks need a CRL from that time, or --no-crl-check)', { details: { ca: leaf.issuer } })
    }
    const newest = [...signed].sort((a, b) => +(b.nextUpdate ?? 0) - +(a.nextUpdate ?? 0))[0]!
    throw new VmgitError('CRL_EXPIRED', `the CRL for ${leaf.issuer} (${newest.file}) expired on ${isoDate(newest.nextUpdate ?? at)}; ${fix}`,
      { details: { ca: leaf.issuer, nextUpdate: newest.nextUpdate && isoDate(newest.nextUpdate) } })
  }
  const crl = current.sort((a, b) => +b.thisUpdate - +a.thisUpdate)[0]!
  const when = crl.revoked.get(leaf.serial)
  if (when) {
    throw new VmgitError('SIGNER_REVOKED', `signer certificate ${leaf.subject} (serial ${leaf.serial}) was revoked on ${isoDate(when)} ` +
      `(CRL ${crl.file}); the list must be re-signed with a valid certificate`, { details: { signer: leaf.subject, serial: leaf.serial, revoked: isoDate(when) } })
  }
  return crl
}
