'use strict'
// Normalising the answers of the two sides and comparing them.
//
// Session ids are random on each side, so they are replaced by placeholders
// "id1", "id2", ... numbered per side by first appearance (an id that the
// scenario itself put into a cookie with {{signed:ID}} becomes "lit:ID").
// Values derived from the clock are compared with a tolerance, because the
// two sides never handle a request in the same millisecond.

const { parseSetCookie, decodeSessionValue, signerIndex } = require('./cookies')

// Dates (ISO strings in bodies, Expires attributes) may differ by this much:
// the Expires attribute is truncated to the second, and the two sides
// handle each request a few milliseconds apart.
const DATE_TOLERANCE_MS = 2000
// cookie.originalMaxAge is a duration in ms read from the clock (express
// may report 59999 for maxAge 60000, and a cookie.expires Date becomes
// "expires - now"). It is compared more tightly than dates, so that a
// server which recomputes it when loading a session, instead of restoring
// the stored value, is caught by scenarios that wait a second or more.
const DURATION_TOLERANCE_MS = 1000

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/
// the default express-session id: 24 random bytes in base64url
const UID_SHAPE = /^[A-Za-z0-9_-]{32}$/

// Per-side mapping of session ids to placeholders.
class IdMap {
  constructor () {
    this.map = new Map()
    this.generated = 0
  }

  // An id the scenario wrote itself: named after its text on both sides.
  literal (id) {
    if (!this.map.has(id)) this.map.set(id, 'lit:' + id)
  }

  placeholder (id) {
    if (!this.map.has(id)) {
      // A generated id of another shape than uid-safe's is marked, so that
      // it differs from the other side's placeholder.
      const mark = UID_SHAPE.test(id) ? '' : `(non-uid ${JSON.stringify(id)})`
      this.map.set(id, `id${++this.generated}${mark}`)
    }
    return this.map.get(id)
  }
}

// A raw answer ({status, setCookies, text} or {error}) as the comparison
// sees it. `session` = {name, secrets} of the options in force.
function normalize (raw, ids, session) {
  if (raw.error) return { error: raw.error }
  let body
  try {
    body = JSON.parse(raw.text)
  } catch {
    body = raw.text
  }
  if (body && typeof body === 'object' && typeof body.id === 'string') {
    body = { ...body, id: ids.placeholder(body.id) }
  }
  const setCookies = raw.setCookies.map((header) => {
    const c = parseSetCookie(header)
    const parts = c.name === session.name ? decodeSessionValue(c.value) : null
    if (!parts) return { name: c.name, value: c.value, attrs: c.attrs }
    return {
      name: c.name,
      id: ids.placeholder(parts.id),
      // index of the secret that signed it (express-session: always 0)
      signedWith: signerIndex(parts.id, parts.sig, session.secrets),
      // encodeURIComponent of "s:<id>.<sig>", as express-session writes it
      canonical: c.value === encodeURIComponent(parts.decoded),
      attrs: c.attrs
    }
  })
  return { status: raw.status, body, setCookies, rawSetCookies: raw.setCookies }
}

// Leaf comparison with the time tolerances; `key` is the property name the
// values were found under.
function leafEqual (a, b, key) {
  if (typeof a === 'string' && typeof b === 'string') {
    if ((ISO_DATE.test(a) && ISO_DATE.test(b)) || (HTTP_DATE.test(a) && HTTP_DATE.test(b))) {
      return Math.abs(Date.parse(a) - Date.parse(b)) <= DATE_TOLERANCE_MS
    }
  }
  if (key === 'originalMaxAge' && typeof a === 'number' && typeof b === 'number') {
    return Math.abs(a - b) <= DURATION_TOLERANCE_MS
  }
  return a === b
}

function isObject (v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

// Appends [path, a, b] for every difference between a and b. With
// `partial`, a is an expectation: keys absent from it are not compared.
function diff (a, b, path, out, partial = false, key = null) {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      out.push([path, a, b])
      return out
    }
    a.forEach((v, i) => diff(v, b[i], `${path}[${i}]`, out, partial, key))
  } else if (isObject(a) && isObject(b)) {
    const keys = partial ? Object.keys(a) : [...new Set([...Object.keys(a), ...Object.keys(b)])]
    for (const k of keys) {
      if (!(k in a) || !(k in b)) out.push([`${path}.${k}`, k in a ? a[k] : '(absent)', k in b ? b[k] : '(absent)'])
      else diff(a[k], b[k], `${path}.${k}`, out, partial, k)
    }
  } else if (!leafEqual(a, b, key)) {
    out.push([path, a, b])
  }
  return out
}

// What the comparison looks at: for an error status only the status.
function comparable (n) {
  if (n.error) return { error: n.error }
  if (n.status >= 500) return { status: n.status }
  return { status: n.status, body: n.body, setCookies: n.setCookies }
}

// Differences between the two sides' normalised answers, as text lines.
// When the Set-Cookie headers differ, both are shown whole as well.
function compareSides (a, b) {
  const diffs = diff(comparable(a), comparable(b), '', [])
  const lines = diffs.map(([path, va, vb]) => `${path.slice(1) || 'answer'}: A ${show(va)}, B ${show(vb)}`)
  if (diffs.some(([path]) => path.startsWith('.setCookies'))) {
    lines.push(`Set-Cookie A: ${show(a.rawSetCookies)}`)
    lines.push(`Set-Cookie B: ${show(b.rawSetCookies)}`)
  }
  return lines
}

function show (v) {
  return v === undefined ? '(absent)' : JSON.stringify(v)
}

// Checks a step's "expect" block against one side's normalised answer;
// returns text lines naming what did not hold.
function checkExpect (expect, n, sessionName) {
  if (n.error) return [`request failed: ${n.error}`]
  const out = []
  if ('status' in expect && n.status !== expect.status) out.push(`status: expected ${expect.status}, got ${n.status}`)
  if ('body' in expect) {
    for (const [path, e, g] of diff(expect.body, n.body, 'body', [], true)) {
      out.push(`${path}: expected ${show(e)}, got ${show(g)}`)
    }
  }
  const cookies = n.setCookies.filter((c) => c.name === sessionName)
  if (cookies.length > 1) out.push(`${cookies.length} Set-Cookie headers for ${sessionName}`)
  const c = cookies[0]
  if ('setCookie' in expect) {
    if (expect.setCookie === null && c) out.push(`expected no Set-Cookie, got ${show(n.rawSetCookies)}`)
    if (expect.setCookie !== null && !c) out.push('expected a Set-Cookie, got none')
    if (typeof expect.setCookie === 'string' && c && c.id !== expect.setCookie) {
      out.push(`Set-Cookie id: expected ${expect.setCookie}, got ${c.id === undefined ? show(c.value) : c.id}`)
    }
  }
  if (c && 'signedWith' in expect && c.signedWith !== expect.signedWith) {
    out.push(`Set-Cookie signed with secret ${show(c.signedWith)}, expected ${expect.signedWith}`)
  }
  if (c && 'attrs' in expect) {
    for (const [name, want] of Object.entries(expect.attrs)) {
      const found = c.attrs.find(([k]) => k === name)
      if (want === false && found) out.push(`attribute ${name}: expected absent, got ${show(found[1] ?? name)}`)
      if (want === true && !found) out.push(`attribute ${name}: expected present, got absent`)
      if (typeof want === 'string' && (!found || found[1] !== want)) {
        out.push(`attribute ${name}: expected ${show(want)}, got ${found ? show(found[1]) : 'absent'}`)
      }
    }
  }
  return out
}

module.exports = { IdMap, normalize, compareSides, checkExpect }
