import { Flags } from '@oclif/core'

/** Where `vmgit image add` and `image update` read an image from, and what it must match. */
export const imageSourceFlags = {
  file: Flags.string({ description: 'Local image file.', exclusive: ['url'] }),
  url: Flags.string({ description: 'Download URL (streamed through the hash; not stored unless --keep).', exclusive: ['file'] }),
  keep: Flags.string({ description: 'With --url: store the download at this path and make it the source.', dependsOn: ['url'] }),
  checksums: Flags.string({ description: 'Upstream checksum file (path or URL) the image must match.' }),
  'checksum-name': Flags.string({ description: 'Name of the image in the checksum file (default: the file name).' }),
}

/** The image-source flags (and --version/--uri) as the options of src/repo/image.ts. */
export function pick(f: { file?: string; url?: string; keep?: string; checksums?: string; 'checksum-name'?: string; version?: string; uri?: string }) {
  return {
    ...(f.file ? { file: f.file } : {}),
    ...(f.url ? { url: f.url } : {}),
    ...(f.keep ? { keep: f.keep } : {}),
    ...(f.checksums ? { checksums: f.checksums } : {}),
    ...(f['checksum-name'] ? { checksumName: f['checksum-name'] } : {}),
    ...(f.version ? { version: f.version } : {}),
    ...(f.uri ? { uri: f.uri } : {}),
  }
}
