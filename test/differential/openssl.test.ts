import { describe, expect, it } from 'vitest'
import { STRICTER_RULES } from '../../src/smime/rules.js'
import { bounded } from './cases.js'
import { runCorpus, summaryLine, type Summary } from './run.js'

/**
 * Issue 12 / attacks S21, S22: `vmgit verify` against
 * `openssl cms -verify -crl_check_all -purpose smimesign -CApath DIR -attime NOW` on the bounded
 * corpus (one case per class; `npm run differential` runs the large one).
 */
describe('S21/S22 differential: vmgit verify is never looser than openssl cms -verify -crl_check_all -purpose smimesign', () => {
  let s: Summary
  const cases = bounded()

  it('runs the bounded corpus', async () => {
    s = await runCorpus(cases)
    console.log(`differential (bounded): ${summaryLine(s)}`)
    expect(s.generated).toBe(cases.length)
  }, 900_000)

  it('agrees with OpenSSL on the sanity cases (the generator makes chains OpenSSL accepts)', () => {
    expect(s.unexpected.map((o) => `${o.name}: ${o.opensslError}`)).toEqual([])
    expect(s.bothAccept).toBeGreaterThanOrEqual(10)
    expect(s.bothReject).toBeGreaterThanOrEqual(15)
  })

  it('never accepts what OpenSSL refuses', () => {
    expect(s.looser.map((o) => `${o.name}: openssl says ${o.opensslError}`)).toEqual([])
  })

  it('refuses what OpenSSL accepts only by a rule of the stricter table (src/smime/rules.ts)', () => {
    expect(s.undocumentedStricter.map((o) => `${o.name}: vmgit ${o.vmgitCode}`)).toEqual([])
    expect(s.documentedStricter).toBeGreaterThan(0)
  })

  it('exercises every stricter rule it documents, except those covered elsewhere', () => {
    const exercised = new Set(cases.map((c) => c.stricter).filter(Boolean))
    // NAME_CONSTRAINT_TYPE: large corpus; MULTIPLE_SIGNERS: test/attacks/S02; CRL_CRITICAL_EXTENSION: test/smime/chain.test.ts
    const onlyLarge = new Set(['NAME_CONSTRAINT_TYPE', 'CRL_CRITICAL_EXTENSION', 'MULTIPLE_SIGNERS'])
    expect(STRICTER_RULES.map((r) => r.id).filter((id) => !exercised.has(id) && !onlyLarge.has(id))).toEqual([])
  })
})
