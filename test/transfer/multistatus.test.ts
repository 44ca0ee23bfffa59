/**
 * WebDAV `list` (issue 15: stale temp files and pruning need a directory listing): the PROPFIND
 * Depth: 1 answer of nginx dav-ext, Apache mod_dav (lp1: prefixes, absolute hrefs) and dCache,
 * read as the files directly in the directory, never the directory itself or a sub-collection.
 */
import { describe, expect, it } from 'vitest'
import { parseMultistatus } from '../../src/transfer/webdav.js'

const response = (href: string, props: string) => `<D:response><D:href>${href}</D:href><D:propstat><D:prop>${props}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`

describe('parseMultistatus', () => {
  it('lists the files with size and mtime, skipping the directory and sub-collections', () => {
    const xml = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">
      ${response('/pub/images/', '<D:resourcetype><D:collection/></D:resourcetype>')}
      ${response('/pub/images/alma-1.0.qcow2', '<D:getcontentlength>42</D:getcontentlength><D:getlastmodified>Mon, 30 Nov 2026 05:35:32 GMT</D:getlastmodified><D:resourcetype></D:resourcetype>')}
      ${response('/pub/images/old/', '<D:resourcetype><D:collection/></D:resourcetype>')}
    </D:multistatus>`
    expect(parseMultistatus(xml, '/pub/images/')).toEqual([{ name: 'alma-1.0.qcow2', size: 42, mtime: new Date('2026-11-30T05:35:32Z') }])
  })

  it('reads Apache-style prefixes, absolute and percent-encoded hrefs, and entities', () => {
    const xml = `<D:multistatus xmlns:D="DAV:" xmlns:lp1="DAV:">
      <D:response xmlns:lp2="http://apache.org/dav/props/"><D:href>https://dav.example.org/pub/images/my%20image.qcow2?x=1&amp;y=2</D:href><D:propstat><D:prop><lp1:resourcetype/><lp1:getcontentlength>7</lp1:getcontentlength></D:prop></D:propstat></D:response>
      <D:response><D:href>/elsewhere/x.qcow2</D:href><D:propstat><D:prop><lp1:getcontentlength>1</lp1:getcontentlength></D:prop></D:propstat></D:response>
    </D:multistatus>`
    expect(parseMultistatus(xml, '/pub/images/')).toEqual([{ name: 'my image.qcow2', size: 7 }])
  })
})
