import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CERT_LABELS, parseCert, pemBlocks, type CertInfo } from '../smime/cert.js'
import { usageError } from '../util/errors.js'
import type { Repository } from '../model/types.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

/**
 * The public certificate CI will sign with, for checks that need no key (`vmgit plan`):
 * --cert FILE, else VMGIT_SIGNING_CERT (PEM text), else vmgit.yaml `signing.cert`.
 * Undefined when none is configured.
 */
export async function signingCertificate(repo: Repository, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<CertInfo | undefined> {
  let pem: Buffer | undefined
  let where = ''
  if (flag) [pem, where] = [await read(flag), flag]
  else if (env.VMGIT_SIGNING_CERT) [pem, where] = [Buffer.from(env.VMGIT_SIGNING_CERT.replace(/\\n/g, '\n')), 'VMGIT_SIGNING_CERT']
  else if (repo.config.signing?.cert) {
    const file = path.resolve(repo.dir, repo.config.signing.cert)
    ;[pem, where] = [await read(file), file]
  }
  if (!pem) return undefined
  const der = pemBlocks(pem, CERT_LABELS)[0]
  if (!der) throw usageError('CERT_UNREADABLE', `${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return parseCert(der, where)
}

const read = (file: string): Promise<Buffer> => {
  checkRegularFile(file, 'the certificate', CAP.credential)
  return readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw usageError('CERT_UNREADABLE', `cannot read the certificate ${file}: ${e.code ?? e.message}; check the path`)
  })
}
