/**
 * The differential cases: `bounded()` runs in `npm test` (one case per class, in under a minute
 * or two on 2 cores), `large()` crosses the classes with depths, key types and digests
 * (`npm run differential`).
 */
import type { CaseSpec, KeyKind, Md } from './corpus.js'

const LEAF = 'basicConstraints = CA:false\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'
const CA = 'basicConstraints = critical, CA:true\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'
const CA_NOKU = 'basicConstraints = critical, CA:true\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'
const KU = 'keyUsage = critical, digitalSignature\n'

/** Variants that apply to a chain of any depth (level numbers relative to that depth). */
function variants(depth: number): CaseSpec[] {
  const root = depth + 1
  const d = `d${depth}`
  const out: CaseSpec[] = [
    { name: `${d} baseline`, depth, expectOpenssl: true },
    { name: `${d} baseline, intermediates embedded`, depth, embed: true, expectOpenssl: true },
  ]
  for (let l = 0; l <= depth; l++) {
    out.push({ name: `${d} revoked at level ${l}`, depth, revoked: l })
    out.push({ name: `${d} CRL of level ${l}'s issuer missing`, depth, crlMissing: l })
    out.push({ name: `${d} CRL of level ${l}'s issuer expired`, depth, crlExpired: l })
  }
  for (let l = 0; l <= root; l++) {
    out.push({ name: `${d} expired at level ${l}`, depth, expired: l })
    out.push({ name: `${d} not yet valid at level ${l}`, depth, notYetValid: l })
    out.push({ name: `${d} unknown critical extension at level ${l}`, depth,
      ext: { [l]: (l === 0 ? LEAF + KU : CA) + '1.3.6.1.4.1.99999.1 = critical, ASN1:NULL\n' } })
    out.push({ name: `${d} EKU serverAuth at level ${l}`, depth, ext: { [l]: (l === 0 ? LEAF + KU : CA) + 'extendedKeyUsage = serverAuth\n' } })
    out.push({ name: `${d} EKU anyExtendedKeyUsage at level ${l}`, depth, ext: { [l]: (l === 0 ? LEAF + KU : CA) + 'extendedKeyUsage = anyExtendedKeyUsage\n' } })
    out.push({ name: `${d} EKU emailProtection+serverAuth at level ${l}`, depth, ext: { [l]: (l === 0 ? LEAF + KU : CA) + 'extendedKeyUsage = serverAuth, emailProtection\n' } })
  }
  for (let l = 1; l <= root; l++) {
    out.push({ name: `${d} CA without keyCertSign at level ${l}`, depth, ext: { [l]: CA_NOKU + 'keyUsage = critical, cRLSign, digitalSignature\n' } })
    out.push({ name: `${d} CA without cRLSign at level ${l}`, depth, ext: { [l]: CA_NOKU + 'keyUsage = critical, keyCertSign\n' } })
    out.push({ name: `${d} CA:false at level ${l}`, depth, ext: { [l]: 'basicConstraints = critical, CA:false\nkeyUsage = critical, keyCertSign, cRLSign\n' } })
    out.push({ name: `${d} no basicConstraints at level ${l}`, depth, ext: { [l]: 'keyUsage = critical, keyCertSign, cRLSign\n' }, stricter: 'CA_WITHOUT_BASIC_CONSTRAINTS' })
    out.push({ name: `${d} critical policyConstraints at level ${l}`, depth,
      ext: { [l]: CA + 'certificatePolicies = 1.3.6.1.4.1.99999.2\npolicyConstraints = critical, inhibitPolicyMapping:0\n' }, stricter: 'CRITICAL_POLICY' })
    out.push({ name: `${d} critical certificatePolicies at level ${l}`, depth, ext: { [l]: CA + 'certificatePolicies = critical, 1.3.6.1.4.1.99999.2\n' } })
    // pathLen: the CA at level l allows depth-l-1 intermediates below it (exactly enough), or one fewer
    out.push({ name: `${d} pathLen exactly enough at level ${l}`, depth, ext: { [l]: CA.replace('CA:true', `CA:true, pathlen:${l - 1}`) }, expectOpenssl: true })
    if (l >= 2) out.push({ name: `${d} pathLen exceeded at level ${l}`, depth, ext: { [l]: CA.replace('CA:true', `CA:true, pathlen:${l - 2}`) } })
    // name constraints on the CA at level l (subjects are /DC=org/DC=vmgit-diff/O=Level<n>/CN=…)
    const nc = (v: string): Record<number, string> => ({ [l]: CA + `nameConstraints = critical, ${v}\n` })
    out.push({ name: `${d} nameConstraints permitted DC=vmgit-diff at level ${l}`, depth, ext: nc('permitted;dirName:nc_ok'), expectOpenssl: true })
    out.push({ name: `${d} nameConstraints permitted elsewhere at level ${l}`, depth, ext: nc('permitted;dirName:nc_other') })
    out.push({ name: `${d} nameConstraints excluded O=Level0 at level ${l}`, depth, ext: nc('excluded;dirName:nc_leaf') })
    out.push({ name: `${d} nameConstraints excluded lower-case o=level0 at level ${l}`, depth, ext: nc('excluded;dirName:nc_leaf_lc') })
    const withEmail = { 0: '/DC=org/DC=vmgit-diff/O=Level0/CN=Diff Signer/emailAddress=signer@example.org' }
    out.push({ name: `${d} nameConstraints email permitted .example.org at level ${l}`, depth, ext: nc('permitted;email:.example.org'), subject: withEmail })
    out.push({ name: `${d} nameConstraints email permitted example.org at level ${l}`, depth, ext: nc('permitted;email:example.org'), subject: withEmail })
    out.push({ name: `${d} nameConstraints email excluded at level ${l}`, depth, ext: nc('excluded;email:signer@example.org'), subject: withEmail })
    out.push({ name: `${d} nameConstraints DNS permitted, signer CN hostname at level ${l}`, depth, ext: nc('permitted;DNS:good.example.org'),
      subject: { 0: '/DC=org/DC=vmgit-diff/O=Level0/CN=host.evil.example.net' } })
    out.push({ name: `${d} nameConstraints otherName at level ${l}`, depth, ext: nc('permitted;otherName:1.3.6.1.4.1.99999.3;UTF8:x'), stricter: 'NAME_CONSTRAINT_TYPE' })
  }
  // subjectAltName forms under constraints of the signer's issuer (level 1)
  const san: [string, string, string][] = [
    ['email:signer@example.org', 'permitted;email:.example.org', 'email in a permitted domain suffix'],
    ['email:signer@example.org', 'permitted;email:example.net', 'email outside the permitted domain'],
    ['email:signer@example.org', 'excluded;email:example.org', 'email in an excluded domain'],
    ['email:signer@EXAMPLE.org', 'permitted;email:signer@example.org', 'email with a case-different domain, permitted mailbox'],
    ['email:Signer@example.org', 'permitted;email:signer@example.org', 'email with a case-different local part'],
    ['email:no-at-sign', 'excluded;email:example.org', 'malformed email under an email constraint'],
    ['DNS:host.example.org', 'permitted;DNS:example.org', 'DNS name below a permitted domain'],
    ['DNS:host.example.org', 'permitted;DNS:.example.org', 'DNS name below a permitted .domain'],
    ['DNS:badexample.org', 'permitted;DNS:example.org', 'DNS name sharing only a suffix string'],
    ['DNS:host.example.org', 'excluded;DNS:EXAMPLE.org', 'DNS name below an excluded domain (case-different)'],
    ['IP:192.0.2.5', 'permitted;IP:192.0.2.0/255.255.255.0', 'IP in a permitted range'],
    ['IP:192.0.2.5', 'excluded;IP:192.0.2.0/255.255.255.0', 'IP in an excluded range'],
    ['IP:192.0.2.5', 'permitted;IP:198.51.100.0/255.255.255.0', 'IP outside the permitted range'],
    ['IP:2001:db8::5', 'permitted;IP:192.0.2.0/255.255.255.0', 'IPv6 address under an IPv4 constraint'],
    ['URI:https://host.example.org/x', 'permitted;URI:.example.org', 'URI host below a permitted .domain'],
    ['URI:https://host.example.org/x', 'permitted;URI:host.example.org', 'URI host equal to the permitted host'],
    ['URI:https://host.example.org/x', 'permitted;URI:example.org', 'URI host below a permitted host (not a domain)'],
    ['URI:https://user@evil.net:443/x.example.org', 'permitted;URI:.example.org', 'URI whose path, not host, is in the domain'],
    ['DNS:host.example.org', 'permitted;email:.example.org', 'a constraint of another type only'],
  ]
  for (const [name, constraint, what] of san) {
    out.push({ name: `${d} SAN ${what}`, depth, ext: { 0: LEAF + KU + `subjectAltName = ${name}\n`, 1: CA + `nameConstraints = critical, ${constraint}\n` } })
  }
  out.push({ name: `${d} signer with email in subject (for email constraints)`, depth,
    subject: { 0: '/DC=org/DC=vmgit-diff/O=Level0/CN=Diff Signer/emailAddress=signer@example.org' }, expectOpenssl: true })
  out.push({ name: `${d} signer keyUsage keyEncipherment only`, depth, ext: { 0: LEAF + 'keyUsage = critical, keyEncipherment\n' } })
  out.push({ name: `${d} signer keyUsage nonRepudiation only`, depth, ext: { 0: LEAF + 'keyUsage = critical, nonRepudiation\n' } })
  out.push({ name: `${d} signer without keyUsage or EKU`, depth, ext: { 0: LEAF }, expectOpenssl: true })
  out.push({ name: `${d} signer nsCertType server only`, depth, ext: { 0: LEAF + KU + 'nsCertType = server\n' } })
  out.push({ name: `${d} signer is a CA`, depth, ext: { 0: CA.replace('keyCertSign, cRLSign', 'keyCertSign, cRLSign, digitalSignature') } })
  return out
}

function algorithms(depth: number, keys: KeyKind[], mds: Md[]): CaseSpec[] {
  const out: CaseSpec[] = []
  for (const key of keys) {
    for (const cmsMd of mds) {
      if (cmsMd === 'md5' && key.startsWith('ec')) continue // OpenSSL cannot sign ECDSA with MD5
      out.push({ name: `d${depth} ${key} signer, CMS ${cmsMd}`, depth, key, cmsMd, stricter: cmsMd === 'md5' ? 'WEAK_DIGEST' : undefined })
      if (key.startsWith('rsa') && cmsMd !== 'md5') out.push({ name: `d${depth} ${key} signer, CMS RSA-PSS ${cmsMd}`, depth, key, cmsMd, cmsPss: true })
    }
  }
  for (const md of ['md5', 'sha1', 'sha384', 'sha512'] as Md[]) {
    const weak = md === 'md5' || md === 'sha1'
    out.push({ name: `d${depth} all certificates signed with ${md}`, depth, certMd: md, stricter: weak ? 'WEAK_CERT_SIGNATURE' : undefined })
    out.push({ name: `d${depth} root self-signature only with ${md}`, depth, certMd: { [depth + 1]: md }, expectOpenssl: true })
    out.push({ name: `d${depth} CRLs signed with ${md}`, depth, crlMd: md, stricter: weak ? 'WEAK_CERT_SIGNATURE' : undefined })
  }
  out.push({ name: `d${depth} certificates RSA-PSS sha256`, depth, certPss: true, certMd: 'sha256', expectOpenssl: true })
  out.push({ name: `d${depth} certificates RSA-PSS sha512`, depth, certPss: true, certMd: 'sha512' })
  out.push({ name: `d${depth} EC P-384 CAs and P-256 signer`, depth, caKey: 'ec384', key: 'ec256', expectOpenssl: true })
  out.push({ name: `d${depth} RSA-1024 signer`, depth, key: 'rsa1024' })
  out.push({ name: `d${depth} RSA-512 signer`, depth, key: 'rsa512', stricter: 'WEAK_KEY' })
  return out
}

function encodings(depth: number): CaseSpec[] {
  return [
    { name: `d${depth} BER indefinite lengths`, depth, ber: true, expectOpenssl: true },
    { name: `d${depth} BER, intermediates embedded`, depth, ber: true, embed: true },
    { name: `d${depth} 40 extra certificates (>100 KB)`, depth, extraCerts: 40, expectOpenssl: true },
    { name: `d${depth} 40 extra certificates, BER`, depth, extraCerts: 40, ber: true },
    { name: `d${depth} trailing bytes after the ContentInfo`, depth, trailing: true, stricter: 'TRAILING_BYTES' },
    { name: `d${depth} an extra field in ContentInfo`, depth, extraField: 'contentInfo' },
    { name: `d${depth} an extra field in SignedData`, depth, extraField: 'signedData' },
    { name: `d${depth} an extra field in a digest AlgorithmIdentifier`, depth, extraField: 'digestAlgorithm' },
    { name: `d${depth} BER with trailing bytes`, depth, ber: true, trailing: true, stricter: 'TRAILING_BYTES' },
  ]
}

/** One case per class (about 40), for `npm test`. */
export function bounded(): CaseSpec[] {
  const want = [
    /^d0 (baseline|revoked at level 0)$/,
    /^d2 (baseline|revoked at level 2|pathLen exceeded at level 3)$/,
    /^d1 (baseline, intermediates embedded|revoked at level 1|CRL of level 1's issuer missing|CRL of level 0's issuer expired|expired at level 1)$/,
    /^d1 (unknown critical extension at level 1|EKU serverAuth at level 0|EKU anyExtendedKeyUsage at level 0|EKU serverAuth at level 1)$/,
    /^d1 (no basicConstraints at level 2|critical policyConstraints at level 1|CA without keyCertSign at level 1|CA without cRLSign at level 1)$/,
    /^d1 nameConstraints (permitted elsewhere|excluded lower-case o=level0|permitted DC=vmgit-diff|DNS permitted, signer CN hostname|email excluded) at level 2$/,
    /^d1 signer (keyUsage keyEncipherment only|nsCertType server only)$/,
    /^d1 rsa signer, CMS (md5|sha1|sha512|RSA-PSS sha256)$/, /^d1 ec256 signer, CMS sha384$/,
    /^d1 all certificates signed with (md5|sha1)$/, /^d1 CRLs signed with sha1$/, /^d1 certificates RSA-PSS sha256$/,
    /^d1 (EC P-384 CAs and P-256 signer|RSA-512 signer)$/,
    /^d1 (BER indefinite lengths|40 extra certificates \(>100 KB\)|trailing bytes after the ContentInfo|an extra field in SignedData)$/,
  ]
  return large().filter((c) => want.some((w) => w.test(c.name)))
}

/** Every class at depths 0-2, every key type and digest. */
export function large(): CaseSpec[] {
  const out: CaseSpec[] = []
  for (const depth of [0, 1, 2]) {
    out.push(...variants(depth), ...algorithms(depth, ['rsa', 'ec256', 'ec384'], ['md5', 'sha1', 'sha256', 'sha384', 'sha512']), ...encodings(depth))
  }
  out.push(...variants(3).filter((c) => /baseline|revoked|pathLen/.test(c.name)))
  return out
}
