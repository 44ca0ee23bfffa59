#!/usr/bin/env node
// How long `vmgit validate` takes: the example repository through the CLI (cold start included,
// compared with bare `node -e ''`), and loadRepository in-process on a generated repository of
// N images in two lists. Run after `npm run build`.
import { execFileSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadRepository } from '../dist/model/load.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const N = Number(process.env.BENCH_IMAGES ?? 2000)

function best(runs, fn) {
  let min = Infinity
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint()
    fn()
    min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e6)
  }
  return min
}

const bare = best(5, () => execFileSync(process.execPath, ['-e', '']))
const cli = best(5, () => execFileSync(process.execPath, [path.join(root, 'bin/run.js'), 'validate', '--repo', path.join(root, 'examples/imagelists')]))
console.log(`validate examples/imagelists (CLI, cold): ${cli.toFixed(0)} ms, ${(cli / bare).toFixed(1)}x bare node ${bare.toFixed(0)} ms`)

const dir = mkdtempSync(path.join(tmpdir(), 'vmgit-bench-'))
try {
  for (const d of ['endorsers', 'images', 'imagelists']) mkdirSync(path.join(dir, d))
  writeFileSync(path.join(dir, 'vmgit.yaml'), 'version: 1\n')
  writeFileSync(path.join(dir, 'endorsers/e.yaml'), 'dn: /CN=x\nca: /CN=y\nemail: a@b\ncreator: c\n')
  const names = []
  for (let i = 0; i < N; i++) {
    const name = `img-${i}`
    names.push(name)
    const sha = createHash('sha512').update(name).digest('hex')
    writeFileSync(
      path.join(dir, 'images', `${name}.yaml`),
      `identifier: ${randomUUID()}\ntitle: Image ${i}\ndescription: d\ncomments: ""\nversion: "1.${i}"\nuri: https://x.example/${name}.qcow2\n` +
        `size: ${1000 + i}\nsha512: ${sha}\nhypervisor: KVM\nformat: QCOW2\narch: x86_64\nos: Linux\nosname: L\nosversion: "1"\n` +
        `expires: 2099-01-01T00:00:00Z\nmpuri: https://m.example/${i}\nad:group: g\nad:user:fullname: u\nad:user:guid: g\nad:user:uri: https://u.example/\n`,
    )
  }
  const list = (id, imgs) => `identifier: ${id}\ntitle: t\ndescription: d\norigin: o\nuri: https://x.example/l\nvo: v\nendorser: e\nimages:\n${imgs.map((n) => `  - ${n}\n`).join('')}`
  writeFileSync(path.join(dir, 'imagelists/all.yaml'), list(randomUUID(), names))
  writeFileSync(path.join(dir, 'imagelists/half.yaml'), list(randomUUID(), names.slice(0, N / 2)))
  const before = process.memoryUsage().rss
  const t0 = process.hrtime.bigint()
  const repo = await loadRepository(dir)
  const first = Number(process.hrtime.bigint() - t0) / 1e6
  const t1 = process.hrtime.bigint()
  const problems = (await loadRepository(dir)).problems.length
  const second = Number(process.hrtime.bigint() - t1) / 1e6
  const rss = Math.max(process.memoryUsage().rss, before) / 2 ** 20
  console.log(
    `loadRepository ${N} images + 2 lists (${N + N / 2} list entries): first ${first.toFixed(0)} ms, warm ${second.toFixed(0)} ms, ` +
      `${(second / N).toFixed(3)} ms/image, RSS ${rss.toFixed(0)} MB, ${problems} problems (target < 2000 ms for 2000 images)`,
  )
  if (repo.problems.length !== 0) console.log(repo.problems.slice(0, 3))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
