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

/**
 * The JSON of a one-image list the bench PKI's signer endorses: created an hour ago, expiring in a
 * week, version 1.0. `image` adds keys to the image entry (a registry pin, say); `title` names the list.
 */
export function benchListJson({ subject, issuer, listId, imageId, size, sha512, imageUri, listUri, title = 'bench', image = {} }) {
  const now = new Date()
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')
  return JSON.stringify({ 'hv:imagelist': {
    'dc:date:created': iso(new Date(now.getTime() - 3600_000)), 'dc:date:expires': iso(new Date(now.getTime() + 7 * 86400_000)),
    'dc:description': 'bench', 'dc:identifier': listId, 'dc:source': 'bench', 'dc:title': title,
    'hv:endorser': { 'hv:x509': { 'dc:creator': 'bench', 'hv:ca': issuer, 'hv:dn': subject, 'hv:email': 'b@example.org' } },
    'hv:images': [{ 'hv:image': { 'dc:identifier': imageId, 'dc:title': 'img', 'dc:description': '', 'hv:hypervisor': 'kvm', 'hv:size': size,
      'hv:uri': imageUri, 'hv:version': '1', 'sl:arch': 'x86_64', 'sl:checksum:sha512': sha512, 'sl:comments': '', 'sl:os': 'Linux', 'sl:osversion': '9', ...image } }],
    'hv:uri': listUri, 'hv:version': '1.0',
  } }, null, 2)
}
