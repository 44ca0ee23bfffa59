import { Flags } from '@oclif/core'
import { appendFile } from 'node:fs/promises'
import path from 'node:path'
import { BaseCommand } from '../base-command.js'
import { parseNow } from '../model/time.js'
import { planExitCode } from '../publish/plan.js'
import { formatMarkdown, formatPlan, type PlanFormat } from '../publish/plan-format.js'
import { planRepository } from '../publish/plan-repo.js'
import { Exit, VmgitError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'

export default class PlanCommand extends BaseCommand<typeof PlanCommand> {
  static override summary = 'Show what publishing would change, and everything wrong with it'
  static override description = `Renders every list at two points and compares them: lists and images added, removed
and changed (with the keys that changed), version moves, and problems: an image whose sha512, size
or uri changed without a higher hv:version, versions going down, endorser dn/ca that differ from
the signing certificate, a certificate that expires before the list would, keys consumers need.

Without --base, the base is what is published now at each list's target (vmgit.yaml targets);
with --base REF it is the repository at that git commit. The head is the work tree, or --head REF.
Nothing is written, signed or uploaded.

Exit codes (like terraform plan -detailed-exitcode, with "changes" on 4): 0 no changes,
4 changes (a plan to apply), 1 errors in the lists (fix before publishing), 2 usage or
configuration error (unknown flag, a --base/--head that is not a git ref, a broken vmgit.yaml),
3 network error. A script may read 4 as "changed": no error ever exits 4.`
  static override examples = [
    '<%= config.bin %> plan',
    '<%= config.bin %> plan --base origin/main --format markdown --out plan.md',
    '<%= config.bin %> plan --base HEAD~1 --head HEAD --format json',
  ]
  static override flags = {
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    base: Flags.string({ description: 'Git ref to compare against (default: what is published now).' }),
    head: Flags.string({ description: 'Git ref to plan (default: the work tree as it is).' }),
    format: Flags.string({ description: 'Output form: text (Terraform-style), markdown (PR comments), json ({version: 1, ...}).', options: ['text', 'markdown', 'json'], default: 'text' }),
    out: Flags.string({ description: 'Write the plan to FILE instead of stdout.' }),
    summary: Flags.string({ description: 'Also append the Markdown plan to FILE (e.g. $GITHUB_STEP_SUMMARY).' }),
    cert: Flags.string({ description: 'Signing certificate (PEM) for the endorser and expiry checks (default VMGIT_SIGNING_CERT or vmgit.yaml signing.cert).' }),
    now: Flags.string({ description: 'Render time (ISO 8601; default now).', hidden: true }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const plan = await planRepository({
      dir: f.repo,
      now: parseNow(f.now),
      ...(f.base ? { base: f.base } : {}),
      ...(f.head ? { head: f.head } : {}),
      ...(f.cert ? { cert: f.cert } : {}),
    })
    const text = formatPlan(plan, (this.flags.json ? 'json' : f.format) as PlanFormat)
    const exit = planExitCode(plan)
    if (f.out) await writeFileAtomic(path.resolve(f.out), text)
    if (f.summary) await appendFile(path.resolve(f.summary), formatMarkdown(plan))
    if (this.flags.json) {
      // the --json contract: the plan document with ok; a plan with errors is PLAN_REFUSED (exit 1)
      const doc = JSON.parse(formatPlan(plan, 'json')) as Record<string, unknown>
      if (exit === Exit.INVALID) this.fail(new VmgitError('PLAN_REFUSED', `the plan has ${plan.summary.errors} error(s): publish would refuse it; the issues say why`), doc)
      this.emit(doc, () => [])
    } else if (!f.out) process.stdout.write(text)
    this.exit(exit)
  }
}
