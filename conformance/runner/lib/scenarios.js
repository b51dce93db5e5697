'use strict'
// Loading and validating scenarios (conformance/scenarios/*.json) and the
// list of known differences (conformance/KNOWN_DIFFERENCES.md). The format
// is described in conformance/README.md. Validation is strict, so that a
// misspelt key fails loudly instead of silently testing nothing.

const fs = require('node:fs')
const path = require('node:path')

const STORES = ['memory', 'redis', 'postgres']

const OPTION_KEYS = ['secret', 'name', 'resave', 'rolling', 'saveUninitialized', 'unset', 'proxy', 'cookie', 'trustProxy', 'storeFail']
const COOKIE_KEYS = ['maxAge', 'expires', 'domain', 'path', 'httpOnly', 'secure', 'sameSite', 'partitioned', 'priority']
const REQUEST_KEYS = ['method', 'path', 'headers', 'ops', 'cookies', 'expect', 'note', 'delay_ms']
const EXPECT_KEYS = ['status', 'body', 'setCookie', 'attrs', 'signedWith']

// op name -> the fields it requires
const OPS = {
  get: ['key'],
  set: ['key', 'value'],
  remove: ['key'],
  incr: ['key'],
  regenerate: [],
  destroy: [],
  reload: [],
  save: [],
  touch: [],
  resetMaxAge: [],
  setMaxAge: ['value'],
  setCookieField: ['field', 'value'],
  unset: [],
  status: ['value'],
  error: [],
  sleep: ['ms'],
  storeEvent: ['event'],
  login: ['value'],
  sessionsOf: [],
  logoutOthers: [],
  logoutEverywhere: []
}

function fail (where, message) {
  throw new Error(`${where}: ${message}`)
}

function onlyKeys (obj, allowed, where) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail(where, 'must be an object')
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(where, `unknown key "${k}"`)
}

function validateOptions (options, where) {
  onlyKeys(options, OPTION_KEYS, where)
  if ('cookie' in options) onlyKeys(options.cookie, COOKIE_KEYS, where + '.cookie')
  if ('storeFail' in options) onlyKeys(options.storeFail, ['get', 'set', 'touch', 'destroy'], where + '.storeFail')
}

function validateRequest (req, where, inParallel) {
  onlyKeys(req, REQUEST_KEYS, where)
  if ('delay_ms' in req && !inParallel) fail(where, 'delay_ms is only allowed inside "parallel"')
  if ('method' in req && !['GET', 'POST'].includes(req.method)) fail(where, 'method must be GET or POST')
  // An absolute https target (absolute-form request line) is allowed, to check that the client's scheme is not TLS.
  if ('path' in req && (typeof req.path !== 'string' || !(req.path.startsWith('/') || req.path.startsWith('https://')))) {
    fail(where, 'path must start with / (or be an absolute https:// target)')
  }
  if ('headers' in req) {
    for (const [k, v] of Object.entries(req.headers)) {
      if (k.toLowerCase() === 'cookie') fail(where, 'send cookies with "cookies", not "headers"')
      if (typeof v !== 'string' && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
        fail(where, `header ${k} must be a string or an array of strings`)
      }
    }
  }
  if ('cookies' in req && !(Array.isArray(req.cookies) && req.cookies.every((x) => typeof x === 'string'))) {
    fail(where, 'cookies must be an array of raw Cookie header lines')
  }
  for (const [i, op] of (req.ops || []).entries()) {
    const w = `${where}.ops[${i}]`
    if (!op || !(op.op in OPS)) fail(w, `unknown op ${JSON.stringify(op && op.op)}`)
    for (const field of OPS[op.op]) if (!(field in op)) fail(w, `op ${op.op} needs "${field}"`)
    for (const k of Object.keys(op)) if (k !== 'op' && !OPS[op.op].includes(k)) fail(w, `unknown key "${k}"`)
  }
  if ('expect' in req) {
    const e = req.expect
    onlyKeys(e, EXPECT_KEYS, where + '.expect')
    if (('attrs' in e || 'signedWith' in e) && !e.setCookie) fail(where + '.expect', 'attrs and signedWith need setCookie')
    if ('setCookie' in e && !(e.setCookie === null || e.setCookie === true || typeof e.setCookie === 'string')) {
      fail(where + '.expect', 'setCookie must be null, true or a placeholder')
    }
  }
}

function validateScenario (s, where) {
  onlyKeys(s, ['name', 'description', 'options', 'stores', 'steps'], where)
  if (typeof s.name !== 'string' || !s.name) fail(where, 'needs a name')
  where = `scenario "${s.name}"`
  validateOptions(s.options || {}, where + ' options')
  if ('stores' in s && !(Array.isArray(s.stores) && s.stores.every((x) => STORES.includes(x)))) {
    fail(where, `stores must be a list of ${STORES.join(', ')}`)
  }
  if (!Array.isArray(s.steps) || !s.steps.length) fail(where, 'needs steps')
  let restarts = false
  for (const [i, step] of s.steps.entries()) {
    const w = `${where} step ${i + 1}`
    if ('sleep_ms' in step) {
      onlyKeys(step, ['sleep_ms', 'note'], w)
    } else if ('restart' in step) {
      onlyKeys(step, ['restart', 'note'], w)
      validateOptions(step.restart, w + ' restart')
      restarts = true
    } else if ('writeRecord' in step) {
      onlyKeys(step, ['writeRecord', 'note'], w)
      onlyKeys(step.writeRecord, ['id', 'text'], w + ' writeRecord')
      if (typeof step.writeRecord.id !== 'string' || typeof step.writeRecord.text !== 'string') fail(w, 'writeRecord needs an id and a text (strings)')
      if ((s.stores || STORES).includes('memory')) fail(where, 'a scenario with "writeRecord" cannot run on the memory store')
    } else if ('record' in step) {
      onlyKeys(step, ['record', 'note'], w)
      onlyKeys(step.record, ['id', 'expect'], w + ' record')
      if ('id' in step.record && typeof step.record.id !== 'string') fail(w, 'record id must be a string')
      if ('expect' in step.record && typeof step.record.expect !== 'string' && step.record.expect !== null) fail(w, 'record expect must be a string or null')
    } else if ('parallel' in step) {
      onlyKeys(step, ['parallel', 'note'], w)
      step.parallel.forEach((r, j) => validateRequest(r, `${w} parallel[${j}]`, true))
    } else {
      validateRequest(step, w, false)
    }
  }
  // A restart empties a MemoryStore, so such scenarios need a real store.
  if (restarts && (s.stores || STORES).includes('memory')) fail(where, 'a scenario with "restart" cannot run on the memory store')
}

// All scenarios of a directory, in file-name order, names unique.
function loadScenarios (dir) {
  const all = []
  const names = new Set()
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    let list
    try {
      list = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
    } catch (err) {
      throw new Error(`${file}: ${err.message}`)
    }
    if (!Array.isArray(list)) throw new Error(`${file}: must hold an array of scenarios`)
    list.forEach((s, i) => {
      validateScenario(s, `${file}[${i}]`)
      if (names.has(s.name)) throw new Error(`${file}: duplicate scenario name "${s.name}"`)
      names.add(s.name)
      all.push({ ...s, options: s.options || {}, stores: s.stores || STORES, file })
    })
  }
  return all
}

// KNOWN_DIFFERENCES.md: every list item that starts with a scenario name in
// backticks is an entry, optionally restricted to stores in parentheses:
//   - `cookie/expires-invalid`: why ...
//   - `expiry/maxage-zero` (postgres): why ...
// Lines inside ``` fences (format examples) are skipped.
// Returns name -> list of stores (null = every store).
function loadKnownDifferences (file) {
  const known = new Map()
  if (!fs.existsSync(file)) return known
  let fenced = false
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trimStart().startsWith('```')) fenced = !fenced
    if (fenced) continue
    const m = /^\s*[-*]\s+`([^`]+)`(?:\s*\(([^)]*)\))?/.exec(line)
    if (!m) continue
    const stores = m[2] ? m[2].split(',').map((x) => x.trim()) : null
    if (stores && !stores.every((x) => STORES.includes(x))) throw new Error(`${file}: bad store list in: ${line}`)
    known.set(m[1], stores)
  }
  return known
}

function isKnownDifference (known, name, store) {
  if (!known.has(name)) return false
  const stores = known.get(name)
  return stores === null || stores.includes(store)
}

module.exports = { STORES, loadScenarios, loadKnownDifferences, isKnownDifference }
