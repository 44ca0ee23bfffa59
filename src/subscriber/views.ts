import { redactText, redactUrl } from '../net/redact.js'
import { escapeText } from '../util/escape.js'
import { credentialsOf, type DB, getImages, getStatus, getUrls, type SubscriptionRow } from './store.js'

/**
 * What `vmgit sub list` and `vmgit sub show` print. URLs are always shown without credentials
 * (vmcatcher printed the stored password with `-i`); whether a credential is stored is shown as
 * a yes/no only.
 */
export interface SubscriptionView {
  id: string
  title: string | null
  description: string | null
  authorised: boolean
  status: 'ok' | 'expired'
  endorser: string
  endorserCheck: 'strict' | 'signer'
  newImages: string
  urls: { url: string; credentials: boolean; lastResult: string | null }[]
  list: {
    version: string
    created: string
    expires: string
    imported: string
    uri: string | null
    vo: string | null
    signer: { subject: string; issuer: string; serial: string; notAfter: string }
    images: number
  }
  checked: string | null
  updated: string | null
  lastError: { code: string; message: string } | null
}

export function subscriptionView(db: DB, s: SubscriptionRow): SubscriptionView {
  const st = getStatus(db, s.id)
  const mirrors = st?.mirrors ? (JSON.parse(st.mirrors) as Record<string, string>) : {}
  return {
    id: s.id,
    title: s.title,
    description: s.description,
    authorised: credentialsOf(db, s.endorser, s.id).length > 0,
    status: s.status,
    endorser: s.endorser,
    endorserCheck: s.endorser_check,
    newImages: s.new_images,
    // one redaction policy: a `?token=` / `?sig=` query value is a credential too, so it is masked like userinfo
    urls: getUrls(db, s.id).map((u) => ({
      url: redactUrl(u.url),
      credentials: Boolean(u.username || u.password),
      lastResult: mirrors[u.position] !== undefined ? redactText(mirrors[u.position]!) : null,
    })),
    list: {
      version: s.version,
      created: s.list_created,
      expires: s.list_expires,
      imported: s.imported_at,
      uri: s.list_uri,
      vo: s.vo,
      signer: { subject: s.signer_subject, issuer: s.signer_issuer, serial: s.signer_serial, notAfter: s.signer_not_after },
      images: getImages(db, s.id).length,
    },
    checked: st?.checked_at ?? null,
    updated: st?.updated_at ?? null,
    lastError: st?.last_error_code ? { code: st.last_error_code, message: st.last_error_message ?? '' } : null,
  }
}

const py = (b: boolean): string => (b ? 'True' : 'False')
/** vmcatcher's date format */
const hx = (iso: string | null): string => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : 'False')

/** `vmgit sub list`: vmcatcher's columns (identifier, authorised, …, url): one row, printed tab-separated with each field escaped (S30). */
export function listLine(v: SubscriptionView): string[] {
  return [v.id, py(v.authorised), v.status, v.urls[0]?.url ?? '']
}

/**
 * `vmgit sub show --format lines`: vmcatcher's `key=value` info lines, plus vmgit's own keys.
 * S30: every value is escaped for the terminal (a title with a newline or a tab cannot forge a key).
 */
export function showLines(v: SubscriptionView): string[] {
  return rawShowLines(v).map((l) => escapeText(l))
}

function rawShowLines(v: SubscriptionView): string[] {
  const lines = [
    `imagelist.dc:identifier=${v.id}`,
    `subscription.dc:identifier=${v.id}`,
    `subscription.dc:description=${v.description ?? ''}`,
    `subscription.sl:authorised=${py(v.authorised)}`,
    ...v.urls.map((u, i) => `subscription.hv:uri${i ? `.mirror${i}` : ''}=${u.url}`),
    `subscription.dc:date:updated=${hx(v.updated)}`,
    `subscription.vmgit:status=${v.status}`,
    `subscription.vmgit:endorser=${v.endorser}`,
    `subscription.vmgit:endorser_check=${v.endorserCheck}`,
    `subscription.vmgit:new_images=${v.newImages}`,
    `subscription.vmgit:date:checked=${hx(v.checked)}`,
    `imagelist.expired=${py(v.status === 'expired')}`,
    `imagelist.dc:date:imported=${hx(v.list.imported)}`,
    `imagelist.dc:date:created=${hx(v.list.created)}`,
    `imagelist.dc:date:expires=${hx(v.list.expires)}`,
    `imagelist.dc:title=${v.title ?? ''}`,
    `imagelist.hv:version=${v.list.version}`,
    `imagelist.hv:uri=${v.list.uri ?? ''}`,
    `imagelist.vmgit:images=${v.list.images}`,
    `imagelist.vmgit:signer.subject=${v.list.signer.subject}`,
    `imagelist.vmgit:signer.issuer=${v.list.signer.issuer}`,
    `imagelist.vmgit:signer.serial=${v.list.signer.serial}`,
  ]
  if (v.list.vo) lines.push(`imagelist.ad:vo=${v.list.vo}`)
  if (v.lastError) lines.push(`subscription.vmgit:last_error=${v.lastError.code}: ${v.lastError.message}`)
  return lines
}
