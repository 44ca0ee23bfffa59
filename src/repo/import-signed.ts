/**
 * Use case of `vmgit import`: import a list, its S/MIME signature checked against the trust
 * directory before any of its bytes are used. Moved from src/commands/import.ts (no behaviour change).
 */
import { verifyImageList } from '../smime/imagelist.js'
import { caDirFromEnv, loadTrustStore } from '../smime/trust.js'
import { importList, type ImportResult } from './import.js'

export interface CheckedImportOptions {
  /** File name (without .yaml) for a newly imported list. */
  name?: string
  /** trust directory flag (default from the environment, then /etc/grid-security/certificates) */
  caDir?: string
  /** Judge the list's dates but only report them (`import --allow-expired`). */
  allowExpired?: boolean
  crlCheck: boolean
  /** check the signature at this time */
  at: Date
  insecureSkipVerify: boolean
  allowUnsigned: boolean
  allowEndorserMismatch: boolean
}

/** The import's result and the verifier's problems, one `[CODE] message` line each. */
export async function importChecked(repo: string, source: string, o: CheckedImportOptions): Promise<{ result: ImportResult; problems: string[] }> {
  // trust: the signature of a signed source is checked before any of its bytes are used
  // S33: the endorser is checked as `vmgit verify` checks it (hv:dn/hv:ca = the signer's subject/issuer)
  const problems: string[] = []
  const verify = o.insecureSkipVerify
    ? undefined
    : async (smime: Buffer) => {
      const v = await verifyImageList(smime, { trust: await loadTrustStore(caDirFromEnv(o.caDir)), at: o.at, crlCheck: o.crlCheck, allowEndorserMismatch: o.allowEndorserMismatch, timeRules: o.allowExpired ? 'report' : 'refuse' })
      problems.push(...v.problems.map((p) => `[${p.code}] ${p.message}`))
      return v.content
    }
  const result = await importList(repo, source, {
    ...(o.name ? { name: o.name } : {}), ...(verify ? { verify } : {}),
    allowUnsigned: o.allowUnsigned, insecureSkipVerify: o.insecureSkipVerify,
    // https trust: the same CA directory as the signature check (and as sub add / sync)
    fetch: { caDir: caDirFromEnv(o.caDir) },
  })
  return { result, problems }
}
