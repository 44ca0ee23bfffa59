import { Flags } from '@oclif/core'
import { appendFile } from 'node:fs/promises'
import path from 'node:path'
import { BaseCommand } from '../base-command.js'
import { Git } from '../git/git.js'
import { parseNow } from '../model/time.js'
import { signingCertificate } from '../publish/cert.js'
import { PublishTargets, readPublishSettings } from '../publish/config.js'
import { computePlan, planExitCode, type Plan } from '../publish/plan.js'
import { formatMarkdown, formatPlan, type PlanFormat } from '../publish/plan-format.js'
import { sideFromPublished, sideFromRepo, type RepoSide, type Signer } from '../publish/sides.js'
import type { Repository } from '../model/types.js'
import type { CertInfo } from '../smime/cert.js'
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

Exit codes: 0 no changes, 2 changes (a plan to apply), 1 errors (fix before publishing).`
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
    const now = parseNow(f.now)
    const dir = path.resolve(f.repo)
    // render both sides with the same time and signer so that only real changes show
    let cert: CertInfo | undefined
    let certRead = false
    const signerOf = async (repo: Repository): Promise<Signer> => {
      if (!certRead) [cert, certRead] = [await signingCertificate(repo, f.cert), true]
      return cert && { dn: cert.subject, ca: cert.issuer }
    }
    const head = f.head ? await this.atRef(dir, f.head, now, signerOf) : await sideFromRepo(dir, 'work tree', now, signerOf)
    let plan: Plan
    if (f.base) {
      const base = await this.atRef(dir, f.base, now, signerOf)
      plan = computePlan(base.side, head.side, { headIssues: head.issues, now, ...(cert ? { cert } : {}) })
    } else {
      const targets = new PublishTargets((await readPublishSettings(dir)).rules, process.env, dir)
      const pool = targets.pool()
      try {
        const pub = await sideFromPublished(head, (u) => targets.resolve(u), pool)
        plan = computePlan(pub.side, head.side, { headIssues: [...head.issues, ...pub.issues], now, ...(cert ? { cert } : {}) })
      } finally {
        await pool.closeAll()
      }
    }
    const text = formatPlan(plan, (this.flags.json ? 'json' : f.format) as PlanFormat)
    if (f.out) await writeFileAtomic(path.resolve(f.out), text)
    else process.stdout.write(text)
    if (f.summary) await appendFile(path.resolve(f.summary), formatMarkdown(plan))
    this.exit(planExitCode(plan))
  }

  private async atRef(dir: string, ref: string, now: Date, signerOf: (repo: Repository) => Promise<Signer>): Promise<RepoSide> {
    const git = await Git.open(dir)
    return git.withTreeAt(ref, (tree, commit) => sideFromRepo(tree, `${ref} (${commit.slice(0, 8)})`, now, signerOf))
  }
}
