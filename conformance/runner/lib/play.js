'use strict'
// Playing one scenario against both sides at once.

const { setTimeout: sleep } = require('node:timers/promises')
const { send } = require('./client')
const { CookieJar } = require('./jar')
const { secretList, expandTemplate } = require('./cookies')
const { IdMap, normalize, compareSides, checkExpect } = require('./compare')

const SIDES = ['A', 'B']

function sessionInfo (options) {
  return { name: options.name || 'connect.sid', secrets: secretList(options) }
}

// The HTTP request for `req` on one side: templates expanded against that
// side's jar, ids and options. Throws if a template cannot be expanded.
function buildRequest (req, side, options) {
  const target = req.path || '/'
  const ops = req.ops
  const method = req.method || (ops ? 'POST' : 'GET')
  const headers = []
  for (const [name, value] of Object.entries(req.headers || {})) {
    for (const v of [].concat(value)) headers.push([name, v])
  }
  const jarHeader = side.jar.header(target)
  if (req.cookies) {
    const session = sessionInfo(options)
    const ctx = {
      jarHeader,
      sessionValues: side.jar.history(session.name),
      bodyId: side.lastBodyId,
      secrets: session.secrets,
      onLiteralId: (id) => side.ids.literal(id)
    }
    for (const line of req.cookies) headers.push(['Cookie', expandTemplate(line, ctx)])
  } else if (jarHeader) {
    headers.push(['Cookie', jarHeader])
  }
  let body
  if (method === 'POST') {
    headers.push(['Content-Type', 'application/json'])
    body = JSON.stringify({ ops: ops || [] })
  }
  return { method, path: target, headers, body }
}

// Sends the requests of one step (one, or several for "parallel") on one
// side; each answer is {status, setCookies, text} or {error}.
async function sendAll (reqs, side, options) {
  let built
  try {
    built = reqs.map((r) => buildRequest(r, side, options))
  } catch (err) {
    return reqs.map(() => ({ error: `cannot build the request: ${err.message}` }))
  }
  return Promise.all(built.map(async (b, i) => {
    if (reqs[i].delay_ms) await sleep(reqs[i].delay_ms)
    try {
      return await send({ port: side.server.port, ...b })
    } catch (err) {
      return { error: `${err.message}\n${side.server.logTail()}` }
    }
  }))
}

// The session id in an answer's body, or null.
function bodyId (answer) {
  try {
    const id = JSON.parse(answer.text).id
    return typeof id === 'string' ? id : null
  } catch {
    return null
  }
}

function describe (req) {
  const method = req.method || (req.ops ? 'POST' : 'GET')
  const ops = (req.ops || []).map((o) => o.op).join(',')
  return `${method} ${req.path || '/'}${ops ? ` [${ops}]` : ''}`
}

// A "record" step: the stored text of a record on each side (the literal
// `id`, or the id in the side's last answer body), the same bytes on both
// sides and, with `expect`, those bytes. Skipped on the memory store, which
// the runner cannot read.
async function checkRecord (record, i, sides, isolation) {
  const texts = {}
  for (const s of SIDES) {
    const id = record.id || sides[s].lastBodyId
    if (!id) return [`step ${i + 1} (record): side ${s} has no session id to read`]
    texts[s] = await isolation.readRecord(s, id)
    if (texts[s] === undefined) return []
  }
  const problems = []
  if (texts.A !== texts.B) problems.push(`step ${i + 1} (record): A stored ${JSON.stringify(texts.A)}, B stored ${JSON.stringify(texts.B)}`)
  if ('expect' in record) {
    for (const s of SIDES) {
      if (texts[s] !== record.expect) problems.push(`step ${i + 1} (record): ${s} stored ${JSON.stringify(texts[s])}, expected ${JSON.stringify(record.expect)}`)
    }
  }
  return problems
}

// Plays `scenario`; `servers` = {A, B} (Server), `restart(options)` restarts
// both with other options, `isolation` (StoreIsolation) reads and writes
// the stores' records for "writeRecord" and "record" steps. Returns {problems: [lines]} (empty = agreement),
// stopping at the first step where the sides disagree or an expectation
// fails, since everything after it would differ as a consequence.
async function playScenario (scenario, servers, restart, isolation) {
  const sides = {}
  for (const s of SIDES) sides[s] = { server: servers[s], jar: new CookieJar(), ids: new IdMap(), lastBodyId: null }
  let options = scenario.options

  for (const [i, step] of scenario.steps.entries()) {
    if ('sleep_ms' in step) {
      await sleep(step.sleep_ms)
      continue
    }
    if ('writeRecord' in step) {
      const { id, text } = step.writeRecord
      await Promise.all(SIDES.map((s) => isolation.writeRecord(s, id, text)))
      continue
    }
    if ('record' in step) {
      const problems = await checkRecord(step.record, i, sides, isolation)
      if (problems.length) return { problems }
      continue
    }
    if ('restart' in step) {
      options = step.restart
      await restart(options)
      continue
    }
    const reqs = step.parallel || [step]
    const [answersA, answersB] = await Promise.all(SIDES.map((s) => sendAll(reqs, sides[s], options)))
    const session = sessionInfo(options)
    const problems = []
    reqs.forEach((req, j) => {
      const label = `step ${i + 1}${step.parallel ? `.${j + 1}` : ''} (${describe(req)})`
      const a = normalize(answersA[j], sides.A.ids, session)
      const b = normalize(answersB[j], sides.B.ids, session)
      for (const line of compareSides(a, b)) problems.push(`${label}: ${line}`)
      if (req.expect) {
        for (const [name, n] of [['A', a], ['B', b]]) {
          for (const line of checkExpect(req.expect, n, session.name)) problems.push(`${label}: ${name} ${line}`)
        }
      }
      for (const [s, answer] of [[sides.A, answersA[j]], [sides.B, answersB[j]]]) {
        if (answer.error) continue
        s.jar.apply(answer.setCookies, req.path || '/')
        s.lastBodyId = bodyId(answer)
      }
    })
    if (problems.length) return { problems }
  }
  return { problems: [] }
}

module.exports = { playScenario }
