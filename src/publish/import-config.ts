/**
 * `vmgit import-config vmcaster.cfg`: turn the old publisher's INI (spec §3.3; values are JSON
 * literals) into vmgit.yaml `targets:`, merged into an existing vmgit.yaml without losing its
 * other content or comments (yaml Document API). Protocols: local → file://, scp → sftp://;
 * gsidcap and egiappdb are reported as unsupported, with what to do instead.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml'
import { modeline } from '../model/schemas.js'
import { VmgitError, usageError } from '../util/errors.js'
import { writeFileAtomic } from '../util/fs.js'
import { pythonReplacement, type TargetRule } from './config.js'
import { CAP, checkRegularFile } from '../util/envfs.js'

export interface IniSection {
  name: string
  line: number
  /** keys lowercased (ConfigParser optionxform), values JSON-decoded */
  values: Record<string, unknown>
}

/** Python 2 ConfigParser as vmcaster's ConfigParserJson used it: [section], key = JSON value. */
export function parseVmcasterIni(text: string, file = 'vmcaster.cfg'): IniSection[] {
  const sections: IniSection[] = []
  const defaults: Record<string, unknown> = {}
  let cur: IniSection | undefined
  let last: { key: string; raw: string; line: number } | undefined
  const bad = (line: number, msg: string) => usageError('IMPORT_CONFIG_INVALID', `${file}:${line}: ${msg}`)
  const flush = () => {
    if (!last) return
    const target = cur ? cur.values : defaults
    target[last.key] = decode(last.raw, last.line, last.key)
    last = undefined
  }
  const decode = (raw: string, line: number, key: string): unknown => {
    const v = raw.trim()
    for (const candidate of [v, v.replace(/\s;.*$/, '').trim()]) {
      try {
        return JSON.parse(candidate)
      } catch {
        // try the next form
      }
    }
    throw bad(line, `the value of ${key} is not a JSON literal (vmcaster reads values as JSON: write strings in double quotes, e.g. ${key} = "${v.replace(/"/g, '')}")`)
  }
  text.split(/\r?\n/).forEach((l, i) => {
    const line = i + 1
    if (/^\s*([#;]|$)/.test(l) && !(last && /^\s+\S/.test(l))) return
    if (/^\s/.test(l) && last) {
      last.raw += '\n' + l.trim() // continuation line
      return
    }
    flush()
    const sec = /^\[([^\]]+)\]\s*$/.exec(l)
    if (sec) {
      cur = { name: sec[1]!, line, values: {} }
      if (cur.name !== 'DEFAULT') sections.push(cur)
      else cur = undefined
      return
    }
    const kv = /^([^:=\s][^:=]*?)\s*[:=]\s*(.*)$/.exec(l)
    if (!kv) throw bad(line, `cannot read "${l.trim()}"; expected [section] or key = value`)
    last = { key: kv[1]!.toLowerCase(), raw: kv[2]!, line }
  })
  flush()
  for (const s of sections) s.values = { ...defaults, ...s.values }
  return sections
}

export interface ConvertedTarget {
  section: string
  rule: TargetRule
  notes: string[]
}
export interface UnsupportedSection {
  section: string
  protocol: string
  code: 'IMPORT_CONFIG_UNSUPPORTED'
  message: string
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? undefined : String(v))
/** Regex metacharacters other than "." (vmcaster's prefixes are regexes whose dots mean dots). */
const REGEXY = /[\\^$*+?()[\]{}|]/

/** Only what would break a URL: %, space, #, ? (group references like $<name> must survive). */
const escapePath = (p: string) => p.replace(/[% #?]/g, (c) => encodeURIComponent(c))

/** scp's `[user@]host:path` → sftp://[user@]host/path (a relative path is relative to the login dir). */
export function scpToSftp(dest: string): string | undefined {
  if (/^(scp|sftp):\/\//i.test(dest)) return dest.replace(/^scp:/i, 'sftp:')
  const m = /^(?:([^@/:\s]+)@)?([^:/\s]+|\[[^\]]+\]):(.*)$/.exec(dest)
  if (!m) return undefined
  const [, user, host, p = ''] = m
  const pathPart = p.startsWith('/') ? p : `/~/${p}`
  return `sftp://${user ? `${user}@` : ''}${host}${escapePath(pathPart)}`
}

export function convertSection(s: IniSection): ConvertedTarget | UnsupportedSection {
  const v = s.values
  const protocol = str(v.protocol ?? v.writeprotocol) ?? ''
  const match = str(v.urimatch ?? v.readprefix)
  const replace = str(v.urireplace ?? v.writeprefix)
  const unsupported = (message: string): UnsupportedSection => ({ section: s.name, protocol, code: 'IMPORT_CONFIG_UNSUPPORTED', message: `[${s.name}] ${message}` })
  if (protocol === 'gsidcap') {
    const host = replace ? /^gsidcap:\/\/([^:/]+)/.exec(replace)?.[1] : undefined
    return unsupported(`protocol gsidcap (dCache dcap with GSI) is not supported. dCache also speaks WebDAV over https with an X.509 client certificate: add a target by hand with replace: "https://${host ?? '<door>'}:2880/<path>/" and client_cert/client_key (or VMGIT_DAV_CERT/VMGIT_DAV_KEY).`)
  }
  if (protocol === 'egiappdb') {
    return unsupported('protocol egiappdb (posting the signed list to the AppDB API) is not a file upload and is not supported. Publish the list to a URL you control (a file, sftp, WebDAV or s3 target) and register that URL in AppDB.')
  }
  if (protocol !== 'local' && protocol !== 'scp') return unsupported(`protocol "${protocol || '(missing)'}" is unknown; vmcaster knew local, scp, gsidcap and egiappdb`)
  if (!match || !replace) return unsupported(`needs uriMatch and uriReplace (readprefix/writeprefix in old configs)`)
  const notes: string[] = []
  const regex = REGEXY.test(match)
  // Python group references (\1, \g<name>) become $1 / $<name> before the path is made a URL
  const rep = regex ? pythonReplacement(replace) : replace
  let url: string | undefined
  if (protocol === 'local') {
    if (!path.isAbsolute(rep)) notes.push(`uriReplace "${replace}" is relative; it was resolved against the current directory`)
    url = `file://${escapePath(path.resolve(rep))}`
  } else {
    url = scpToSftp(rep)
    if (!url) return unsupported(`uriReplace "${replace}" is not an scp destination (user@host:/path)`)
  }
  if (!regex && match.endsWith('/') && !url.endsWith('/')) {
    url += '/'
    notes.push(`added a trailing / to the target so that ${match}<file> maps to ${url}<file> (vmcaster would have glued the names together)`)
  }
  const host = /^[a-z]+:\/\/([^/:]+)/i.exec(match)?.[1]
  const server = str(v.server)
  if (server && host && server !== host) {
    notes.push(`server "${server}" differs from the host in uriMatch (${host}); vmcaster used a section only for hv:uri on its server, vmgit matches by uriMatch alone`)
  }
  const rule: TargetRule = regex ? { match, replace: url, regex: true } : { match, replace: url }
  return { section: s.name, rule, notes }
}

export interface ImportConfigResult {
  file: string
  created: boolean
  added: (TargetRule & { section: string })[]
  skipped: { section: string; reason: string }[]
  unsupported: UnsupportedSection[]
  notes: string[]
}

function sameRule(item: unknown, r: TargetRule): 'same' | 'conflict' | undefined {
  if (!isMap(item)) return undefined
  const m = item as YAMLMap
  const get = (k: string) => {
    const n = m.get(k, true)
    return isScalar(n) ? n.value : undefined
  }
  if (get('match') !== r.match) return undefined
  return get('replace') === r.replace && (get('regex') === true) === (r.regex === true) ? 'same' : 'conflict'
}

/** Merge the converted targets into vmgit.yaml text (comments and other keys kept). */
export function mergeTargets(text: string | undefined, converted: ConvertedTarget[], source: string): { text: string; added: ConvertedTarget[]; skipped: { section: string; reason: string }[] } {
  const doc: Document = parseDocument(text ?? `${modeline('config').trimEnd()}\nversion: 1\n`, { uniqueKeys: true })
  if (doc.errors.length) throw new VmgitError('IMPORT_CONFIG_BAD_YAML', `vmgit.yaml is not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); fix it (vmgit validate) and import again`)
  if (!isMap(doc.contents)) throw new VmgitError('IMPORT_CONFIG_BAD_YAML', 'vmgit.yaml must be a map of settings starting with "version: 1"; fix it and import again')
  if (!doc.has('targets')) doc.set('targets', doc.createNode([]))
  const seq = doc.get('targets', true)
  if (!isSeq(seq)) throw new VmgitError('IMPORT_CONFIG_BAD_YAML', 'vmgit.yaml "targets" must be a list; fix it and import again')
  const added: ConvertedTarget[] = []
  const skipped: { section: string; reason: string }[] = []
  for (const c of converted) {
    const hit = seq.items.map((it) => sameRule(it, c.rule)).find((x) => x !== undefined)
    if (hit === 'same') {
      skipped.push({ section: c.section, reason: `already in vmgit.yaml (${c.rule.match})` })
      continue
    }
    if (hit === 'conflict') {
      skipped.push({ section: c.section, reason: `vmgit.yaml already maps ${c.rule.match} elsewhere; kept the existing target (the first match wins), compare them by hand` })
      continue
    }
    const node = doc.createNode(c.rule)
    node.commentBefore = ` imported from ${source} [${c.section}]`
    seq.items.push(node)
    added.push(c)
  }
  return { text: doc.toString({ lineWidth: 0, minContentWidth: 0 }), added, skipped }
}

export async function importVmcasterConfig(cfgFile: string, repoDir: string, opts: { dryRun?: boolean } = {}): Promise<ImportConfigResult> {
  checkRegularFile(cfgFile, 'the vmcaster configuration', CAP.config)
  const cfgText = await readFile(cfgFile, 'utf8').catch(() => {
    throw usageError('IMPORT_CONFIG_NOT_FOUND', `cannot read ${cfgFile}; pass the path of vmcaster.cfg (it was $VMCASTER_CFG, ~/.vmcaster.cfg or /etc/vmcaster/vmcaster.cfg)`)
  })
  const sections = parseVmcasterIni(cfgText, cfgFile)
  const results = sections.map(convertSection)
  const converted = results.filter((r): r is ConvertedTarget => 'rule' in r)
  const unsupported = results.filter((r): r is UnsupportedSection => !('rule' in r))
  const file = path.join(repoDir, 'vmgit.yaml')
  const created = !existsSync(file)
  const old = created ? undefined : await readFile(file, 'utf8')
  const merged = mergeTargets(old, converted, path.basename(cfgFile))
  if (!opts.dryRun && merged.added.length) await writeFileAtomic(file, merged.text)
  return {
    file,
    created: created && merged.added.length > 0,
    added: merged.added.map((c) => ({ section: c.section, ...c.rule })),
    skipped: merged.skipped,
    unsupported,
    notes: merged.added.flatMap((c) => c.notes.map((n) => `[${c.section}] ${n}`)),
  }
}
