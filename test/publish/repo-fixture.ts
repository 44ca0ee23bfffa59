import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { commitAll, git } from '../helpers/git.js'

/** A small endorser repository for publish tests: one endorser (dn/ca from the certificate), two images, one list. */

export interface FixtureImage {
  name: string
  identifier: string
  file: string
  sha512: string
  size: number
  version: string
  uri: string
}

export interface FixtureRepo {
  dir: string
  images: FixtureImage[]
  listUri: string
  /** replace an image's content: new file, sha512, size, a higher version and a new uri */
  updateImage(name: string, opts?: { bytes?: number }): FixtureImage
  /** what an endorser does before publishing ("GitOps means committed"): `git add -A && git commit`; needs `{ git: true }` */
  commit(message: string): void
}

const yaml = (o: Record<string, unknown>): string =>
  Object.entries(o)
    .map(([k, v]) => (Array.isArray(v) ? `${k}:\n${v.map((x) => `  - ${typeof x === 'string' ? x : JSON.stringify(x)}`).join('\n')}` : `${k}: ${JSON.stringify(v)}`))
    .join('\n') + '\n'

/**
 * `publicBase` is where subscribers read (hv:uri prefix), `targets` the vmgit.yaml targets
 * (already YAML objects) that map it to a write location.
 */
export function makeFixtureRepo(dir: string, publicBase: string, targets: Record<string, unknown>[], opts: { imageBytes?: number; git?: boolean } = {}): FixtureRepo {
  for (const d of ['endorsers', 'images', 'imagelists', 'files']) mkdirSync(path.join(dir, d), { recursive: true })
  const targetYaml = targets
    .map((t) => '  - ' + Object.entries(t).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n    '))
    .join('\n')
  writeFileSync(path.join(dir, 'vmgit.yaml'), `version: 1\nlayout: vmcaster\nlifetime: 28d\ndigest: sha256\nappdb_keys: off\nimage_uri: "{base}/{name}-{version}.{ext}"\ntargets:\n${targetYaml}\n`)
  writeFileSync(path.join(dir, 'endorsers/team.yaml'), yaml({ email: 'images@example.org', creator: 'Image team' }))
  const images: FixtureImage[] = []
  const writeImage = (img: FixtureImage) => {
    writeFileSync(
      path.join(dir, `images/${img.name}.yaml`),
      yaml({ identifier: img.identifier, title: `Image ${img.name}`, description: `test image ${img.name}`, comments: '', version: img.version, uri: img.uri, size: img.size, sha512: img.sha512, hypervisor: 'KVM', format: 'QCOW2', arch: 'x86_64', os: 'Linux', osversion: '9', source: `files/${img.name}-${img.version}.qcow2` }),
    )
  }
  const content = (name: string, version: string, size = opts.imageBytes ?? 48 * 1024) => {
    const bytes = Buffer.concat([Buffer.from(`${name} ${version}\n`), randomBytes(size)])
    const file = path.join(dir, `files/${name}-${version}.qcow2`)
    writeFileSync(file, bytes)
    return { file, sha512: createHash('sha512').update(bytes).digest('hex'), size: bytes.length }
  }
  const ids = ['4f2ab0e4-1b39-4c4f-9a8e-3f1c2b7d9e01', '8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f']
  ;['alma', 'ubuntu'].forEach((name, i) => {
    const version = '1.0'
    const img: FixtureImage = { name, identifier: ids[i]!, version, uri: `${publicBase}images/${name}-${version}.qcow2`, ...content(name, version) }
    images.push(img)
    writeImage(img)
  })
  const listUri = `${publicBase}lists/production.list`
  writeFileSync(
    path.join(dir, 'imagelists/production.yaml'),
    yaml({ identifier: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', title: 'Production', description: 'Production images', origin: publicBase, uri: listUri, endorser: 'team', images: ['alma', 'ubuntu'] }),
  )
  if (opts.git) {
    // an endorser's repository: the YAML committed, the image files ignored (big files rarely are)
    writeFileSync(path.join(dir, '.gitignore'), 'files/\n')
    git(dir, 'init', '-q', '-b', 'main')
    commitAll(dir, 'first')
  }
  return {
    dir,
    images,
    listUri,
    commit(message) {
      if (!opts.git) throw new Error('commit() needs makeFixtureRepo(..., { git: true })')
      commitAll(dir, message)
    },
    updateImage(name, o = {}) {
      const i = images.findIndex((x) => x.name === name)
      const old = images[i]!
      const version = `${Number(old.version.split('.')[0]) + 1}.0`
      const img: FixtureImage = { ...old, version, uri: `${publicBase}images/${name}-${version}.qcow2`, ...content(name, version, o.bytes) }
      images[i] = img
      writeImage(img)
      return img
    },
  }
}
