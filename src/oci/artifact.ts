/**
 * The artifacts vmgit pushes, built purely (no I/O, no clock) so that `plan`, a dry run and
 * `publish` compute the same manifest digest from the same YAML, file and commit (docs/oci.md):
 * - an image: OCI 1.1 manifest, artifactType = layer type, empty config, one layer with the image
 *   bytes, EGI's annotations;
 * - the signed list: one layer with the exact S/MIME bytes; also as a referrer of each image.
 */
import type { HepixObject } from '../imagelist/types.js'
import { usageError } from '../util/errors.js'
import { type Descriptor, MEDIA, sha256 } from './client.js'
import { isValidTag } from './reference.js'

export const LIST_MEDIA_TYPE = 'application/vnd.hepix.imagelist.v1+smime'
export const EMPTY_CONFIG = Buffer.from('{}')
export const EMPTY_DESCRIPTOR: Descriptor = { mediaType: MEDIA.empty, digest: sha256(EMPTY_CONFIG), size: 2, data: 'e30=' }

/** hv:format → layer media type (freedesktop shared-mime-info names; qcow2 as EGI pushes it). */
const FORMAT_TYPES: Record<string, string> = {
  qcow2: 'application/x-qemu-disk',
  qcow: 'application/x-qemu-disk',
  raw: 'application/x-raw-disk-image',
  img: 'application/x-raw-disk-image',
  vmdk: 'application/x-virtualbox-vmdk',
  vdi: 'application/x-virtualbox-vdi',
  vhd: 'application/x-virtualbox-vhd',
  vhdx: 'application/x-virtualbox-vhdx',
  ova: 'application/x-virtualbox-ova',
  iso: 'application/x-cd-image',
}

export function layerMediaType(format: unknown): string {
  return FORMAT_TYPES[String(format ?? '').toLowerCase()] ?? 'application/octet-stream'
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v))

/** The layer's file name: the last part of hv:uri, else `<name>.<format>`; always one plain file name. */
export function layerTitle(img: HepixObject, name: string): string {
  const uri = str(img['hv:uri']).replace(/[?#].*$/, '')
  let base = uri.slice(uri.lastIndexOf('/') + 1)
  try {
    base = decodeURIComponent(base)
  } catch {
    // keep it as written
  }
  // path-safe: oras writes the layer under this name
  if (!base || base === '.' || base === '..' || /[/\\\0-\x1f]/.test(base)) base = `${name}.${str(img['hv:format']).toLowerCase() || 'img'}`
  return base
}

export interface ImageArtifactInput {
  /** the image YAML file name (images/<name>.yaml) */
  name: string
  img: HepixObject
  layer: { digest: string; size: number }
  /** commit of the last change to the image YAML, and the repository's URL (no user info) */
  revision?: string
  source?: string
}

export function imageTags(img: HepixObject, movingTag: string): { version?: string; moving: string } {
  const version = str(img['hv:version'])
  const moving = movingTag.replace(/\{([A-Za-z0-9_:.-]+)\}/g, (_all, key: string) => {
    const v = str(img[key])
    if (!v) throw usageError('OCI_MOVING_TAG_INVALID', `moving_tag "${movingTag}" uses {${key}}, which image "${str(img['dc:title'])}" does not set; set it or change the template`)
    return v
  })
  if (!isValidTag(moving)) throw usageError('OCI_MOVING_TAG_INVALID', `moving_tag "${movingTag}" gives "${moving}" for image "${str(img['dc:title'])}", which is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`)
  return { ...(isValidTag(version) ? { version } : {}), moving }
}

/** The image manifest bytes (deterministic: fixed key order, no timestamps). */
export function imageManifest(a: ImageArtifactInput, versionTag: string | undefined): Buffer {
  const img = a.img
  const format = str(img['hv:format']).toLowerCase()
  const type = layerMediaType(format)
  const annotations: Record<string, string> = {}
  const put = (k: string, v: unknown): void => {
    const s = str(v)
    if (s) annotations[k] = s
  }
  put('eu.egi.cloud.tag', versionTag)
  put('eu.egi.cloud.image.title', img['dc:title'])
  put('eu.egi.cloud.description', img['dc:description'])
  put('org.openstack.glance.disk_format', format)
  put('org.openstack.glance.container_format', format === 'ova' ? 'ova' : 'bare')
  put('org.openstack.glance.architecture', img['sl:arch'])
  put('org.openstack.glance.os_distro', str(img['sl:osname']).toLowerCase())
  put('org.openstack.glance.os_version', img['sl:osversion'])
  put('org.openstack.glance.os_type', str(img['sl:os']).toLowerCase())
  put('org.opencontainers.image.version', img['hv:version'])
  put('org.opencontainers.image.revision', a.revision)
  put('org.opencontainers.image.source', a.source)
  put('org.hepix.image.identifier', img['dc:identifier'])
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: type,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: type, digest: a.layer.digest, size: a.layer.size, annotations: { 'org.opencontainers.image.title': layerTitle(img, a.name) } }],
    annotations,
  }
  return Buffer.from(JSON.stringify(manifest))
}

export interface ListArtifactInput {
  name: string
  smime: { digest: string; size: number }
  version: string
  identifier: string
  expires: string
  /** set for the referrer copy attached to an image manifest */
  subject?: Descriptor
}

export function listManifest(a: ListArtifactInput): Buffer {
  const annotations: Record<string, string> = { 'org.opencontainers.image.title': `${a.name}.smime` }
  if (a.version) annotations['org.opencontainers.image.version'] = a.version
  if (a.identifier) annotations['org.hepix.imagelist.identifier'] = a.identifier
  if (a.expires) annotations['org.hepix.imagelist.expires'] = a.expires
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: LIST_MEDIA_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: LIST_MEDIA_TYPE, digest: a.smime.digest, size: a.smime.size, annotations: { 'org.opencontainers.image.title': `${a.name}.smime` } }],
    ...(a.subject ? { subject: a.subject } : {}),
    annotations,
  }))
}
