'use strict'
// A path-prefix reverse proxy in plain Node (the http module only), for Test C: several apps behind ONE origin.
//
// `startProxy({ routes: { node: 'http://127.0.0.1:4001', ... }, logDir })` listens on a free port of 127.0.0.1 and
// sends `/<name>/<rest>` to the app `<name>` as `/<rest>` (`/<name>` alone as `/`); any other path is a 404 of the
// proxy's own. The apps' links and redirects are absolute (`/`, `/login`, `/logout`), so what comes back is
// rewritten to stay under the prefix:
//
//   - a `Location` that is an absolute path (`/`, not `//host`) gets the prefix: `/` → `/actix/`;
//   - in an HTML body (`Content-Type: text/html`), `href="/…"` and `action="/…"` get the prefix, and
//     `Content-Length` is recomputed (the request goes upstream without `Accept-Encoding`, so bodies come back
//     uncompressed);
//   - every reply gets `X-Upstream: <name>`, the app that answered.
//
// Everything else goes through untouched, in particular `Set-Cookie` (its `Path=/` covers every prefix: one
// cookie for the one origin) and the headers the test tells the frameworks apart by (`X-Powered-By`, `Allow`).
// Upstream requests carry `X-Forwarded-Host`, `X-Forwarded-Proto` and `X-Forwarded-Prefix`. A line per request
// goes to <logDir>/proxy.log. Returns { url, port, stop }.

const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')

const UPSTREAM_TIMEOUT = 10_000

/** `value` with the absolute path it starts with (`/…`, not `//…`) moved under `prefix`; otherwise as it is. */
function prefixPath (value, prefix) {
  return /^\/(?!\/)/.test(value) ? prefix + value : value
}

/** The HTML `body` with every `href="/…"` and `action="/…"` (not `//…`) moved under `prefix`. */
function rewriteHtml (body, prefix) {
  return body.replace(/\b(href|action)=(["'])\/(?!\/)/gi, (_, name, quote) => `${name}=${quote}${prefix}/`)
}

/** Which route `pathname` belongs to: { name, rest } or null. */
function route (routes, url) {
  const match = /^\/([^/?#]+)(\/[^?#]*)?(\?.*)?$/.exec(url)
  if (!match || !Object.hasOwn(routes, match[1])) return null
  return { name: match[1], rest: (match[2] || '/') + (match[3] || '') }
}

function startProxy ({ routes, logDir }) {
  const log = logDir ? fs.createWriteStream(path.join(logDir, 'proxy.log'), { flags: 'a' }) : null
  const note = (line) => log?.write(`${new Date().toISOString()} ${line}\n`)

  const server = http.createServer((req, res) => {
    const target = route(routes, req.url)
    if (!target) {
      note(`${req.method} ${req.url} -> 404 (no route)`)
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`no app at ${req.url}; the routes are ${Object.keys(routes).map((n) => `/${n}/`).join(', ')}\n`)
      return
    }
    const prefix = `/${target.name}`
    const upstream = new URL(routes[target.name])
    const headers = { ...req.headers }
    delete headers['accept-encoding'] // bodies come back as they are, to be rewritten
    headers['x-forwarded-host'] = req.headers.host ?? ''
    headers['x-forwarded-proto'] = 'http'
    headers['x-forwarded-prefix'] = prefix
    headers.host = upstream.host
    const forward = http.request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: target.rest,
      headers,
      timeout: UPSTREAM_TIMEOUT
    }, (reply) => {
      const out = { ...reply.headers, 'x-upstream': target.name }
      if (typeof out.location === 'string') out.location = prefixPath(out.location, prefix)
      const html = /^text\/html\b/i.test(reply.headers['content-type'] ?? '') && !reply.headers['content-encoding']
      note(`${req.method} ${req.url} -> ${target.name} ${target.rest}: ${reply.statusCode}` +
        (out.location ? ` Location: ${reply.headers.location} -> ${out.location}` : '') + (html ? ' (html)' : ''))
      if (!html || req.method === 'HEAD') {
        res.writeHead(reply.statusCode, reply.statusMessage, out)
        reply.pipe(res)
        return
      }
      const chunks = []
      reply.on('data', (chunk) => chunks.push(chunk))
      reply.on('error', (error) => res.destroy(error))
      reply.on('end', () => {
        const body = Buffer.from(rewriteHtml(Buffer.concat(chunks).toString('utf8'), prefix), 'utf8')
        delete out['transfer-encoding']
        out['content-length'] = String(body.length)
        res.writeHead(reply.statusCode, reply.statusMessage, out)
        res.end(body)
      })
    })
    forward.on('timeout', () => forward.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT / 1000} s`)))
    forward.on('error', (error) => {
      note(`${req.method} ${req.url} -> ${target.name}: 502 (${error.message})`)
      if (res.headersSent) {
        res.destroy(error)
      } else {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'x-upstream': target.name })
        res.end(`${target.name} did not answer: ${error.message}\n`)
      }
    })
    req.pipe(forward)
  })

  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      note(`listening on http://127.0.0.1:${port}: ` +
        Object.entries(routes).map(([n, u]) => `/${n}/ -> ${u}`).join(', '))
      const stop = () => new Promise((resolve) => {
        server.close(() => log ? log.end(resolve) : resolve())
        server.closeAllConnections()
      })
      resolve({ port, url: `http://127.0.0.1:${port}`, stop })
    })
  })
}

module.exports = { prefixPath, rewriteHtml, startProxy }
