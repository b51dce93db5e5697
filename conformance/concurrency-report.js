#!/usr/bin/env node
'use strict'
// The concurrency tests of issue 6, played against the real express-session (the Node twin) and ours (the
// Rust conformance server), on the same protocol: what each side loses. It reports figures and asserts
// nothing about express; for ours the same guarantees are asserted by the Rust store suites.
//
//   node conformance/concurrency-report.js --a "<node twin command>" --b "<rust server command>"
//
// 1. 64 parallel requests of one session, each setting its own key: how many keys survive.
// 2. 200 parallel increments of one key: the final count.
// 3. A logout while 20 slow requests of the same session are in flight: is the session back afterwards?

const { Server } = require('./runner/lib/servers')
const { send } = require('./runner/lib/client')

function args () {
  const out = {}
  const argv = process.argv.slice(2)
  for (let i = 0; i + 1 < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1]
  if (!out.a || !out.b) {
    console.error('usage: node conformance/concurrency-report.js --a "<command>" --b "<command>"')
    process.exit(2)
  }
  return out
}

const OPTIONS = { secret: 'keyboard cat', resave: false, saveUninitialized: true }

async function ops (port, cookie, list) {
  const headers = [['Content-Type', 'application/json']]
  if (cookie) headers.push(['Cookie', cookie])
  const res = await send({ port, method: 'POST', path: '/', headers, body: JSON.stringify({ ops: list }) })
  return { status: res.status, body: res.text ? JSON.parse(res.text) : null, setCookies: res.setCookies }
}

async function login (port) {
  const res = await ops(port, null, [{ op: 'set', key: 'user', value: 'alice' }])
  return res.setCookies[0].split(';')[0]
}

async function parallelKeys (port) {
  const cookie = await login(port)
  await Promise.all(Array.from({ length: 64 }, (_, i) => ops(port, cookie, [{ op: 'sleep', ms: 20 }, { op: 'set', key: `k${i}`, value: true }])))
  const read = await ops(port, cookie, Array.from({ length: 64 }, (_, i) => ({ op: 'get', key: `k${i}` })))
  return read.body.results.filter((v) => v === true).length
}

async function parallelIncrements (port) {
  const cookie = await login(port)
  await Promise.all(Array.from({ length: 200 }, () => ops(port, cookie, [{ op: 'sleep', ms: 10 }, { op: 'incr', key: 'n' }])))
  const read = await ops(port, cookie, [{ op: 'get', key: 'n' }])
  return read.body.results[0]
}

async function logoutDuringSlowRequests (port) {
  const cookie = await login(port)
  const slow = Array.from({ length: 20 }, (_, i) => ops(port, cookie, [{ op: 'get', key: 'user' }, { op: 'sleep', ms: 300 }, { op: 'set', key: `s${i}`, value: true }]))
  await new Promise((resolve) => setTimeout(resolve, 100))
  await ops(port, cookie, [{ op: 'destroy' }])
  await Promise.all(slow)
  const after = await ops(port, cookie, [{ op: 'get', key: 'user' }])
  return after.body.results[0] === 'alice' ? 'recreated' : 'stays destroyed'
}

async function main () {
  const { a, b } = args()
  const rows = []
  for (const [label, command] of [['express-session (Node)', a], ['express-session for Rust', b]]) {
    const server = new Server(label, command, {})
    await server.start(OPTIONS)
    try {
      rows.push([label, `${await parallelKeys(server.port)} of 64`, `${await parallelIncrements(server.port)} of 200`, await logoutDuringSlowRequests(server.port)])
    } finally {
      await server.stop()
    }
  }
  console.log('| system | 64 parallel keys kept | 200 parallel increments | logout during 20 slow requests |')
  console.log('|---|---|---|---|')
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}

main().catch((err) => { console.error(err); process.exit(1) })
