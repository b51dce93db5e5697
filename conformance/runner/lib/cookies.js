'use strict'
// Cookie helpers shared by the jar, the templates and the comparison:
// Set-Cookie parsing, express-session's signed-value format, and the
// templates that build raw Cookie headers from a side's own session cookie.

const crypto = require('node:crypto')

// express-session's signature: base64 (standard alphabet, no padding) of
// HMAC-SHA256(secret, value).
function signature (value, secret) {
  return crypto.createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')
}

// The cookie value express-session sends for `id` signed with `secret`.
function signedValue (id, secret) {
  return encodeURIComponent('s:' + id + '.' + signature(id, secret))
}

function secretList (options) {
  const s = options.secret
  if (s === undefined || s === null || s === '') return []
  return Array.isArray(s) ? s : [s]
}

// Splits a session cookie value `s%3A<id>.<sig>` (any percent-encoding)
// into its parts, without verifying anything; null if it is not of that form.
function decodeSessionValue (value) {
  let decoded
  try {
    decoded = decodeURIComponent(value)
  } catch {
    return null
  }
  if (!decoded.startsWith('s:')) return null
  const dot = decoded.lastIndexOf('.')
  if (dot < 2) return null
  return { decoded, id: decoded.slice(2, dot), sig: decoded.slice(dot + 1) }
}

// Which secret (index into the list) produced `sig` over `id`; null if none.
function signerIndex (id, sig, secrets) {
  const i = secrets.findIndex((secret) => signature(id, secret) === sig)
  return i === -1 ? null : i
}

// "name=value; Attr=x; Flag" -> {name, value, attrs: [[Attr, 'x'], [Flag, null]]}.
// Attribute names keep the case the server used.
function parseSetCookie (header) {
  const [pair, ...rest] = header.split(';')
  const eq = pair.indexOf('=')
  const name = (eq === -1 ? '' : pair.slice(0, eq)).trim()
  const value = (eq === -1 ? pair : pair.slice(eq + 1)).trim()
  const attrs = rest.map((part) => {
    const i = part.indexOf('=')
    return i === -1 ? [part.trim(), null] : [part.slice(0, i).trim(), part.slice(i + 1).trim()]
  })
  return { name, value, attrs }
}

// Replaces the last character of `s` by one that differs from it.
function changeLast (s) {
  return s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A')
}

// Transforms of a side's current session cookie, used as {{value:NAME}}.
// Each yields a Cookie value whose acceptance does not depend on the random
// id or signature, so both sides must agree on the outcome.
const VALUE_TRANSFORMS = {
  // s:<id>.<sig> sent without any percent-encoding
  decoded: (v) => v.decoded,
  // only the colon encoded, + and / of the signature literal
  colonOnly: (v) => 's%3A' + v.id + '.' + v.sig,
  // percent escapes in lower case: s%3a...%2b...
  lower: (v) => v.raw.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  // every byte percent-encoded, letters and the dot included
  allEncoded: (v) => Array.from(Buffer.from(v.decoded, 'utf8'), (b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''),
  // the separating dot as %2E
  dotEncoded: (v) => encodeURIComponent('s:' + v.id) + '%2E' + encodeURIComponent(v.sig),
  // encoded twice: decodes once to s%3A..., which is not "s:"
  double: (v) => encodeURIComponent(v.raw),
  tamperSig: (v) => encodeURIComponent('s:' + v.id + '.' + changeLast(v.sig)),
  tamperId: (v) => encodeURIComponent('s:' + changeLast(v.id) + '.' + v.sig),
  truncateSig: (v) => encodeURIComponent('s:' + v.id + '.' + v.sig.slice(0, -1)),
  appendChar: (v) => v.raw + 'x',
  pad: (v) => v.raw + '=',
  padEncoded: (v) => v.raw + '%3D',
  // an invalid escape at the end: decoding fails, the raw text is kept
  trailingPercent: (v) => v.raw + '%',
  // raw s: value with an invalid escape: kept raw, the signature then fails
  rawBadEscape: (v) => v.decoded + '%ZZ',
  upperS: (v) => encodeURIComponent('S:' + v.id + '.' + v.sig),
  noPrefix: (v) => encodeURIComponent(v.id + '.' + v.sig),
  unsigned: (v) => v.id,
  // the id re-signed with another secret: {{value:resign:SECRET}}
  resign: (v, secret) => signedValue(v.id, secret)
}

// Expands the templates of one raw Cookie header line:
//   {{jar}}              what the side's jar would send for this request
//   {{value}}            the side's session cookie, as last set by the server
//   {{value@N}}          the N-th distinct session cookie value it set (1-based)
//   {{value:TRANSFORM}}  (also {{value@N:TRANSFORM}}) that value transformed,
//                        see VALUE_TRANSFORMS; resign takes a secret:
//                        {{value:resign:SECRET}}
//   {{signed:ID}}        the literal ID signed with the first secret
//   {{signedBodyId}}     the id of the side's last answer body, signed with
//                        the first secret (a session the server never sent
//                        a cookie for)
// `ctx` = {jarHeader, sessionValues (oldest first), bodyId, secrets,
// onLiteralId}.
function expandTemplate (line, ctx) {
  const firstSecret = (what) => {
    if (!ctx.secrets.length) throw new Error(what + ': no secret configured')
    return ctx.secrets[0]
  }
  return line.replace(/\{\{([^}]*)\}\}/g, (whole, expr) => {
    const [head, ...args] = expr.split(':')
    if (head === 'jar' && args.length === 0) return ctx.jarHeader
    if (head === 'signed') {
      const id = args.join(':')
      ctx.onLiteralId(id)
      return signedValue(id, firstSecret(whole))
    }
    if (head === 'signedBodyId' && args.length === 0) {
      if (typeof ctx.bodyId !== 'string') throw new Error(whole + ': the last answer had no session id')
      return signedValue(ctx.bodyId, firstSecret(whole))
    }
    const m = /^value(?:@(\d+))?$/.exec(head)
    if (m) {
      const n = m[1] === undefined ? ctx.sessionValues.length : Number(m[1])
      const raw = ctx.sessionValues[n - 1]
      if (raw === undefined) throw new Error(`${whole}: this side has received ${ctx.sessionValues.length} session cookie(s)`)
      if (args.length === 0) return raw
      const parts = decodeSessionValue(raw)
      if (!parts) throw new Error(whole + ': the session cookie is not of the form s:<id>.<sig>')
      const transform = VALUE_TRANSFORMS[args[0]]
      if (!transform) throw new Error(whole + ': unknown transform ' + args[0])
      return transform({ raw, ...parts }, args.slice(1).join(':'))
    }
    throw new Error('unknown template ' + whole)
  })
}

module.exports = {
  signature,
  secretList,
  decodeSessionValue,
  signerIndex,
  parseSetCookie,
  expandTemplate
}
