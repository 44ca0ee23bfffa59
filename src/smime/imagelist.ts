/**
 * A signed image list: signature first, then JSON, then the endorser (attacks S01, S03, S19).
 * JSON is parsed only from the verified bytes; hv:dn/hv:ca must name the signer
 * (vmcatcher error 12) unless the caller explicitly allows a mismatch, which is then reported.
 */
import { parseImageListJson } from '../imagelist/parse.js'
import type { HepixList } from '../imagelist/types.js'
import { judgeAs, listTimeVerdicts, refuse } from '../rules/list.js'
import { listValueVerdicts } from '../rules/image.js'
import { isVmgitError, type ErrorCode } from '../util/errors.js'
import { checkEndorser } from './credentials.js'
import { verifySmime, type SignerInfo, type VerifyOptions } from './verify.js'

export interface ImageListVerifyOptions extends VerifyOptions {
  /** report ENDORSER_MISMATCH as a problem instead of failing (e.g. cloudkeeper fixtures, AppDB test lists) */
  allowEndorserMismatch?: boolean
  /**
   * The rulebook's list time rules (LIST_EXPIRED, CREATED_IN_FUTURE) at `at`: 'refuse' (default),
   * 'report' (a problem, e.g. `verify --allow-expired`), or 'skip' for a caller that applies them
   * itself in its own order (the subscriber's decide.ts, after the endorser check).
   */
  timeRules?: 'refuse' | 'report' | 'skip'
  /**
   * The rulebook's identifier and image-value rules (UNSAFE_IDENTIFIER, NOT_UUID, BAD_SHA512,
   * BAD_SIZE), with `vmgit verify`'s outcome for each (book.ts): true for `verify`; import and the
   * subscriber judge them where they use the values.
   */
  valueRules?: boolean
}

export interface VerifyProblem {
  code: ErrorCode
  message: string
}

export interface VerifiedImageList {
  list: HepixList
  signer: SignerInfo
  /** the exact signed bytes (CRLF) */
  content: Buffer
  /** the signer certificate (DER), for callers that track it (the subscriber's revocation and fast-forward checks) */
  certificate: Buffer
  /** non-fatal findings, e.g. an allowed ENDORSER_MISMATCH */
  problems: VerifyProblem[]
}

export async function verifyImageList(bytes: Buffer, opts: ImageListVerifyOptions): Promise<VerifiedImageList> {
  const { content, signer, certificate } = await verifySmime(bytes, opts)
  const list = parseImageListJson(content)
  const problems: VerifyProblem[] = []
  try {
    checkEndorser(list.endorser, signer)
  } catch (e) {
    if (!isVmgitError(e) || !opts.allowEndorserMismatch) throw e
    problems.push({ code: e.code, message: e.message.replace(/; set the endorser.*$/, ' (allowed by --allow-endorser-mismatch)') })
  }
  // S08/S09: a verified signature over an expired list is still an expired list (as sync judges it)
  const mode = opts.timeRules ?? 'refuse'
  if (mode !== 'skip') {
    const times = listTimeVerdicts({ created: list.list['dc:date:created'], expires: list.list['dc:date:expires'] }, opts.at)
    if (mode === 'refuse') refuse(times)
    problems.push(...times.map((v) => ({ code: v.code, message: `${v.message} (accepted: --allow-expired)` })))
  }
  // the book's outcome for verify: an unsafe identifier is refused (sync refuses the list), a bad
  // checksum or size reported (sync keeps the list and marks that image)
  if (opts.valueRules) problems.push(...judgeAs('verify', listValueVerdicts(list, 'subscriber')).map((v) => ({ code: v.code, message: v.message })))
  return { list, signer, content, certificate, problems }
}
