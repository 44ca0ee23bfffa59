/**
 * A subscriber world whose endorser sits below an intermediate CA (root → intermediate → signer),
 * built with the differential corpus' generator (test/differential/corpus.ts), for the chain and
 * algorithm attacks S21 and S22. An attack builds a second chain under the same names (the signer's
 * subject and issuer equal the trusted endorser's, so only the certificate checks can stop it),
 * with its intermediate re-keyed, and a trust directory that holds both chains' CAs and CRLs: the
 * stored list stays valid, only the attack's chain differs.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { buildChain, KeyPool, signList, type BuiltChain, type CaseSpec } from '../differential/corpus.js'
import { World, type ImageFile } from '../subscriber/world.js'
import { startServer } from './http-server.js'
import type { Pki, PkiCert } from './pki.js'

export interface ChainWorld {
  w: World
  keys: KeyPool
  base: BuiltChain
  images: ImageFile[]
  dir: string
}

export const asPkiCert = (c: BuiltChain): PkiCert => ({
  name: 'chain-signer', key: c.key, cert: c.cert, subject: c.subject, issuer: c.issuer, serial: '', notBefore: new Date(0), notAfter: new Date(0),
})

/** The world after a first good sync of hv:version 1.0 signed below the intermediate. */
export async function chainWorld(): Promise<ChainWorld> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmgit-chainworld-'))
  const keys = new KeyPool(path.join(dir, 'keys'))
  const now = new Date(Math.floor(Date.now() / 1000) * 1000)
  const base = await buildChain({ name: 'base', depth: 1 }, path.join(dir, 'base'), keys, now)
  const signer = asPkiCert(base)
  // World reads only caDir and signer from its PKI
  const pki = { dir, caDir: base.caDir, signer } as unknown as Pki
  const w = new World(path.join(dir, 'world'), pki, await startServer())
  await mkdir(w.dir, { recursive: true })
  const images = [w.image('img0.qcow2', 30_000)]
  await w.publish({ id: w.listId, version: '1.0', images })
  const steps = [await w.trust(signer), await w.add(w.listUrl), await w.cli(['sub', 'select', images[0]!.id]), await w.sync()]
  const bad = steps.find((s) => s.code !== 0)
  if (bad) throw new Error(`chain world setup failed: ${bad.stderr}`)
  return { w, keys, base, images, dir }
}

let n = 0
/**
 * Build an attack chain (default: one intermediate, re-keyed) and serve `version` of the list signed
 * by it; returns the trust directory holding both chains (pass it as VMGIT_CA_DIR).
 */
export async function serveFrom(cw: ChainWorld, spec: Partial<CaseSpec>, version: string): Promise<string> {
  const full: CaseSpec = { name: `attack${n}`, depth: 1, keyOverride: { 1: 'ec384' }, ...spec }
  const at = path.join(cw.dir, `attack${n++}`)
  // a minute later: its CRLs are the newest, as a CA's update would be
  const chain = await buildChain(full, at, cw.keys, new Date(cw.w.now.getTime() + 60_000))
  const trust = path.join(at, 'merged')
  await mkdir(trust)
  for (const f of await readdir(cw.base.caDir)) await copyFile(path.join(cw.base.caDir, f), path.join(trust, f))
  const have = new Set(await readdir(trust))
  for (const f of (await readdir(chain.caDir)).sort()) {
    const m = /^([0-9a-f]{8})\.(r?)\d+$/.exec(f)
    if (!m) continue
    const bytes = await readFile(path.join(chain.caDir, f))
    let same = false
    let i = 0
    for (; have.has(`${m[1]}.${m[2]}${i}`); i++) if ((await readFile(path.join(trust, `${m[1]}.${m[2]}${i}`))).equals(bytes)) same = true
    if (same) continue
    await copyFile(path.join(chain.caDir, f), path.join(trust, `${m[1]}.${m[2]}${i}`))
    have.add(`${m[1]}.${m[2]}${i}`)
  }
  const content = cw.w.listJson({ id: cw.w.listId, version, images: cw.images }, asPkiCert(chain))
  cw.w.server.set('/list.smime', { body: await signList(full, chain, Buffer.from(content), cw.keys) })
  return trust
}
