/**
 * Preload for s3rver (`node --import this s3rver.js`) for the SIGINT test of S3 multipart uploads
 * (test/transfer/s3-multipart-sigint.test.ts). s3rver 3 stores the parts of a multipart upload under
 * `<dir>/<bucket>/._S3rver_uploads/<uploadId>/` but does not implement AbortMultipartUpload
 * (DELETE ?uploadId answers 405 MethodNotAllowed), so the parts of an aborted upload would stay
 * whatever the client does. Real S3, Ceph RGW and MinIO abort; this adds it, as they do: the
 * upload's parts are removed (204), an unknown upload is 404 NoSuchUpload.
 *
 * Also, for the test to interrupt an upload in the middle on any machine speed: each UploadPart
 * waits S3RVER_PART_DELAY_MS (default 0) before it is read, and every multipart request is
 * appended to S3RVER_MULTIPART_LOG as one line `<initiate|part|complete|abort> <key> [uploadId]`.
 */
import { appendFileSync, existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'

const lib = path.join(path.dirname(process.argv[1] ?? '.'), '../lib/s3rver.js')
const Koa = createRequire(lib)('koa')
const LOG = process.env.S3RVER_MULTIPART_LOG
const DELAY = Number(process.env.S3RVER_PART_DELAY_MS ?? 0)
const log = (line) => LOG && appendFileSync(LOG, line + '\n')

async function multipart(ctx, next) {
  const [bucket, ...rest] = ctx.path.split('/').slice(1).map(decodeURIComponent)
  const key = rest.join('/')
  const q = ctx.query
  if (!bucket || !key) return next()
  if (ctx.method === 'POST' && 'uploads' in q) {
    await next()
    const b = ctx.body
    const id = typeof b === 'string' ? /<UploadId>([^<]+)<\/UploadId>/.exec(b)?.[1] : b?.InitiateMultipartUploadResult?.UploadId
    log(`initiate ${key} ${id ?? '?'}`)
    return
  }
  if (!('uploadId' in q)) return next()
  const id = String(q.uploadId)
  if (ctx.method === 'PUT') {
    if (DELAY) await new Promise((r) => setTimeout(r, DELAY))
    log(`part ${key} ${id} ${q.partNumber}`)
    return next()
  }
  if (ctx.method === 'POST') {
    log(`complete ${key} ${id}`)
    return next()
  }
  if (ctx.method === 'DELETE') {
    const dir = path.join(ctx.app.store.getResourcePath(bucket, undefined, 'uploads'), path.basename(id))
    log(`abort ${key} ${id}`)
    if (!existsSync(dir)) {
      ctx.status = 404
      ctx.type = 'application/xml'
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message><UploadId>${id}</UploadId></Error>`
      return
    }
    await rm(dir, { recursive: true, force: true })
    ctx.status = 204
    return
  }
  return next()
}

// first middleware of the S3rver app (the one Koa instance with a store), ahead of its router
const use = Koa.prototype.use
let installed = false
Koa.prototype.use = function (mw) {
  if (!installed && this.store) {
    installed = true
    use.call(this, multipart)
  }
  return use.call(this, mw)
}
