#!/usr/bin/env node
// Upsert the plan comment on a pull request: find our earlier comment by its hidden marker and
// edit it, else create one. Runs in a job that holds `pull-requests: write` and no secrets.
import { readFileSync } from 'node:fs'
import { fail, input, mask } from './lib.mjs'

const MARKER = '<!-- vmgit-plan -->'

async function gh(method, url, token, body) {
  const res = await fetch(url, {
    method,
    headers: {
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${token}`,
      'x-github-api-version': '2022-11-28',
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  })
  if (!res.ok) throw new Error(`${method} ${url.replace(/\?.*/, '')}: HTTP ${res.status}`)
  return res.status === 204 ? undefined : res.json()
}

async function upsertComment({ api, repository, number, token, body }) {
  const text = body.includes(MARKER) ? body : `${MARKER}\n${body}`
  for (let page = 1; page <= 50; page++) {
    const comments = await gh('GET', `${api}/repos/${repository}/issues/${number}/comments?per_page=100&page=${page}`, token)
    const mine = comments.find((c) => typeof c.body === 'string' && c.body.includes(MARKER))
    if (mine) {
      await gh('PATCH', `${api}/repos/${repository}/issues/comments/${mine.id}`, token, { body: text })
      return { action: 'updated', id: mine.id }
    }
    if (comments.length < 100) break
  }
  const created = await gh('POST', `${api}/repos/${repository}/issues/${number}/comments`, token, { body: text })
  return { action: 'created', id: created.id }
}

const token = input('github-token') || process.env.GITHUB_TOKEN || ''
mask(token)
try {
  const event = JSON.parse(readFileSync(process.env.GITHUB_EVENT_PATH ?? '', 'utf8'))
  const number = event.pull_request?.number ?? event.issue?.number
  if (!number) throw new Error('not a pull_request event: nothing to comment on')
  if (!token) throw new Error('no github-token: give the job `pull-requests: write` and pass secrets.GITHUB_TOKEN')
  const body = readFileSync(input('plan-file') || 'vmgit-plan.md', 'utf8')
  const r = await upsertComment({
    api: (process.env.GITHUB_API_URL || 'https://api.github.com').replace(/\/$/, ''),
    repository: process.env.GITHUB_REPOSITORY,
    number,
    token,
    body,
  })
  process.stdout.write(`plan comment ${r.action} (id ${r.id}) on #${number}\n`)
} catch (e) {
  fail(`could not post the plan comment: ${e.message}`)
}
