#!/usr/bin/env node
// `npm run differential` (also run by `npm run bench`): the large differential corpus of issue 12.
// Generates a few hundred signed lists over many chains with openssl and compares `vmgit verify`
// with `openssl cms -verify -crl_check_all -purpose smimesign`; prints cases generated, agreements,
// documented stricter cases and disagreements in vmgit's disfavour (must be 0). Exit 1 otherwise.
// VMGIT_DIFFERENTIAL=bounded runs the small corpus of `npm test` instead; VMGIT_DIFFERENTIAL_ONLY=<regex> picks cases by name.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const r = spawnSync('npx', ['vitest', 'run', 'test/differential/large.corpus.ts', '--config', 'test/differential/vitest.large.config.ts'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, VMGIT_DIFFERENTIAL: process.env.VMGIT_DIFFERENTIAL ?? 'large' },
})
process.exitCode = r.status ?? 1
