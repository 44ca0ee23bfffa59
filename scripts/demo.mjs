#!/usr/bin/env node
// `npm run demo` (after the build): a guided run of vmgit on examples/imagelists.
// For now the publisher half: validate the repository, render every list, show the result.
// Later issues extend it with signing, publishing and a subscriber.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin/run.js')
const repo = path.relative(process.cwd(), path.join(root, 'examples/imagelists')) || '.'
const out = mkdtempSync(path.join(tmpdir(), 'vmgit-demo-'))
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s)

function step(title, args) {
  console.log(`\n${bold(`== ${title}`)}\n$ vmgit ${args.join(' ')}`)
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
  const text = (r.stdout + r.stderr).trimEnd()
  if (text) console.log(text.replace(/^/gm, '  '))
  if (r.status !== 0) {
    console.error(`\ndemo failed: vmgit ${args[0]} exited ${r.status}`)
    rmSync(out, { recursive: true, force: true })
    process.exit(1)
  }
  return r
}

try {
  console.log(bold('vmgit demo: the publisher side'))
  console.log(`An endorser keeps image lists as YAML in git: ${repo}/ has 2 endorsers, 6 images, 3 lists.`)
  step('1. Validate every file (positions, schemas, references, consumer compatibility)', ['validate', '--repo', repo])
  step('2. Render every list to the exact JSON that will be signed', ['render', '--all', '--repo', repo, '--out-dir', out])
  for (const f of readdirSync(out).sort()) {
    const text = readFileSync(path.join(out, f), 'utf8')
    const list = JSON.parse(text)['hv:imagelist']
    const images = list['hv:images'].map((i) => `${i['hv:image']['dc:title']} ${i['hv:image']['hv:version']}`)
    console.log(`\n  ${f}: "${list['dc:title']}" version ${list['hv:version']}, expires ${list['dc:date:expires']}`)
    for (const i of images) console.log(`    - ${i}`)
  }
  const first = readdirSync(out).sort()[0]
  console.log(`\n${bold(`== 3. The first lines of ${first}`)}`)
  console.log(readFileSync(path.join(out, first), 'utf8').split('\n').slice(0, 12).map((l) => `  ${l}`).join('\n') + '\n  ...')
  console.log(`\n${bold('Done.')} Next: vmgit init my-images, edit the YAML, vmgit validate --repo my-images.`)
} finally {
  rmSync(out, { recursive: true, force: true })
}
