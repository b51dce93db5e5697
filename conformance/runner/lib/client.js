'use strict'
// One HTTP request with full control of the raw headers (node:http, not
// fetch): several Cookie header lines can be sent, and every Set-Cookie
// header of the answer is seen on its own. Headers are given as a flat
// [name, value, name, value, ...] list, the only form in which node:http
// does not join repeated Cookie headers into one line.

const http = require('node:http')

const REQUEST_TIMEOUT_MS = 15000

// headers: [[name, value], ...], sent in that order, one line each; Host
// and Content-Length are added unless given. body: a string or undefined.
function send ({ port, method, path, headers, body }) {
  const names = new Set(headers.map(([name]) => name.toLowerCase()))
  const lines = []
  if (!names.has('host')) lines.push(['Host', `127.0.0.1:${port}`])
  lines.push(...headers)
  if (body !== undefined && !names.has('content-length')) lines.push(['Content-Length', String(Buffer.byteLength(body))])
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path,
      headers: lines.flat(),
      agent: false, // a fresh connection per request, closed afterwards
      timeout: REQUEST_TIMEOUT_MS
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        resolve({
          status: res.statusCode,
          setCookies: res.headers['set-cookie'] || [],
          text: Buffer.concat(chunks).toString('utf8')
        })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

module.exports = { send }
