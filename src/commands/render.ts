import { Args, Flags } from '@oclif/core'
import path from 'node:path'
import { BaseCommand } from '../base-command.js'
import type { Layout } from '../imagelist/types.js'
import { loadRepository } from '../model/load.js'
import { formatProblem } from '../model/problems.js'
import { renderOne, selectLists, type RenderedList } from '../model/render.js'
import { parseNow } from '../model/time.js'
import { usageError, VmgitError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'
import { interruptSignal, stopOnFirstUsageError, watchRepository } from '../util/watch.js'

export default class Render extends BaseCommand<typeof Render> {
  static override summary = 'Print or write the HEPiX JSON of image lists'
  // one line per paragraph: oclif wraps it to the terminal's width
  static override description = [
    'Renders a list (by file name or dc:identifier) to the exact bytes that would be signed, in one of two byte-exact layouts:',
    '- vmcaster: sorted keys, 4-space indent, ", " separators with their trailing space, \\uXXXX escapes, integer hv:size, no final newline;',
    "- appdb: AppDB's key order, 3-space indent, string values, final newline.",
    '',
    'The layout comes from --layout, else the list file, else vmgit.yaml. version, created and expires come from the list file when set there, else from --now (default: the current time) and the lifetime in vmgit.yaml.',
    '',
    'Refuses (exit 1) when a file the list is made of has errors (run vmgit validate); warnings are printed to stderr. Without --out the JSON goes to stdout unchanged (no newline added), so "vmgit render production > production.json" saves exactly the bytes to sign.',
    '',
    '--watch renders again whenever a file in the repository changes (ignoring .git/, editor temporary files and the --out/--out-dir output), clearing the terminal first, until Ctrl-C.',
    '',
    'Exit status: 0 rendered; 1 the list has errors (nothing written); 2 unknown list, several lists without --out-dir, or another usage error. With --watch: 0 when stopped with Ctrl-C.',
  ].join('\n')
  static override examples = [
    { description: 'Print the list production (file name or dc:identifier) to stdout; LIST may be left out when there is one list.', command: '<%= config.bin %> render production' },
    { description: 'Write it in AppDB layout to a file.', command: '<%= config.bin %> render production --layout appdb --out production.json' },
    { description: 'Write every list with a fixed time stamp (reproducible output).', command: '<%= config.bin %> render --all --out-dir build/ --now 2024-06-01T12:00:00Z' },
    { description: 'Show the rendered list again on every save while editing.', command: '<%= config.bin %> render production --watch' },
  ]
  static override args = { list: Args.string({ description: 'List file name (without .yaml) or dc:identifier; optional when there is one list.' }) }
  static override flags = {
    all: Flags.boolean({ description: 'Render every list (needs --out-dir, or --json).', default: false }),
    layout: Flags.string({ description: 'Override the layout set in the list or vmgit.yaml.', options: ['vmcaster', 'appdb'] }),
    out: Flags.string({ description: 'Write one list to this file.', exclusive: ['out-dir'] }),
    'out-dir': Flags.string({ description: 'Write each list to DIR/<name>.json.' }),
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    now: Flags.string({ description: 'Render time for computed version/created/expires (ISO 8601).' }),
    watch: Flags.boolean({ description: 'Render again on every change in the repository, until Ctrl-C.', default: false, exclusive: ['json'] }),
  }

  /** Absolute paths of the files written so far and their directories in the repository (--watch ignores them). */
  private readonly written = new Set<string>()

  private noteOutput(file: string): void {
    const repo = path.resolve(this.flags.repo)
    for (let p = path.resolve(file); p !== path.dirname(p) && p.startsWith(repo + path.sep); p = path.dirname(p)) this.written.add(p)
  }

  async run(): Promise<void> {
    if (!this.flags.watch) return this.renderOnce()
    const repo = path.resolve(this.flags.repo)
    const args = [this.args.list, this.flags.all ? '--all' : undefined, this.flags.repo === '.' ? undefined : `--repo ${this.flags.repo}`]
    await watchRepository(this.flags.repo, () => this.renderOnce(), {
      signal: interruptSignal(),
      clear: Boolean(process.stdout.isTTY),
      label: ['vmgit render', ...args].filter(Boolean).join(' '),
      // the command's own output must not trigger the next run (it would loop forever)
      ignore: (rel) => this.written.has(path.resolve(repo, rel)),
      onError: stopOnFirstUsageError,
    })
  }

  /** One rendering pass: prints or writes the selected lists. */
  private async renderOnce(): Promise<void> {
    const now = parseNow(this.flags.now)
    const repo = await loadRepository(this.flags.repo, { now })
    const lists = selectLists(repo, this.args.list, this.flags.all)
    if (this.flags.out && lists.length > 1) throw usageError('OUT_NEEDS_ONE_LIST', '--out writes one list; use --out-dir DIR for several')
    if (lists.length > 1 && !this.flags['out-dir'] && !this.flags.json) throw usageError('OUT_DIR_REQUIRED', 'several lists need --out-dir DIR (or --json)')
    const prefix = this.flags.repo === '.' ? '' : this.flags.repo
    const rendered: (RenderedList & { file?: string })[] = []
    for (const list of lists) {
      let r: RenderedList
      try {
        r = renderOne(repo, list, { now, ...(this.flags.layout ? { layout: this.flags.layout as Layout } : {}) })
      } catch (e) {
        if (e instanceof VmgitError && !this.flags.json)
          for (const p of (e.details?.problems as Parameters<typeof formatProblem>[0][] | undefined) ?? []) process.stderr.write(formatProblem(p, prefix) + '\n')
        throw e
      }
      if (!this.flags.json) {
        for (const w of r.warnings) process.stderr.write(formatProblem(w, prefix) + '\n')
        if (r.dnFromCertificate) this.warn2(`${list.file}: endorser ${list.endorser} leaves dn/ca to the signing certificate; this rendering has no hv:dn/hv:ca`)
      }
      const file = this.flags.out ?? (this.flags['out-dir'] ? path.join(this.flags['out-dir'], `${r.name}.json`) : undefined)
      if (file) {
        this.noteOutput(file)
        await writeFileAtomic(file, r.content)
      }
      rendered.push({ ...r, ...(file ? { file } : {}) })
    }
    if (this.flags.json) {
      const out = rendered.map(({ content, ...r }) => ({ ...r, bytes: Buffer.byteLength(content), ...(r.file ? {} : { content }) }))
      this.emit({ ok: true, lists: out }, () => [])
      return
    }
    if (rendered.length === 1 && !rendered[0]!.file) {
      const content = rendered[0]!.content
      process.stdout.write(content)
      // watch: the next run's header starts on a line of its own
      if (this.flags.watch && !content.endsWith('\n')) process.stdout.write('\n')
      return
    }
    for (const r of rendered) process.stdout.write(`wrote ${r.file} (${r.layout}, ${Buffer.byteLength(r.content)} bytes, ${r.identifier})\n`)
  }
}
