'use strict'
// A browser-like cookie jar for one side of a scenario (RFC 6265 §5.3 and
// §5.4, reduced to what the harness needs). All servers live on 127.0.0.1,
// so Domain is ignored, and Secure cookies are kept and sent as if the
// client were behind the TLS-terminating proxy the scenario pretends to use.

const { parseSetCookie } = require('./cookies')

// RFC 6265 §5.1.4 default-path: the request path up to its last '/'.
function defaultPath (requestPath) {
  if (!requestPath.startsWith('/')) return '/'
  const last = requestPath.lastIndexOf('/')
  return last === 0 ? '/' : requestPath.slice(0, last)
}

// RFC 6265 §5.1.4 path-match. Unlike express-session's own gate (a raw
// string prefix), "/foo" does not match "/foobar".
function pathMatches (requestPath, cookiePath) {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

function pathOnly (target) {
  const q = target.search(/[?#]/)
  return q === -1 ? target : target.slice(0, q)
}

class CookieJar {
  constructor () {
    this.cookies = [] // {name, value, path, expiresMs (null = session cookie), created}
    this.values = new Map() // name -> distinct values set for it, oldest first, even if expired since
    this.counter = 0
  }

  // Applies the Set-Cookie headers of a response to `requestTarget`.
  apply (setCookieHeaders, requestTarget, now = Date.now()) {
    for (const header of setCookieHeaders) {
      const c = parseSetCookie(header)
      if (!c.name) continue
      let path = null
      let expiresMs = null
      let maxAgeSeen = false
      for (const [attr, value] of c.attrs) {
        const a = attr.toLowerCase()
        if (a === 'path' && value && value.startsWith('/')) path = value
        if (a === 'max-age' && value !== null && /^-?\d+$/.test(value)) {
          // Max-Age wins over Expires (RFC 6265 §5.3 step 3)
          maxAgeSeen = true
          expiresMs = Number(value) <= 0 ? -Infinity : now + Number(value) * 1000
        }
        if (a === 'expires' && !maxAgeSeen && value !== null) {
          const t = Date.parse(value)
          if (!Number.isNaN(t)) expiresMs = t
        }
      }
      if (path === null) path = defaultPath(pathOnly(requestTarget))
      const seen = this.values.get(c.name) || []
      if (seen[seen.length - 1] !== c.value) this.values.set(c.name, [...seen, c.value])
      this.cookies = this.cookies.filter((k) => !(k.name === c.name && k.path === path))
      if (expiresMs !== null && expiresMs <= now) continue // an expiring Set-Cookie deletes
      this.cookies.push({ name: c.name, value: c.value, path, expiresMs, created: this.counter++ })
    }
  }

  // The Cookie header a browser would send to `requestTarget`, or '' if none:
  // unexpired, path-matching cookies, longer paths first (RFC 6265 §5.4).
  header (requestTarget, now = Date.now()) {
    const path = pathOnly(requestTarget)
    return this.cookies
      .filter((c) => (c.expiresMs === null || c.expiresMs > now) && pathMatches(path, c.path))
      .sort((x, y) => y.path.length - x.path.length || x.created - y.created)
      .map((c) => c.name + '=' + c.value)
      .join('; ')
  }

  // The distinct values the server set for cookie `name`, oldest first.
  history (name) {
    return this.values.get(name) || []
  }
}

module.exports = { CookieJar }
