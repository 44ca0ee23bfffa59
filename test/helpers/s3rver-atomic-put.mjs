/**
 * Preload for s3rver (`node --import this s3rver.js`): makes its PUT atomic, as real S3 is ("Amazon S3
 * never adds partial objects"; Ceph RGW and MinIO likewise). s3rver 3 writes an object in place
 * (createWriteStream on the object file), so a reader, or a client killed mid-body, sees or leaves
 * a truncated object: a property of the test double, not of S3, and not one vmgit can work around
 * (S3 has no rename). Here the body goes to a temp file that is renamed over the object once
 * complete; an aborted body leaves the previous object as it was. The chaos test depends on it.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pipeline, Transform } from 'node:stream'

// the same module instance s3rver loads next (CommonJS caches by file name)
const store = path.join(path.dirname(process.argv[1] ?? '.'), '../lib/stores/filesystem.js')
const FilesystemStore = createRequire(import.meta.url)(store)

/** Runs fn after every earlier call for the same key has settled (a per-object lock). */
const chains = new Map()
function serialized(key, fn) {
  const run = (chains.get(key) ?? Promise.resolve()).then(fn, fn)
  const tail = run.then(() => undefined, () => undefined)
  chains.set(key, tail)
  void tail.then(() => {
    if (chains.get(key) === tail) chains.delete(key)
  })
  return run
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object')
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true })
  // not ending in ._S3rver_object: listings never show it
  const tmp = `${objectPath}.partial-${crypto.randomBytes(6).toString('hex')}`
  const md5 = crypto.createHash('md5')
  let size = 0
  if (Buffer.isBuffer(object.content)) {
    await fs.promises.writeFile(tmp, object.content)
    md5.update(object.content)
    size = object.content.length
  } else {
    await new Promise((resolve, reject) => {
      const count = new Transform({
        transform(chunk, enc, cb) {
          md5.update(chunk)
          size += chunk.length
          cb(null, chunk)
        },
      })
      pipeline(object.content, count, fs.createWriteStream(tmp), (err) => (err ? reject(err) : resolve()))
    }).catch(async (err) => {
      await fs.promises.rm(tmp, { force: true })
      throw err
    })
  }
  const digest = md5.digest('hex')
  // metadata and object are two files: a reader must see both old or both new (S3 serves one object)
  await serialized(objectPath, async () => {
    await this.putMetadata(object.bucket, object.key, object.metadata, digest)
    await fs.promises.rename(tmp, objectPath)
  })
  return { size, md5: digest }
}

// a GET reads the metadata, then opens the object (an open descriptor keeps its bytes): never between
// the two renames of a commit, or it serves the new size with the old bytes (an HTTP 500 in s3rver)
const getObject = FilesystemStore.prototype.getObject
FilesystemStore.prototype.getObject = function serializedGetObject(bucket, key, options) {
  return serialized(this.getResourcePath(bucket, key, 'object'), () => getObject.call(this, bucket, key, options))
}
