import type { Readable } from 'node:stream'
import type { Secret } from '../net/redact.js'

/** Schemes a target URL may use; the scheme picks the backend. */
export type TransferScheme = 'file' | 'sftp' | 'http' | 'https' | 's3'

export interface PutOptions {
  /** called as bytes leave this process: (sent, total) */
  onProgress?: (sent: number, total: number) => void
  /** MIME type for backends that store one (WebDAV, S3) */
  contentType?: string
}

export interface PutResult {
  /** bytes written */
  size: number
}

export interface RemoteStat {
  size: number
  mtime?: Date
}

/**
 * One connection to one place (a directory, an ssh server, a WebDAV server, an S3 bucket).
 * Remote paths are the path part of a target URL as returned by `parseTarget` (absolute).
 *
 * Contract for `put`: atomic replace. Readers see the old file or the new one, never a partial
 * one, and a failed put leaves the old file in place (temp name + rename/MOVE; S3 objects are
 * atomic by nature). Missing parent directories/collections are created.
 */
export interface Transfer {
  readonly scheme: TransferScheme
  /** where this transfer writes, safe to print (no secrets) */
  readonly location: string
  /** true when `createReadStream` reads what was stored (all four backends can) */
  readonly canReadBack: boolean
  put(source: string | Buffer, remotePath: string, opts?: PutOptions): Promise<PutResult>
  /** whole file in memory: for image lists and other small files */
  get(remotePath: string): Promise<Buffer>
  createReadStream(remotePath: string): Promise<Readable>
  /** undefined when the file does not exist */
  stat(remotePath: string): Promise<RemoteStat | undefined>
  /** true when something was deleted; a missing file is not an error */
  delete(remotePath: string): Promise<boolean>
  close(): Promise<void>
}

/**
 * How to authenticate and whom to trust. Secrets may be given as `Secret` so they print as ***.
 * Every field is optional; `optionsFromEnv` fills secrets from the environment.
 */
export interface TransferOptions {
  // --- sftp ---
  /** private key file (OpenSSH or PEM); without it (and without a password) the ssh agent is used */
  identity?: string
  passphrase?: Secret | string
  /** ssh agent socket; default $SSH_AUTH_SOCK */
  agent?: string
  /** known_hosts file(s) to check the server's host key against; default ~/.ssh/known_hosts */
  knownHosts?: string | string[]
  /** pinned host key fingerprint(s) `SHA256:...` (as `ssh-keygen -lf` prints); replaces known_hosts */
  hostFingerprint?: string | string[]
  // --- sftp password and WebDAV basic auth ---
  username?: string
  password?: Secret | string
  // --- WebDAV ---
  token?: Secret | string
  /** X.509 client certificate and key (PEM) for TLS client authentication (dCache) */
  clientCert?: string
  clientKey?: string
  clientKeyPassphrase?: Secret | string
  /** PEM CA bundle to trust for the server's TLS certificate (in addition to the system's) */
  ca?: string
  // --- S3 ---
  endpoint?: string
  region?: string
  forcePathStyle?: boolean
  accessKeyId?: string
  secretAccessKey?: Secret | string
  sessionToken?: Secret | string
  /** parts for multipart upload (S3); default 64 MiB threshold */
  multipartThreshold?: number
  partSize?: number
  // --- all ---
  /** connect/response timeout in ms; default 30000 */
  timeoutMs?: number
}
