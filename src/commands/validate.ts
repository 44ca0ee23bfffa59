import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { loadRepository } from '../model/load.js'
import { formatProblem, isError, sortProblems, summarize } from '../model/problems.js'
import { parseNow } from '../model/time.js'
import { workflowProblems } from '../model/workflow.js'
import { validateProblems } from '../publish/publishable.js'
import { interruptSignal, stopOnFirstUsageError, watchRepository } from '../util/watch.js'
import { VmgitError } from '../util/errors.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override summary = 'Check every YAML file of the repository and report all problems'
  // one line per paragraph: oclif wraps it to the terminal's width
  static override description = [
    'Reads vmgit.yaml, endorsers/, images/ and imagelists/ and reports every problem, not just the first, each as',
    '',
    '  path:line:col: severity: message [CODE]',
    '',
    "(the gcc format, which editors and CI annotate): YAML syntax errors, duplicate keys, schema violations, unknown endorser or image references, duplicate identifiers, malformed sha512/size/dates/identifiers, and anything in a rendered list that would make a site's consumer (vmcatcher, cloudkeeper, atrope) drop an image. Warnings (non-UUID identifiers, missing AppDB keys) do not fail the run.",
    '',
    '--json prints {ok, counts, problems: [{file, line, col, severity, code, message}]} for scripts.',
    '',
    '--watch keeps running: it validates again whenever a file in the repository changes (ignoring .git/ and editor temporary files), clearing the terminal first, until Ctrl-C.',
    '',
    'Exit status: 0 no errors (warnings allowed); 1 errors found; 2 DIR is not a vmgit repository, or a flag is wrong. With --watch: 0 when stopped with Ctrl-C.',
  ].join('\n')
  static override examples = [
    { description: 'Check the repository in the current directory.', command: '<%= config.bin %> validate' },
    { description: 'Check another directory; machine-readable problems for a script.', command: '<%= config.bin %> validate --repo ./my-images --json' },
    { description: 'Re-check on every save while editing the YAML files.', command: '<%= config.bin %> validate --watch' },
  ]
  static override flags = {
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    watch: Flags.boolean({ description: 'Validate again on every change in the repository, until Ctrl-C.', default: false, exclusive: ['json'] }),
    now: Flags.string({ description: 'Time the lists are rendered at for the checks (ISO 8601); default now.', hidden: true }),
  }

  async run(): Promise<void> {
    if (this.flags.watch) {
      const label = `vmgit validate${this.flags.repo === '.' ? '' : ` --repo ${this.flags.repo}`}`
      await watchRepository(this.flags.repo, async () => void (await this.check()), {
        signal: interruptSignal(),
        clear: Boolean(process.stdout.isTTY),
        label,
        onError: stopOnFirstUsageError,
      })
      return
    }
    await this.check(true)
  }

  /** One validation pass: prints the problems, returns the number of errors; the final pass fails with VALIDATION_FAILED when there are errors. */
  private async check(final = false): Promise<number> {
    const now = parseNow(this.flags.now)
    const repo = await loadRepository(this.flags.repo, { now })
    // the rulebook's publish and certificate rules: what publish would refuse is reported here first
    repo.problems = sortProblems([...repo.problems, ...(await validateProblems(repo, { now }))])
    // warnings only: the workflow's vmgit action still the placeholder vmgit init wrote
    repo.problems.push(...(await workflowProblems(repo.dir)))
    const errors = repo.problems.filter(isError).length
    const counts = { endorsers: repo.endorsers.size, images: repo.images.size, lists: repo.lists.size }
    const prefix = this.flags.repo === '.' ? '' : this.flags.repo
    const what = `${counts.endorsers} endorser(s), ${counts.images} image(s), ${counts.lists} list(s)`
    const result = { repo: repo.dir, counts, problems: repo.problems }
    const text = (): string[] => {
      if (repo.problems.length === 0) return [`ok: ${what}, no problems`]
      return [...repo.problems.map((p) => formatProblem(p, prefix)), `${summarize(repo.problems)} in ${what}`]
    }
    if (final && errors > 0) {
      if (!this.flags.json) this.emit(result, text)
      this.fail(new VmgitError('VALIDATION_FAILED', `${summarize(repo.problems)} in ${what}; fix them and run vmgit validate again`), result)
    }
    this.emit({ ok: errors === 0, ...result }, text)
    return errors
  }
}
