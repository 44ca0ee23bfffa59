import { createHash } from 'node:crypto'
import type { HepixList } from '../imagelist/types.js'
import { crlSignedBy, parseCert } from '../smime/cert.js'
import { certNames } from '../smime/der.js'
import type { TrustStore } from '../smime/trust.js'
import { verifyImageList } from '../smime/imagelist.js'
import type { Signer } from './decide.js'
import { checkImageCount } from './newimages.js'
import { DEFAULT_MAX_IMAGES } from '../net/http.js'

/**
 * Signature verification for the subscriber: exactly what `vmgit verify` does (verifyImageList):
 * the S/MIME check (digest over the exact CRLF bytes before any JSON parsing — S01; chain, signer
 * validity at the run's fixed `now`, never the CMS signingTime, keyUsage, and the issuing CA's
 * CRL — S02, S17; exactly one signer and exactly two MIME parts — S19), then the strict JSON
 * parse of the verified bytes only (duplicate keys refused). The hv:dn/hv:ca check runs in
 * decide.ts, where the subscription's endorser mode is known.
 */
export interface VerifiedList {
  list: HepixList
  content: Buffer
  contentSha512: string
  signer: Signer & { notBefore: Date }
  certificate: Buffer
}

export interface VerifyContext {
  trust: TrustStore
  now: Date
  crlCheck: boolean
  /** S31: refuse a verified list with more images than this (default DEFAULT_MAX_IMAGES) */
  maxImages?: number
}

export async function verifyListBytes(bytes: Buffer, ctx: VerifyContext): Promise<VerifiedList> {
  // endorser: decided per subscription in decide.ts, so a mismatch is not fatal here
  const r = await verifyImageList(bytes, { trust: ctx.trust, at: ctx.now, crlCheck: ctx.crlCheck, allowEndorserMismatch: true })
  checkImageCount(r.list.images.length, ctx.maxImages ?? DEFAULT_MAX_IMAGES)
  const names = certNames(r.certificate) // S20: the signer's identity as DER names
  return {
    list: r.list,
    content: r.content,
    contentSha512: createHash('sha512').update(r.content).digest('hex'),
    signer: { subject: r.signer.subject, issuer: r.signer.issuer, serial: r.signer.serial, notAfter: r.signer.notAfter, notBefore: r.signer.notBefore, subjectDer: names.subject, issuerDer: names.issuer },
    certificate: r.certificate,
  }
}

/**
 * S10 recovery: is the certificate that signed the stored version listed in a CRL of its CA that
 * the CA really signed? (Only then may a different certificate's lower version replace it.)
 */
export async function isRevoked(certDer: Buffer, trust: TrustStore): Promise<boolean> {
  if (certDer.length === 0) return false
  let cert
  try {
    cert = parseCert(certDer)
  } catch {
    return false
  }
  const [crls, cas] = await Promise.all([trust.crlsOf(cert.issuerDer), trust.issuersOf(cert.issuerDer)])
  return crls.some((crl) => crl.revoked.has(cert.serial) && cas.some((ca) => crlSignedBy(crl, ca)))
}
