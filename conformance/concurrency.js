#!/usr/bin/env node
'use strict'
// Our concurrency guarantees and the hostile cookies, asserted over the
// conformance protocol against one server (a Rust conformance server, any
// framework) on one store. See conformance/README.md, "Concurrency cases".
//
//   node conformance/concurrency.js --server "<command>" [--store memory|redis|postgres]
//        [--twin "<command>"] [--filter substring-of-case-name]
//
// On redis and postgres two instances of the server run on one store (one
// key prefix / table of this run's own) and the requests of each case
// alternate between them; on memory one instance (a MemoryStore lives in
// one process). The hostile cookies are also sent to the Node twin (--twin,
// default the one in conformance/twin), which must give a fresh session
// too: the list claims nothing express-session does not do.
//
// One line per case ("ok" or "FAIL" and what did not hold), and as the very
// last line "N passed, M failed". Exit status 1 if a case failed, 2 for a
// usage or harness error.

const crypto = require('node:crypto')
const path = require('node:path')
const { Server } = require('./runner/lib/servers')
const { StoreIsolation } = require('./runner/lib/stores')
const { STORES } = require('./runner/lib/scenarios')
const { OPTIONS, Target, CONCURRENCY_CASES, OWNER_CASES, HOSTILE_COOKIES, hostileCookie } = require('./runner/lib/concurrency')

const DEFAULT_TWIN = `node ${path.relative(process.cwd(), path.join(__dirname, 'twin', 'server.js')) || 'server.js'}`

function usage (message) {
  console.error(`${message}\nusage: node conformance/concurrency.js --server "<command>" [--store ${STORES.join('|')}] [--twin "<command>"] [--filter substring]`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { store: 'memory', filter: '', twin: DEFAULT_TWIN }
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '')
    if (!['server', 'store', 'twin', 'filter'].includes(key) || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`)
    args[key] = argv[++i]
  }
  if (!args.server) usage('--server is required')
  if (!STORES.includes(args.store)) usage(`unknown store ${args.store}`)
  return args
}

let passed = 0
let failed = 0

function report (name, problems, figure) {
  if (problems.length) {
    failed++
    console.log(`FAIL  ${name}`)
    for (const line of problems) console.log(`        ${line}`)
  } else {
    passed++
    console.log(`ok    ${name}${figure ? `  (${figure})` : ''}`)
  }
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  // A case with a list of stores runs only on those.
  const cases = [...CONCURRENCY_CASES, ...OWNER_CASES].filter((c) => c.name.includes(args.filter) && (!c.stores || c.stores.includes(args.store)))
  const hostile = HOSTILE_COOKIES.filter((c) => c.name.includes(args.filter))
  const instances = args.store === 'memory' ? 1 : 2
  console.log(`# concurrency, store ${args.store}: ${cases.length + hostile.length + (hostile.length ? 1 : 0)} cases on ${instances} instance(s) of ${args.server}`)
  if (!cases.length && !hostile.length) {
    console.log('0 passed, 0 failed')
    return
  }
  if (args.store === 'memory') console.log('# memory: one instance (a MemoryStore lives in one process; two instances run on redis and postgres)')

  const runId = 'conc' + Date.now().toString(36) + crypto.randomBytes(3).toString('hex')
  const isolation = new StoreIsolation(args.store, runId)
  const options = { ...OPTIONS, store: args.store }
  // Side B of the isolation: the server's instances, all on one prefix / table. Side A: the Node twin.
  const servers = Array.from({ length: instances }, (_, i) => new Server(`instance ${i + 1}`, args.server, isolation.env('B')))
  const twin = new Server('Node twin', args.twin, isolation.env('A'))
  await isolation.prepare()
  try {
    await Promise.all(servers.map((s) => s.start(options)))
    const target = new Target(servers.map((s) => s.port), args.store === 'memory' ? null : (id) => isolation.hasRecord('B', id))
    for (const c of cases) {
      try {
        const { figure, problems } = await c.run(target)
        report(c.name, problems, figure)
      } catch (err) {
        report(c.name, [err.message])
      }
    }
    if (hostile.length) {
      await twin.start(options)
      const express = new Target([twin.port])
      const [victim, expressVictim] = [await target.login(), await express.login()]
      for (const [i, c] of hostile.entries()) {
        try {
          const onExpress = await hostileCookie(express, expressVictim, c.lines, 0)
          if (onExpress.length) {
            report(c.name, [`the Node twin gives no fresh session either, so this is no guarantee of express-session: ${onExpress.join('; ')}`])
          } else {
            report(c.name, await hostileCookie(target, victim, c.lines, i))
          }
        } catch (err) {
          report(c.name, [err.message])
        }
      }
      // None of them changed or ended the victim's session.
      const problems = []
      for (const i of target.ports.keys()) {
        const res = await target.post(i, [victim.cookie], [{ op: 'get', key: 'user' }])
        const body = res.body || {}
        if (res.status !== 200 || body.id !== victim.id || body.results[0] !== 'alice') {
          problems.push(`instance ${i + 1}: status ${res.status}, id ${JSON.stringify(body.id)}, user ${JSON.stringify(body.results && body.results[0])}`)
        }
      }
      report('hostile-cookie/victim-session-intact', problems)
    }
  } finally {
    await Promise.all([...servers, twin].map((s) => s.stop()))
    await isolation.cleanup()
  }
  console.log(`${passed} passed, ${failed} failed`)
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => {
  console.error(err.stack || err.message)
  process.exit(2)
})
