/**
 * Repository mode of `vmgit sign`: render each list from the YAML repository (engineer B's model,
 * engineer A's renderer) with dn/ca filled from the signing certificate, check the endorser and
 * the certificate, and sign the exact rendered bytes.
 */
import { renderList } from '../imagelist/render.js'
import type { HepixList, Layout } from '../imagelist/types.js'
import { layoutOf, toHepix } from '../model/hepix.js'
import { isError } from '../model/problems.js'
import { problemsOf } from '../model/render.js'
import type { ListEntry, Repository } from '../model/types.js'
import { VmgitError } from '../util/errors.js'
import { checkEndorser, expiryWarnings, fillEndorser } from './credentials.js'
import { signContent, type Digest, type SigningCredentials } from './sign.js'

export interface RepoSignOptions {
  now: Date
  digest?: Digest
  signingTime?: Date
  boundary?: string
  layout?: Layout
  /** hv:version to sign instead of the stamp of `now` (publish moves a stamp past the published one) */
  version?: string
  /** last change to the rendering before it is signed (publish to a registry pins each image's digest) */
  annotate?: (hepix: HepixList) => void
}

export interface SignedList {
  name: string
  identifier: string
  layout: Layout
  version: string
  /** the unsigned rendering (exact bytes before CRLF canonicalisation) */
  json: string
  smime: Buffer
  warnings: string[]
}

export async function signRepoList(repo: Repository, list: ListEntry, creds: SigningCredentials, opts: RepoSignOptions): Promise<SignedList> {
  const errors = problemsOf(repo, list).filter(isError)
  if (errors.length > 0) {
    throw new VmgitError('INVALID_REPOSITORY', `${list.file} cannot be signed: ${errors.length} error(s) in its files; run vmgit validate and fix them`,
      { details: { problems: errors } })
  }
  const cert = creds.cert
  const hepix = toHepix(repo, list.name, { now: opts.now, signer: { dn: cert.subject, ca: cert.issuer } })
  if (opts.version !== undefined) hepix.list['hv:version'] = opts.version
  // an endorser may leave dn/ca out: they come from the certificate; given ones must match it
  hepix.endorser = fillEndorser(hepix.endorser, cert)
  checkEndorser(hepix.endorser, cert)
  opts.annotate?.(hepix)
  const layout = opts.layout ?? layoutOf(repo, list)
  const json = renderList(hepix, layout)
  const smime = await signContent(Buffer.from(json, 'utf8'), creds, { digest: opts.digest ?? repo.config.digest, signingTime: opts.signingTime, boundary: opts.boundary })
  return {
    name: list.name, identifier: String(hepix.list['dc:identifier'] ?? ''), layout, version: String(hepix.list['hv:version'] ?? ''),
    json, smime, warnings: expiryWarnings(hepix.list, cert),
  }
}
