// A throwaway bench PKI under `root`: ca/ (CA key, certificate, CRL database), trust/ (hashed CA
// certificate and CRL, as an IGTF trust directory), signer.key and signer.pem (an S/MIME signer).
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export const ossl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'ignore'] })

export function makeBenchPki(root) {
  const p = (...x) => path.join(root, ...x)
  mkdirSync(p('ca'), { recursive: true })
  mkdirSync(p('trust'))
  writeFileSync(p('ca/index.txt'), '')
  writeFileSync(p('ca/crlnumber'), '01\n')
  writeFileSync(p('ca/ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${p('ca/index.txt')}\ncrlnumber=${p('ca/crlnumber')}\ndefault_md=sha256\ndefault_crl_days=30\n`)
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/DC=org/DC=bench/CN=Bench CA', '-keyout', p('ca/ca.key'), '-out', p('ca/ca.pem'), '-days', '30',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  ossl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/DC=org/DC=bench/CN=Bench Signer', '-keyout', p('signer.key'), '-out', p('signer.csr')])
  writeFileSync(p('ext'), 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n')
  ossl(['x509', '-req', '-in', p('signer.csr'), '-CA', p('ca/ca.pem'), '-CAkey', p('ca/ca.key'), '-set_serial', '42', '-days', '30', '-extfile', p('ext'), '-out', p('signer.pem')])
  const hash = ossl(['x509', '-in', p('ca/ca.pem'), '-noout', '-subject_hash']).toString().trim()
  ossl(['ca', '-gencrl', '-batch', '-config', p('ca/ca.cnf'), '-cert', p('ca/ca.pem'), '-keyfile', p('ca/ca.key'), '-out', p('trust', `${hash}.r0`)])
  writeFileSync(p('trust', `${hash}.0`), ossl(['x509', '-in', p('ca/ca.pem')]))
  return { subject: '/DC=org/DC=bench/CN=Bench Signer', issuer: '/DC=org/DC=bench/CN=Bench CA' }
}
