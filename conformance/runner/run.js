#!/usr/bin/env node
'use strict'
// Differential conformance runner: plays every scenario against two
// servers that speak the harness protocol (conformance/README.md) and
// compares their answers.
//
//   node conformance/runner/run.js --a "<command>" --b "<command>"
//        [--store memory|redis|postgres] [--filter substring]
//
// Prints one line per scenario and, as the very last line,
// "N passed, M failed". Exits 1 if any scenario failed.

const path = require('node:path')
const crypto = require('node:crypto')
const { Server } = require('./lib/servers')
const { StoreIsolation } = require('./lib/stores')
const { playScenario } = require('./lib/play')
const { STORES, loadScenarios, loadKnownDifferences, isKnownDifference } = require('./lib/scenarios')

const CONFORMANCE_DIR = path.join(__dirname, '..')

function usage (message) {
  console.error(`${message}\nusage: node conformance/runner/run.js --a "<command>" --b "<command>" [--store ${STORES.join('|')}] [--filter substring]`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { store: 'memory', filter: '' }
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '')
    if (!['a', 'b', 'store', 'filter'].includes(key) || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`)
    args[key] = argv[++i]
  }
  if (!args.a || !args.b) usage('--a and --b are required')
  if (!STORES.includes(args.store)) usage(`unknown store ${args.store}`)
  return args
}

// Scenarios with the same options share one start of the servers; the
// order of first appearance is kept.
function groupByOptions (scenarios) {
  const groups = new Map()
  for (const s of scenarios) {
    const key = JSON.stringify(s.options)
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(s)
  }
  return [...groups.values()].flat()
}

// A scenario that changes server state beyond the store (a store
// "disconnect" event) must not share its servers with the next one.
function dirtiesServers (scenario) {
  return scenario.steps.some((step) => [step, ...(step.parallel || [])].some((r) => (r.ops || []).some((o) => o.op === 'storeEvent')))
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const all = loadScenarios(path.join(CONFORMANCE_DIR, 'scenarios'))
  const scenarios = groupByOptions(all.filter((s) => s.name.includes(args.filter) && s.stores.includes(args.store)))
  const known = loadKnownDifferences(path.join(CONFORMANCE_DIR, 'KNOWN_DIFFERENCES.md'))

  const runId = Date.now().toString(36) + crypto.randomBytes(3).toString('hex')
  const isolation = new StoreIsolation(args.store, runId)
  const servers = {
    A: new Server('A', args.a, isolation.env('A')),
    B: new Server('B', args.b, isolation.env('B'))
  }
  let running = null // JSON of the options both servers were started with

  async function start (options) {
    running = null
    await Promise.all([servers.A.stop(), servers.B.stop()])
    const withStore = { ...options, store: args.store }
    await Promise.all([servers.A.start(withStore), servers.B.start(withStore)])
    running = JSON.stringify(options)
  }

  console.log(`# store ${args.store}: ${scenarios.length} scenarios\n#   A: ${args.a}\n#   B: ${args.b}`)
  let passed = 0
  let failed = 0
  let knownCount = 0
  await isolation.prepare()
  try {
    for (const scenario of scenarios) {
      let problems
      try {
        if (running !== JSON.stringify(scenario.options)) await start(scenario.options)
        ;({ problems } = await playScenario(scenario, servers, start, isolation))
      } catch (err) {
        problems = [err.message]
        running = null
      }
      if (dirtiesServers(scenario)) running = null

      const isKnown = isKnownDifference(known, scenario.name, args.store)
      if (!problems.length) {
        passed++
        console.log(`ok    ${scenario.name}${isKnown ? '  (listed in KNOWN_DIFFERENCES.md but passes: remove it)' : ''}`)
      } else if (isKnown) {
        passed++
        knownCount++
        console.log(`known ${scenario.name}  (known difference)`)
        for (const line of problems) console.log(`        ${line}`)
      } else {
        failed++
        console.log(`FAIL  ${scenario.name}  [${scenario.file}]`)
        for (const line of problems) console.log(`        ${line}`)
      }
    }
  } finally {
    await Promise.all([servers.A.stop(), servers.B.stop()])
    await isolation.cleanup()
  }

  for (const name of known.keys()) {
    if (!all.some((s) => s.name === name)) {
      console.log(`# KNOWN_DIFFERENCES.md names an unknown scenario: ${name}`)
    }
  }
  if (knownCount) console.log(`# ${knownCount} of the passed scenarios are known differences`)
  console.log(`${passed} passed, ${failed} failed`)
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => {
  console.error(err.stack || err.message)
  process.exit(2)
})
