import { expect, it } from 'vitest'
import { bounded, large } from './cases.js'
import { runCorpus, summaryLine } from './run.js'

// Run by bench/differential.mjs (`npm run differential`), not by `npm test` (its name does not end in .test.ts).
it('large differential corpus: vmgit verify vs openssl cms -verify -crl_check_all -purpose smimesign', async () => {
  const which = process.env.VMGIT_DIFFERENTIAL === 'bounded' ? 'bounded' : 'large'
  const only = new RegExp(process.env.VMGIT_DIFFERENTIAL_ONLY ?? '')
  const cases = (which === 'bounded' ? bounded() : large()).filter((c) => only.test(c.name))
  const s = await runCorpus(cases, {
    concurrency: Number(process.env.VMGIT_DIFFERENTIAL_JOBS ?? 2),
    onCase: (o, n) => { if (o.openssl !== o.vmgit || n % 25 === 0) process.stdout.write(`[${n}/${cases.length}] ${o.name}: openssl ${o.openssl ? 'accepts' : 'refuses'}, vmgit ${o.vmgit ? 'accepts' : `refuses (${o.vmgitCode})`}\n`) },
  })
  process.stdout.write(`\ndifferential (${which}): ${summaryLine(s)}\n`)
  for (const o of [...s.looser, ...s.undocumentedStricter, ...s.unexpected]) process.stdout.write(`  !! ${o.name}: openssl ${o.openssl} (${o.opensslError}), vmgit ${o.vmgit} (${o.vmgitCode ?? ''})\n`)
  expect(s.looser.length + s.undocumentedStricter.length + s.unexpected.length).toBe(0)
}, 7200_000)
