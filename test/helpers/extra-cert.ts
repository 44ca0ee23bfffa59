/**
 * One more end-entity certificate from a CA of a test PKI (test/helpers/pki.ts), with any subject
 * `openssl req -subj` can write (`\/` for a slash inside a value, `\\` for a backslash, `+` between
 * attributes with multiValued: true). Its serial is random and it is not in the CA's CRL, so it
 * verifies like pki.signer: the look-alike certificates of attack S20 ("from the same CA").
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { openssl, type Pki, type PkiCert } from './pki.js'

const EXT = `[signer]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

export async function issueFromCa1(pki: Pki, name: string, subj: string, opts: { multiValued?: boolean } = {}): Promise<PkiCert> {
  const dir = path.join(pki.dir, 'ca1')
  const key = path.join(dir, `${name}.key`)
  const csr = path.join(dir, `${name}.csr`)
  const cert = path.join(dir, `${name}.pem`)
  const ext = path.join(dir, 'extra-signer.ext')
  await writeFile(ext, EXT)
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-utf8', '-subj', subj, ...(opts.multiValued ? ['-multivalue-rdn'] : []), '-keyout', key, '-out', csr])
  const serial = '0x' + randomBytes(8).toString('hex').replace(/^[89a-f]/, '1')
  await openssl(['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca.key'), '-set_serial', serial,
    '-days', '30', '-sha256', '-extfile', ext, '-extensions', 'signer', '-out', cert])
  const out = (await openssl(['x509', '-in', cert, '-noout', '-nameopt', 'compat', '-subject', '-issuer', '-serial', '-startdate', '-enddate'])).stdout.toString('utf8')
  const f: Record<string, string> = {}
  for (const line of out.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) f[line.slice(0, i)] = line.slice(i + 1)
  }
  return { name, key, cert, subject: f.subject ?? '', issuer: f.issuer ?? '', serial: f.serial ?? '', notBefore: new Date(f.notBefore ?? ''), notAfter: new Date(f.notAfter ?? '') }
}
