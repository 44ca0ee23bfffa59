/**
 * The pull-request comment job: upsert one plan comment, found again by its hidden marker and
 * edited in place on every push. Runs with `pull-requests: write` and no other secret.
 */
import { DEFAULT_LIMITS, Fetcher, readCapped } from '../net/http.js'
import { PLAN_COMMENT_MARKER } from '../publish/plan-format.js'
import { networkError, usageError } from '../util/errors.js'

export interface CommentTarget {
  /** API root, e.g. https://api.github.com (GITHUB_API_URL) */
  api: string
  /** owner/name (GITHUB_REPOSITORY) */
  repository: string
  number: number
  token: string
}

async function gh(method: string, url: string, token: string, body?: unknown): Promise<unknown> {
  // the one network client (src/net/): the runner's https_proxy / no_proxy, timeouts, a cap
  const fetcher = new Fetcher()
  try {
    const res = await fetcher.open(url, {
      limits: { ...DEFAULT_LIMITS, deadlineMs: 60_000 },
      method,
      addressRule: 'origin',
      headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', ...(body ? { 'content-type': 'application/json' } : {}) },
      originHeaders: { authorization: `Bearer ${token}` },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    if (res.status < 200 || res.status > 299) {
      res.close()
      const hint = res.status === 403 || res.status === 401 ? ': give the job `permissions: pull-requests: write` (forks get a read-only token)' : ''
      throw networkError('GITHUB_API', `${method} ${url.replace(/\?.*/, '')}: HTTP ${res.status}${hint}`)
    }
    const text = await readCapped(res, 16 * 1024 * 1024, url.replace(/\?.*/, ''), 'RESPONSE_TOO_LARGE')
    return res.status === 204 || text.length === 0 ? undefined : JSON.parse(text.toString('utf8'))
  } finally {
    fetcher.close()
  }
}

/** Create or update the plan comment; returns what was done and the comment's id. */
export async function upsertPlanComment(t: CommentTarget, markdown: string): Promise<{ action: 'created' | 'updated'; id: number }> {
  if (!t.token) throw usageError('TOKEN_MISSING', 'no github-token: pass secrets.GITHUB_TOKEN and give the job `pull-requests: write`')
  if (!/^[\w.-]+\/[\w.-]+$/.test(t.repository)) throw usageError('NOT_A_RUNNER', `GITHUB_REPOSITORY "${t.repository}" is not owner/name`)
  const api = t.api.replace(/\/+$/, '')
  const body = markdown.includes(PLAN_COMMENT_MARKER) ? markdown : `${PLAN_COMMENT_MARKER}\n${markdown}`
  for (let page = 1; page <= 50; page++) {
    const comments = (await gh('GET', `${api}/repos/${t.repository}/issues/${t.number}/comments?per_page=100&page=${page}`, t.token)) as { id: number; body?: unknown }[]
    const mine = comments.find((c) => typeof c.body === 'string' && c.body.includes(PLAN_COMMENT_MARKER))
    if (mine) {
      await gh('PATCH', `${api}/repos/${t.repository}/issues/comments/${mine.id}`, t.token, { body })
      return { action: 'updated', id: mine.id }
    }
    if (comments.length < 100) break
  }
  const created = (await gh('POST', `${api}/repos/${t.repository}/issues/${t.number}/comments`, t.token, { body })) as { id: number }
  return { action: 'created', id: created.id }
}
