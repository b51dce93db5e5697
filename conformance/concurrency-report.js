#!/usr/bin/env node
'use strict'
// The concurrency cases of issue 6, played against the real express-session (the Node twin) and ours (a Rust
// conformance server), on the same protocol: what each side loses. It reports figures and asserts nothing;
// conformance/concurrency.js plays the same cases (conformance/runner/lib/concurrency.js) and asserts our
// guarantees on every Rust server and store.
//
//   node conformance/concurrency-report.js --a "<node twin command>" --b "<rust server command>"
//
// 1. 64 parallel requests of one session, each setting its own key: how many keys survive.
// 2. 200 parallel increments of one key: the final count.
// 3. A logout while 20 slow requests of the same session are in flight: is the session back afterwards?

const { Server } = require('./runner/lib/servers')
const { OPTIONS, Target, CONCURRENCY_CASES } = require('./runner/lib/concurrency')

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

async function main () {
  const { a, b } = args()
  const rows = []
  for (const [label, command] of [['express-session (Node)', a], ['express-session for Rust', b]]) {
    const server = new Server(label, command, {})
    await server.start(OPTIONS)
    try {
      const target = new Target([server.port])
      const row = [label]
      for (const c of CONCURRENCY_CASES) row.push((await c.run(target)).figure)
      rows.push(row)
    } finally {
      await server.stop()
    }
  }
  console.log(`| system | ${CONCURRENCY_CASES.map((c) => c.title).join(' | ')} |`)
  console.log(`|${'---|'.repeat(CONCURRENCY_CASES.length + 1)}`)
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}

main().catch((err) => { console.error(err); process.exit(1) })
