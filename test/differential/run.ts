/**
 * Run a differential corpus and classify each case (issue 12):
 * - agreement: vmgit and OpenSSL both accept or both refuse;
 * - documented stricter: OpenSSL accepts, vmgit refuses with the code of the rule (src/smime/rules.ts) the case exercises;
 * - looser: vmgit accepts what OpenSSL refuses (must never happen);
 * - undocumented stricter: vmgit refuses what OpenSSL accepts with no rule for it (must never happen).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { STRICTER_RULES } from '../../src/smime/rules.js'
import { buildCase, KeyPool, verifyBoth, type CaseSpec, type Outcome } from './corpus.js'

export interface Summary {
  generated: number
  agreements: number
  bothAccept: number
  bothReject: number
  documentedStricter: number
  looser: Outcome[]
  undocumentedStricter: Outcome[]
  /** sanity failures: OpenSSL did not say what the case expects (the generator is broken) */
  unexpected: Outcome[]
  outcomes: Outcome[]
}

export function classify(cases: CaseSpec[], outcomes: Outcome[]): Summary {
  const s: Summary = { generated: outcomes.length, agreements: 0, bothAccept: 0, bothReject: 0, documentedStricter: 0, looser: [], undocumentedStricter: [], unexpected: [], outcomes }
  for (const [i, o] of outcomes.entries()) {
    const c = cases[i]!
    if (c.expectOpenssl !== undefined && c.expectOpenssl !== o.openssl) s.unexpected.push(o)
    if (o.openssl === o.vmgit) {
      s.agreements++
      if (o.openssl) s.bothAccept++
      else s.bothReject++
    } else if (o.vmgit) s.looser.push(o)
    else {
      const rule = STRICTER_RULES.find((r) => r.id === c.stricter)
      if (rule && o.vmgitCode && rule.codes.includes(o.vmgitCode)) s.documentedStricter++
      else s.undocumentedStricter.push(o)
    }
  }
  return s
}

/** Build and verify every case, `concurrency` at a time, in a temp dir removed afterwards. */
export async function runCorpus(cases: CaseSpec[], opts: { concurrency?: number; now?: Date; onCase?: (o: Outcome, done: number) => void } = {}): Promise<Summary> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmgit-diff-'))
  const now = opts.now ?? new Date(Math.floor(Date.now() / 1000) * 1000)
  const keys = new KeyPool(path.join(dir, 'keys'))
  const outcomes: Outcome[] = new Array(cases.length)
  let next = 0
  let done = 0
  try {
    const worker = async (): Promise<void> => {
      for (let i = next++; i < cases.length; i = next++) {
        const c = cases[i]!
        const built = await buildCase(c, path.join(dir, `case${i}`), keys, now)
        outcomes[i] = await verifyBoth(c, built, now)
        await rm(path.join(dir, `case${i}`), { recursive: true, force: true })
        opts.onCase?.(outcomes[i]!, ++done)
      }
    }
    await Promise.all(Array.from({ length: opts.concurrency ?? 2 }, worker))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return classify(cases, outcomes)
}

export const summaryLine = (s: Summary): string =>
  `cases generated: ${s.generated}, agreements: ${s.agreements} (both accept ${s.bothAccept}, both refuse ${s.bothReject}), ` +
  `documented stricter: ${s.documentedStricter}, disagreements in vmgit's disfavour: ${s.looser.length + s.undocumentedStricter.length} ` +
  `(looser ${s.looser.length}, undocumented stricter ${s.undocumentedStricter.length})`
