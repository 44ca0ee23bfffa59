// Writes docs/errors.md from the error catalogue (src/util/catalogue.ts, built into dist/).
// `--check` only compares and exits 1 when the file is stale (test/errors/catalogue.test.ts does the same).
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { renderErrorsDoc } = await import(path.join(root, 'dist/util/catalogue-doc.js'))
const file = path.join(root, 'docs/errors.md')
const text = renderErrorsDoc()
if (process.argv.includes('--check')) {
  let old = ''
  try { old = readFileSync(file, 'utf8') } catch { /* missing: stale */ }
  if (old !== text) {
    console.error('docs/errors.md is stale: run npm run docs:errors')
    process.exit(1)
  }
} else {
  writeFileSync(file, text)
  console.log(`wrote ${path.relative(process.cwd(), file)}`)
}
