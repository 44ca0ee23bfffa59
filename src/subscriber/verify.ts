import { createHash } from 'node:crypto'
import type { HepixList } from '../imagelist/types.js'
import { parseImageListJson } from '../imagelist/parse.js'
import { crlSignedBy, parseCert } from '../smime/cert.js'
import type { TrustStore } from '../smime/trust.js'
import { verifySmime } from '../smime/verify.js'
import { VmgitError } from '../util/errors.js'
import type { Signer } from './decide.js'

/**
 * Signature verification for the subscriber, composed from exactly the parts of
 * `verifyImageList` (src/smime/imagelist.ts) that `vmgit verify` uses: the S/MIME check (digest
 * over the exact CRLF bytes before any JSON parsing — S01; chain, signer validity at the run's
 * fixed `now`, never the CMS signingTime, and the issuing CA's CRL — S02; exactly one signer and
 * exactly two MIME parts — S19), then the strict JSON parse of the verified bytes only (duplicate
 * keys refused). The hv:dn/hv:ca check (C's checkEndorser) runs in decide.ts, where the
 * subscription's mode is known. Composed here rather than calling verifyImageList because the
 * subscriber also needs the signer certificate itself (S10 revocation lookup, S17 keyUsage),
 * which VerifiedImageList does not return.
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
}

export async function verifyListBytes(bytes: Buffer, ctx: VerifyContext): Promise<VerifiedList> {
  const r = await verifySmime(bytes, { trust: ctx.trust, at: ctx.now, crlCheck: ctx.crlCheck })
  // S17: a certificate whose keyUsage is restricted must allow digital signatures (none = unrestricted)
  const ku = parseCert(r.certificate).keyUsage
  if (ku && !ku.has('digitalSignature') && !ku.has('nonRepudiation')) {
    throw new VmgitError('SIGNER_KEY_USAGE', `signer certificate ${r.signer.subject} may not sign: its keyUsage (${[...ku].join(', ')}) has neither digitalSignature nor nonRepudiation`)
  }
  const list = parseImageListJson(r.content)
  return {
    list,
    content: r.content,
    contentSha512: createHash('sha512').update(r.content).digest('hex'),
    signer: { subject: r.signer.subject, issuer: r.signer.issuer, serial: r.signer.serial, notAfter: r.signer.notAfter, notBefore: r.signer.notBefore },
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
