import { CATALOGUE, type CatalogueEntry } from './catalogue.js'

/** The exit statuses as docs/errors.md groups them. */
const EXIT_MEANING: Record<CatalogueEntry['exit'], string> = {
  0: 'warning (reported, never fails the run by itself)',
  1: 'verification or validation failed',
  2: 'usage, configuration or local environment',
  3: 'network or transfer (retry later)',
}

const cell = (s: string): string => s.replace(/\|/g, '\\|')

/** docs/errors.md, generated from the catalogue (`npm run docs:errors`); a test fails when it is stale. */
export function renderErrorsDoc(): string {
  const codes = Object.keys(CATALOGUE) as (keyof typeof CATALOGUE)[]
  const out = [
    '# vmgit error codes',
    '',
    '<!-- generated from src/util/catalogue.ts by `npm run docs:errors`; do not edit by hand -->',
    '',
    `Every failure and every per-item problem vmgit reports carries one of these ${codes.length} stable codes.`,
    'Text output shows it as `error [CODE] message`; `--json` output as',
    '`{ "ok": false, "error": { "code", "message", "exit" } }` (and `code` in per-item problems).',
    '',
    '| exit | meaning |',
    '| ---- | ------- |',
    ...([0, 1, 2, 3] as const).map((e) => `| ${e} | ${EXIT_MEANING[e]} |`),
    '',
    '| code | exit | meaning | what to do |',
    '| ---- | ---- | ------- | ---------- |',
    ...codes.map((c) => {
      const e: CatalogueEntry = CATALOGUE[c]
      return `| \`${c}\` | ${e.exit} | ${cell(e.meaning)} | ${cell(e.fix)} |`
    }),
    '',
  ]
  return out.join('\n')
}
