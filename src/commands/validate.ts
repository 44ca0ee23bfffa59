import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { loadRepository } from '../model/load.js'
import { formatProblem, isError, summarize } from '../model/problems.js'
import { parseNow } from '../model/time.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override summary = 'Check every YAML file of the repository and report all problems'
  static override description = `Reads vmgit.yaml, endorsers/, images/ and imagelists/ and reports every problem, each as
path:line:col: severity: message [CODE] — YAML syntax, duplicate keys, schema violations, unknown
endorser or image references, duplicate identifiers, malformed sha512/size/dates/identifiers, and
anything in a rendered list that would make a site's consumer (vmcatcher, cloudkeeper, atrope) drop
an image. Warnings (non-UUID identifiers, missing AppDB keys) do not fail the run.

Exit status: 0 when there are no errors (warnings allowed), 1 when there are errors.`
  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate --repo ./my-images --json',
  ]
  static override flags = {
    repo: Flags.string({ description: 'Repository directory.', env: 'VMGIT_REPO', default: '.' }),
    now: Flags.string({ description: 'Time the lists are rendered at for the checks (ISO 8601); default now.', hidden: true }),
  }

  async run(): Promise<void> {
    const repo = await loadRepository(this.flags.repo, { now: parseNow(this.flags.now) })
    const errors = repo.problems.filter(isError).length
    const counts = { endorsers: repo.endorsers.size, images: repo.images.size, lists: repo.lists.size }
    const prefix = this.flags.repo === '.' ? '' : this.flags.repo
    this.emit({ ok: errors === 0, repo: repo.dir, counts, problems: repo.problems }, () => {
      const what = `${counts.endorsers} endorser(s), ${counts.images} image(s), ${counts.lists} list(s)`
      if (repo.problems.length === 0) return [`ok: ${what}, no problems`]
      return [...repo.problems.map((p) => formatProblem(p, prefix)), `${summarize(repo.problems)} in ${what}`]
    })
    if (errors > 0) this.exit(1)
  }
}
