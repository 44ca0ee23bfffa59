/**
 * `s3://bucket/prefix/key` backend (@aws-sdk/client-s3). A configurable endpoint + path-style
 * addressing serve Ceph RGW, MinIO and s3rver. Credentials: explicit options, else the SDK chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles). An S3 PUT is atomic
 * (readers see the old or the new object); files above the multipart threshold go up in parts
 * (CreateMultipartUpload / UploadPart / CompleteMultipartUpload, aborted on failure).
 *
 * Issue 14, one network client: every request goes through src/net (SdkHttpHandler over Fetcher),
 * not the SDK's own NodeHttpHandler, so an S3 endpoint honours https_proxy/http_proxy/no_proxy, the
 * CA directory (VMGIT_CA_DIR, X509_CERT_DIR, VMCATCHER_DIR_CERT, IGTF default; plus the target's
 * `ca:` file) and VMGIT_CONNECT_TIMEOUT / VMGIT_IDLE_TIMEOUT / VMGIT_DEADLINE like every other caller,
 * and its network failures carry the same codes as the WebDAV backend's (fromNetError).
 */
import { createReadStream } from 'node:fs'
import { stat as fsStat } from 'node:fs/promises'
import { Transform, type Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3'
import { configError, fromNetError, transferError, type TransferErrorCode } from './errors.js'
import { Fetcher } from '../net/http.js'
import { redactUrl, revealSecret } from '../net/redact.js'
import { SdkHttpHandler } from '../net/sdk-handler.js'
import { transferLimits } from '../net/source.js'
import { caDirFromEnv } from '../net/trust.js'
import { CAP, checkRegularFile } from '../util/envfs.js'
import { isVmgitError } from '../util/errors.js'
import { readFileSync } from 'node:fs'
import { trackTemp } from './temps.js'
import type { PutOptions, PutResult, RemoteEntry, RemoteStat, Transfer, TransferOptions } from './types.js'

const MiB = 1 << 20
/** S3 allows at most 10,000 parts of at least 5 MiB (except the last). */
const MAX_PARTS = 10_000
const PARALLEL_PARTS = 4

interface AwsError {
  name?: string
  message?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
}

export class S3Transfer implements Transfer {
  readonly scheme = 's3' as const
  readonly canReadBack = true
  readonly listsDotFiles = true
  readonly location: string
  private readonly bucket: string
  private readonly client: S3Client
  private readonly secrets: (string | undefined)[]
  private readonly threshold: number
  private readonly partSize: number

  constructor(url: URL, opts: TransferOptions = {}) {
    this.bucket = url.hostname
    const endpoint = opts.endpoint
    const secret = revealSecret(opts.secretAccessKey)
    const session = revealSecret(opts.sessionToken)
    // the access key id is masked too: an error body may repeat it, and it names the account
    this.secrets = [secret, session, opts.accessKeyId, process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_SESSION_TOKEN, process.env.AWS_ACCESS_KEY_ID]
    if (endpoint !== undefined) checkEndpoint(endpoint, this.secrets)
    this.location = `s3://${this.bucket}${endpoint ? ` at ${redactUrl(endpoint)}` : ''}`
    this.threshold = opts.multipartThreshold ?? 64 * MiB
    this.partSize = Math.max(opts.partSize ?? 16 * MiB, 5 * MiB)
    // the SDK warns on every run that its 2027 releases need node 22; vmgit pins a version that supports 20
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    this.client = new S3Client({
      // issue 14: proxies, trust, timeouts and error codes of the one network client
      // VMGIT_DEADLINE bounds each request: an object up to the multipart threshold, or one part;
      // the SDK follows S3's redirects itself (the handler hands 3xx back)
      requestHandler: new SdkHttpHandler(s3Fetcher(endpoint, opts), { ...transferLimits(opts.timeoutMs, { connectMs: 30_000, idleMs: 60_000 }), maxRedirects: 0 }),
      region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? endpoint !== undefined,
      ...(opts.accessKeyId && secret ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: secret, ...(session ? { sessionToken: session } : {}) } } : {}),
      // Ceph/MinIO/s3rver do not all speak the newer flexible-checksum trailers
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    })
  }

  private key(remotePath: string): string {
    return decodeURIComponent(remotePath.replace(/^\/+/, ''))
  }

  private fail(what: string, e: unknown): never {
    // a network failure of src/net (TLS_VERIFY, FETCH_CONNECTION_REFUSED, FETCH_*_TIMEOUT, …): the
    // transfer code WebDAV gives it, the network code in the message and details.net; a usage error as it is
    if (isVmgitError(e)) throw fromNetError(e, this.secrets, `${what} on ${this.location}: `)
    const err = e as AwsError
    const status = err.$metadata?.httpStatusCode
    let code: TransferErrorCode = 'TRANSFER_FAILED'
    let hint = ''
    if (status === 403 || /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|CredentialsProviderError/.test(err.name ?? '')) {
      code = 'TRANSFER_AUTH_FAILED'
      hint = ' (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)'
    } else if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH/.test(`${err.code ?? ''} ${err.message ?? ''}`)) {
      code = 'TRANSFER_CONNECT_FAILED'
      hint = ' (check the endpoint)'
    } else if (err.name === 'NoSuchBucket') hint = ' (the bucket does not exist; create it or fix the target)'
    throw transferError(code, `${what} on ${this.location}${hint}`, this.secrets, `${err.name ?? 'Error'}: ${err.message ?? String(e)}`)
  }

  async put(source: string | Buffer, remotePath: string, opts: PutOptions = {}): Promise<PutResult> {
    const Key = this.key(remotePath)
    const size = typeof source === 'string' ? (await fsStat(source)).size : source.length
    const ContentType = opts.contentType ?? 'application/octet-stream'
    let sent = 0
    const counted = (start: number, end: number): Readable | Buffer => {
      if (typeof source !== 'string') return source.subarray(start, end)
      const s = createReadStream(source, { start, end: end - 1, highWaterMark: MiB })
      if (!opts.onProgress) return s
      // count bytes as the SDK pulls them (a 'data' listener here would start the flow too early)
      const onProgress = opts.onProgress
      const counter = new Transform({
        transform(c: Buffer, _enc, cb) {
          onProgress((sent += c.length), size)
          cb(null, c)
        },
      })
      s.on('error', (e) => counter.destroy(e))
      return s.pipe(counter)
    }
    if (size <= this.threshold) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: size === 0 ? Buffer.alloc(0) : counted(0, size), ContentLength: size, ContentType }))
      } catch (e) {
        this.fail(`cannot upload ${Key}`, e)
      }
      if (typeof source !== 'string' || size === 0) opts.onProgress?.(size, size)
      return { size }
    }
    // multipart: part size grows for huge files so that at most 10,000 parts are needed
    const partSize = Math.max(this.partSize, Math.ceil(size / MAX_PARTS))
    let UploadId: string | undefined
    let untrack = () => {}
    try {
      UploadId = (await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType }))).UploadId
      // SIGINT/SIGTERM: abort the multipart upload so its parts do not linger (and cost) in the bucket
      const id = UploadId
      untrack = trackTemp(() => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: id })))
      const count = Math.ceil(size / partSize)
      const parts: CompletedPart[] = new Array(count)
      let next = 0
      const worker = async () => {
        while (next < count) {
          const i = next++
          const start = i * partSize
          const end = Math.min(size, start + partSize)
          const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber: i + 1, Body: counted(start, end), ContentLength: end - start }))
          parts[i] = { PartNumber: i + 1, ETag: r.ETag }
        }
      }
      await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, count) }, worker))
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }))
    } catch (e) {
      // the previous object stays: an incomplete multipart upload is invisible to readers
      if (UploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => undefined)
      this.fail(`cannot upload ${Key}`, e)
    } finally {
      untrack()
    }
    return { size }
  }

  async list(remoteDir: string): Promise<RemoteEntry[]> {
    const prefix = this.key(remoteDir.endsWith('/') ? remoteDir : remoteDir + '/')
    const out: RemoteEntry[] = []
    let ContinuationToken: string | undefined
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix === '/' ? '' : prefix, Delimiter: '/', ...(ContinuationToken ? { ContinuationToken } : {}) }))
        for (const o of r.Contents ?? []) {
          const name = (o.Key ?? '').slice(prefix === '/' ? 0 : prefix.length)
          if (name && !name.includes('/')) out.push({ name, size: o.Size ?? NaN, ...(o.LastModified ? { mtime: o.LastModified } : {}) })
        }
        ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined
      } while (ContinuationToken)
    } catch (e) {
      this.fail(`cannot list ${prefix}`, e)
    }
    return out
  }

  async createReadStream(remotePath: string): Promise<Readable> {
    const Key = this.key(remotePath)
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }))
      return r.Body as Readable
    } catch (e) {
      const err = e as AwsError
      if (err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) throw transferError('TRANSFER_NOT_FOUND', `${Key} does not exist on ${this.location}`)
      this.fail(`cannot read ${Key}`, e)
    }
  }

  async get(remotePath: string): Promise<Buffer> {
    const parts: Buffer[] = []
    for await (const c of (await this.createReadStream(remotePath)) as AsyncIterable<Buffer>) parts.push(c)
    return Buffer.concat(parts)
  }

  async stat(remotePath: string): Promise<RemoteStat | undefined> {
    const Key = this.key(remotePath)
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }))
      return { size: h.ContentLength ?? NaN, ...(h.LastModified ? { mtime: h.LastModified } : {}) }
    } catch (e) {
      const err = e as AwsError
      if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined
      this.fail(`cannot stat ${Key}`, e)
    }
  }

  async delete(remotePath: string): Promise<boolean> {
    // S3 DELETE succeeds for missing keys; HEAD first to report whether something was removed
    if (!(await this.stat(remotePath))) return false
    const Key = this.key(remotePath)
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))
      return true
    } catch (e) {
      this.fail(`cannot delete ${Key}`, e)
    }
  }

  async close(): Promise<void> {
    this.client.destroy()
  }
}

/** The one network client for an S3 endpoint: system roots + the site CA directory (+ the target's `ca:` bundle for https). */
function s3Fetcher(endpoint: string | undefined, opts: TransferOptions): Fetcher {
  const https = endpoint === undefined || /^https:/i.test(endpoint)
  let ca: Buffer | undefined
  if (https && opts.ca) {
    checkRegularFile(opts.ca, 'CA bundle', CAP.credential)
    try {
      ca = readFileSync(opts.ca)
    } catch {
      throw configError('TRANSFER_CONFIG', `cannot read the CA bundle ${opts.ca}`)
    }
  }
  return new Fetcher({ caDir: caDirFromEnv(undefined), ...(ca ? { ca: [ca] } : {}) })
}

/**
 * An endpoint is an http(s) URL without credentials: S3 signs with AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, and a user or password in the endpoint (vmgit.yaml is committed,
 * VMGIT_S3_ENDPOINT is printed in messages) would only be a secret in the wrong place.
 */
function checkEndpoint(endpoint: string, secrets: (string | undefined)[]): void {
  let u: URL
  try {
    u = new URL(endpoint)
  } catch {
    throw configError('TRANSFER_CONFIG', `the S3 endpoint ${redactUrl(endpoint)} is not a URL; give e.g. https://s3.example.org`, secrets)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw configError('TRANSFER_CONFIG', `the S3 endpoint ${redactUrl(endpoint)} is not an http(s) URL; give e.g. https://s3.example.org`, secrets)
  if (u.username || u.password) {
    throw configError('TRANSFER_CONFIG', `the S3 endpoint ${redactUrl(endpoint)} carries credentials; remove them from the URL and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`, [...secrets, decodeURIComponent(u.username), decodeURIComponent(u.password)])
  }
}
