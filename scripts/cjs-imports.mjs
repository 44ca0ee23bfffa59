#!/usr/bin/env node
// Part of `npm run build` (issue 16, fixed cost): pkijs, asn1js and node-forge are CommonJS packages
// of 100-800 KB. Imported as ESM, node 20 first scans each whole file with cjs-module-lexer to find
// its export names: ~150 ms of CPU on every `vmgit sync`, even one that only gets 304s. Loaded with
// require() they cost ~20 ms (V8 compiles lazily). The source keeps the plain, typed ESM import;
// this rewrites exactly those import lines in dist/ to require() on the same line (same module
// instance, same exports, line numbers unchanged). Any other import form is left alone.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '../dist')
const PACKAGES = ['pkijs', 'asn1js', 'node-forge']
const pattern = new RegExp(`^import (\\* as (\\w+)|(\\w+)) from '(${PACKAGES.join('|')})';$`, 'gm')

let rewritten = 0
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.js')) {
      const src = readFileSync(p, 'utf8')
      const out = src.replace(pattern, (_m, _form, ns, def, pkg) => {
        rewritten++
        const name = ns ?? def
        const req = `__vmgitRequire_${name}`
        return `import { createRequire as ${req} } from 'node:module'; const ${name} = ${req}(import.meta.url)('${pkg}');`
      })
      if (out !== src) writeFileSync(p, out)
    }
  }
}
walk(dist)
console.log(`cjs-imports: ${rewritten} CommonJS import(s) in dist/ loaded with require()`)
