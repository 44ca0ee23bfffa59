// Render a generated 10,000-image list in both layouts and parse it back.
// Target (issue 3): under 500 ms per render, under 200 MB peak RSS.
// Run: npm run build && node bench/imagelist-render.mjs [images]
// Each layout runs in its own node process, so its peak RSS is its own (generation included).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { parseImageListJson } from '../dist/imagelist/parse.js'
import { renderList } from '../dist/imagelist/render.js'

const N = Number(process.argv[2] ?? 10_000)
const LAYOUT = process.argv[3] // set in the child processes
const TARGET_MS = 500
const TARGET_MB = 200

function uuid(i, salt) {
  const h = ((i + 1) * 2654435761 + salt * 40503).toString(16).padStart(8, '0').slice(-8)
  return `${h}-${(i % 65536).toString(16).padStart(4, '0')}-4${h.slice(0, 3)}-a${h.slice(3, 6)}-${h}${h.slice(0, 4)}`
}

function generate(n) {
  const images = []
  for (let i = 0; i < n; i++) {
    const id = uuid(i, 1)
    images.push({
      'dc:description': `Image ${i}: a realistic description with some words in it, and "quotes" — plus é`,
      'dc:identifier': id,
      'ad:mpuri': `https://appdb.example.org/store/vo/image/${id}:${i}/`,
      'dc:title': `Image for Example OS ${i % 10} [Linux/${i % 7}.0/KVM]`,
      'ad:group': 'General group',
      'hv:hypervisor': 'KVM',
      'hv:format': 'QCOW2',
      'hv:ram_minimum': '512',
      'hv:core_minimum': '1',
      'hv:size': 100_000_000 + i * 4096,
      'hv:uri': `https://images.example.org/base/${id}/image-${i}.qcow2`,
      'hv:version': `3.3.${i}`,
      'dc:date:expires': '2499-12-31T22:00:00Z',
      'sl:arch': 'x86_64',
      'sl:checksum:sha512': (id.replace(/-/g, '') + 'f'.repeat(96)).slice(0, 128),
      'sl:comments': '',
      'sl:os': 'Linux',
      'sl:osname': 'Example Linux',
      'sl:osversion': `${i % 10}.0`,
      'ad:user:fullname': 'Jane Doe',
      'ad:user:guid': uuid(i, 2),
      'ad:user:uri': 'https://appdb.example.org/store/person/jane.doe',
    })
  }
  return {
    list: {
      'dc:date:created': '2025-01-01T00:00:00Z', 'dc:date:expires': '2025-01-29T00:00:00Z', 'dc:description': 'bench list',
      'dc:identifier': uuid(0, 3), 'dc:source': 'https://example.org/', 'dc:title': 'bench', 'ad:vo': 'vo.example.org',
      'hv:uri': 'https://example.org/image.list', 'hv:version': '20250101000000',
    },
    endorser: { 'dc:creator': 'Bench', 'hv:ca': '/CN=CA', 'hv:dn': '/CN=Bench', 'hv:email': 'b@example.org' },
    images,
  }
}

const rssMB = () => process.resourceUsage().maxRSS / 1024 // maxRSS is in KiB
const time = (fn) => {
  const t0 = performance.now()
  const out = fn()
  return [performance.now() - t0, out]
}

function child(layout) {
  const list = generate(N)
  const baseMB = rssMB()
  const [cold, text] = time(() => renderList(list, layout))
  const rss = rssMB()
  const warm = Math.min(...Array.from({ length: 3 }, () => time(() => renderList(list, layout))[0]))
  const [parseMs] = time(() => parseImageListJson(text))
  const ok = cold < TARGET_MS && rss < TARGET_MB
  console.log(
    `render ${layout} ${N} images (${(text.length / 1048576).toFixed(1)} MiB): ${cold.toFixed(0)} ms, peak RSS ${rss.toFixed(0)} MB ` +
      `(target < ${TARGET_MS} ms, < ${TARGET_MB} MB: ${(cold / TARGET_MS).toFixed(2)}x time, ${(rss / TARGET_MB).toFixed(2)}x memory)` +
      `; warm ${warm.toFixed(0)} ms; RSS before rendering ${baseMB.toFixed(0)} MB; parse back ${parseMs.toFixed(0)} ms (informational)`,
  )
  process.exitCode = ok ? 0 : 1
}

if (LAYOUT) child(LAYOUT)
else {
  let ok = true
  for (const layout of ['vmcaster', 'appdb']) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), String(N), layout], { stdio: 'inherit' })
    ok &&= r.status === 0
  }
  console.log(ok ? 'imagelist-render: within target' : 'imagelist-render: OVER TARGET')
  process.exitCode = ok ? 0 : 1
}
