/**
 * Where vmgit is stricter than `openssl cms -verify -crl_check_all -purpose smimesign -CApath DIR`
 * (attacks S21, S22). vmgit must never accept what that command rejects; it may reject more, but
 * only by one of these rules. The differential test (test/differential/) reads this table: a case
 * OpenSSL accepts and vmgit refuses counts as "documented stricter" only when vmgit's error code is
 * listed here for the rule the case exercises. docs/verification.md shows the same table.
 */

export interface StricterRule {
  /** stable id, used by the differential corpus to label the cases that exercise the rule */
  id: string
  /** the error code vmgit reports */
  codes: string[]
  /** what vmgit refuses that OpenSSL accepts */
  rule: string
  /** why */
  why: string
}

export const STRICTER_RULES: readonly StricterRule[] = [
  {
    id: 'WEAK_DIGEST', codes: ['WEAK_ALGORITHM'],
    rule: 'an MD5 (or MD2/MD4) message digest in the SignerInfo',
    why: 'OpenSSL verifies MD5 CMS digests even at -auth_level 1; MD5 collisions are practical',
  },
  {
    id: 'WEAK_CERT_SIGNATURE', codes: ['WEAK_ALGORITHM'],
    rule: 'a certificate below the trust anchor, or a CRL, signed with MD5 or SHA-1',
    why: 'what OpenSSL 3 refuses at its default security level (1, 80 bits: MD5 39, SHA-1 63); `openssl cms` applies no level unless -auth_level is given',
  },
  {
    id: 'WEAK_KEY', codes: ['WEAK_KEY'],
    rule: 'an RSA/DSA key below 1024 bits or an EC key below 160 bits anywhere in the chain',
    why: 'OpenSSL 3 security level 1, which `openssl cms` applies only with -auth_level',
  },
  {
    id: 'CA_WITHOUT_BASIC_CONSTRAINTS', codes: ['UNTRUSTED_SIGNER'],
    rule: 'a CA (root or intermediate) without basicConstraints cA=TRUE, unless it is a v1 self-signed root (OpenSSL takes keyUsage keyCertSign or a netscape CA type instead)',
    why: 'RFC 5280 §4.2.1.9: conforming CAs mark themselves; the looser reading lets an end-entity certificate act as a CA',
  },
  {
    id: 'CRITICAL_POLICY', codes: ['UNSUPPORTED_CRITICAL_EXTENSION'],
    rule: 'critical policyConstraints, policyMappings, inhibitAnyPolicy, proxyCertInfo, RFC 3779 or OCSP no-check extensions',
    why: 'vmgit does no policy processing; RFC 5280 §4.2 requires rejecting a critical extension that is not processed',
  },
  {
    id: 'NAME_CONSTRAINT_TYPE', codes: ['NAME_CONSTRAINTS'],
    rule: 'nameConstraints with an otherName, x400Address, ediPartyName or registeredID subtree',
    why: 'vmgit cannot evaluate those forms; an unevaluated constraint fails closed',
  },
  {
    id: 'CRL_CRITICAL_EXTENSION', codes: ['CRL_MISSING'],
    rule: 'a CRL with any critical extension (issuingDistributionPoint, deltaCRLIndicator, …) or critical entry extension is not used',
    why: 'a partitioned, delta or indirect CRL does not prove that the certificate is not revoked',
  },
  {
    id: 'TRAILING_BYTES', codes: ['CMS_TRAILING_BYTES'],
    rule: 'bytes after the ContentInfo in the signature part',
    why: 'attacks S22: OpenSSL ignores them; the signature must be exactly one ContentInfo',
  },
  {
    id: 'MULTIPLE_SIGNERS', codes: ['MULTIPLE_SIGNERS'],
    rule: 'more than one SignerInfo',
    why: 'attacks S02: one endorser, one signature (smimeX509validation)',
  },
]

export const stricterRule = (id: string): StricterRule | undefined => STRICTER_RULES.find((r) => r.id === id)
