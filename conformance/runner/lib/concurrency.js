'use strict'
// The concurrency cases and the hostile cookies, played over the protocol
// against the instances of one server on one store. One implementation of
// each case, used by conformance/concurrency.js (which asserts our
// guarantees) and conformance/concurrency-report.js (which prints what each
// system keeps, express-session included).
//
// A case returns {figure, problems}: `figure` is what the report prints,
// `problems` the guarantees that did not hold (empty: the case passed).

const crypto = require('node:crypto')
const { send } = require('./client')
const { decodeSessionValue, parseSetCookie, signature } = require('./cookies')

const SECRET = 'keyboard cat'
const OPTIONS = { secret: SECRET, resave: false, saveUninitialized: true }
const NAME = 'connect.sid'

// The instances of one server on one store. Request i goes to instance
// i mod n, so consecutive requests alternate between two instances.
// `hasRecord(id)` asks the store itself (true/false), or is null when the
// store cannot be looked at from outside the server (memory).
class Target {
  constructor (ports, hasRecord = null) {
    this.ports = ports
    this.hasRecord = hasRecord
  }

  // POST / with these ops on instance i mod n; `cookies` are raw Cookie
  // header lines (one header each). The answer: status, parsed body (null
  // if not JSON), every Set-Cookie, and `sessionCookie`: the session
  // cookie's {value, id, sig} when one was set (id null if not s:<id>.<sig>).
  async post (i, cookies, ops) {
    const port = this.ports[i % this.ports.length]
    const headers = [['Content-Type', 'application/json'], ...cookies.map((line) => ['Cookie', line])]
    const res = await send({ port, method: 'POST', path: '/', headers, body: JSON.stringify({ ops }) })
    let body = null
    try { body = JSON.parse(res.text) } catch {}
    return { status: res.status, body, setCookies: res.setCookies, sessionCookie: sessionCookie(res.setCookies) }
  }

  // A logged-in session (user = alice), created on the first instance.
  async login () {
    const res = await this.post(0, [], [{ op: 'set', key: 'user', value: 'alice' }])
    if (res.status !== 200 || !res.sessionCookie || !res.sessionCookie.id) {
      throw new Error(`login: status ${res.status}, Set-Cookie ${JSON.stringify(res.setCookies)}`)
    }
    return { ...res.sessionCookie, cookie: `${NAME}=${res.sessionCookie.value}` }
  }

  // A login of `owner` (the `login` op: regenerate, then the owner named)
  // on instance i mod n, from a device without a cookie: its {value, id,
  // sig, cookie}.
  async loginAs (i, owner) {
    const res = await this.post(i, [], [{ op: 'login', value: owner }])
    if (res.status !== 200 || !res.body || res.body.results[0] !== null || !res.sessionCookie || !res.sessionCookie.id) {
      throw new Error(`login of ${owner}: status ${res.status}, body ${JSON.stringify(res.body)}, Set-Cookie ${JSON.stringify(res.setCookies)}`)
    }
    return { ...res.sessionCookie, cookie: `${NAME}=${res.sessionCookie.value}` }
  }

  // The result of one op on instance i mod n with this cookie (an
  // {error} object for a failed op; `status N` for an answer that is not a
  // 200 with results).
  async one (i, cookie, op) {
    const res = await this.post(i, [cookie], [op])
    return res.status === 200 && res.body && Array.isArray(res.body.results) ? res.body.results[0] : `status ${res.status}`
  }
}

function sessionCookie (setCookies) {
  const header = setCookies.map(parseSetCookie).find((c) => c.name === NAME)
  if (!header) return null
  const parts = decodeSessionValue(header.value)
  return { value: header.value, id: parts ? parts.id : null, sig: parts ? parts.sig : null }
}

const range = (n) => Array.from({ length: n }, (_, i) => i)

// Answers whose status is not 200, or whose op results hold an error.
function badAnswers (replies) {
  const bad = []
  replies.forEach((r, i) => {
    if (r.status !== 200) bad.push(`request ${i}: status ${r.status}`)
    else if (!r.body || !Array.isArray(r.body.results)) bad.push(`request ${i}: body ${JSON.stringify(r.body)}`)
    else {
      const errors = r.body.results.filter((v) => v && typeof v === 'object' && 'error' in v)
      if (errors.length) bad.push(`request ${i}: ${JSON.stringify(errors[0])}`)
    }
  })
  return bad.length > 3 ? [...bad.slice(0, 3), `... ${bad.length} answers in all`] : bad
}

// 1. 64 parallel requests of one session, each setting its own key after a
// short sleep: every key is kept, and the key none of them touched too.
async function parallelKeys (t) {
  const login = await t.login()
  const replies = await Promise.all(range(64).map((i) => t.post(i, [login.cookie], [{ op: 'sleep', ms: 20 }, { op: 'set', key: `k${i}`, value: true }])))
  const problems = badAnswers(replies)
  const read = await t.post(1, [login.cookie], [{ op: 'get', key: 'user' }, ...range(64).map((i) => ({ op: 'get', key: `k${i}` }))])
  if (read.status !== 200 || !read.body) return { figure: `status ${read.status}`, problems: [...problems, `the read answered ${read.status}`] }
  const [user, ...keys] = read.body.results
  const lost = range(64).filter((i) => keys[i] !== true)
  if (lost.length) problems.push(`${lost.length} of 64 keys lost: ${lost.slice(0, 8).map((i) => `k${i}`).join(' ')}${lost.length > 8 ? ' ...' : ''}`)
  if (user !== 'alice') problems.push(`the untouched key user is ${JSON.stringify(user)}`)
  return { figure: `${64 - lost.length} of 64`, problems }
}

// 2. 200 parallel increments of one key (the `incr` op, an atomic update on
// the Rust servers) after a short sleep: the count is 200.
async function parallelIncrements (t) {
  const login = await t.login()
  const replies = await Promise.all(range(200).map((i) => t.post(i, [login.cookie], [{ op: 'sleep', ms: 10 }, { op: 'incr', key: 'n' }])))
  const problems = badAnswers(replies)
  const read = await t.post(1, [login.cookie], [{ op: 'get', key: 'n' }])
  const n = read.body ? read.body.results[0] : `status ${read.status}`
  if (n !== 200) problems.push(`the count is ${JSON.stringify(n)}, not 200`)
  return { figure: `${n} of 200`, problems }
}

// 3. A logout (destroy) while 20 slow requests of the same session are in
// flight (each has read the session, sleeps, then sets a key): afterwards
// the session is gone (the old cookie is a new session on every instance,
// and the store, where it can be looked at, has no record under the id), and
// no answer sent a cookie naming the destroyed id.
async function logoutDuringSlowRequests (t) {
  const login = await t.login()
  const problems = []
  // The store check must see the live session, or its "no record" below proves nothing.
  if (t.hasRecord && !(await t.hasRecord(login.id))) problems.push('the store check does not see the live session')
  const ended = []
  const slow = Promise.all(range(20).map((i) => t.post(i, [login.cookie], [{ op: 'get', key: 'user' }, { op: 'sleep', ms: 300 }, { op: 'set', key: `s${i}`, value: true }])
    .then((r) => { ended.push(Date.now()); return r })))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const logout = await t.post(1, [login.cookie], [{ op: 'destroy' }])
  const logoutEnded = Date.now()
  const replies = await slow
  problems.push(...badAnswers([logout, ...replies]))
  // The case is only a test if the logout ended while slow requests that had read the session were in flight.
  if (Math.min(...ended) <= logoutEnded) problems.push('a slow request ended before the logout (the timing did not hold)')
  if (!replies.some((r) => r.body && r.body.results && r.body.results[0] === 'alice')) {
    problems.push('no slow request had read the session before the logout (the timing did not hold)')
  }
  const naming = [logout, ...replies].filter((r) => r.sessionCookie && r.sessionCookie.id === login.id).length
  if (naming) problems.push(`${naming} answers sent a cookie for the destroyed id`)
  let recreated = false
  for (const i of range(t.ports.length)) {
    const after = await t.post(i, [login.cookie], [{ op: 'get', key: 'user' }])
    const body = after.body || {}
    if (after.status !== 200) problems.push(`instance ${i + 1}: the old cookie answered ${after.status}`)
    else if (body.id === login.id || (body.results || [])[0] !== null) {
      recreated = true
      problems.push(`instance ${i + 1}: the old cookie still finds the session (user ${JSON.stringify(body.results && body.results[0])})`)
    }
  }
  if (t.hasRecord && (await t.hasRecord(login.id))) {
    recreated = true
    problems.push('the store holds a record under the destroyed id')
  }
  return { figure: recreated ? 'recreated' : 'stays destroyed', problems }
}

// Cases 4 to 6, the owner ops (issue 16): a fresh owner name per case.
const newOwner = (label) => `${label}-${crypto.randomBytes(4).toString('hex')}`

// The devices' old cookies, on every instance: each finds a new, empty
// session (another id, no owner). The problems, and whether a session was
// found again.
async function endedEverywhere (t, devices, owner) {
  const problems = []
  let found = false
  for (const [k, d] of devices.entries()) {
    for (const i of range(t.ports.length)) {
      const res = await t.post(i, [d.cookie], [{ op: 'get', key: 'owner' }])
      const body = res.body || {}
      if (res.status !== 200) problems.push(`device ${k + 1}, instance ${i + 1}: the old cookie answered ${res.status}`)
      else if (body.id === d.id || (body.results || [])[0] !== null) {
        found = true
        problems.push(`device ${k + 1}, instance ${i + 1}: the old cookie still finds a session of ${JSON.stringify(body.results && body.results[0])} (${body.id === d.id ? 'the same id' : 'another id'})`)
      }
    }
    if (t.hasRecord && (await t.hasRecord(d.id))) {
      found = true
      problems.push(`device ${k + 1}: the store holds a record under its ended id`)
    }
  }
  return { problems, found }
}

// Slow requests of the devices' sessions: request i is device i mod n's, on
// instance i, and reads the owner, sleeps 300 ms, then writes its own key
// `w<i>`. Resolves to the answers, each with `ended` (when it came back).
function slowRequests (t, devices, count) {
  return Promise.all(range(count).map((i) => t.post(i, [devices[i % devices.length].cookie], [
    { op: 'get', key: 'owner' }, { op: 'sleep', value: 300 }, { op: 'set', key: `w${i}`, value: true }
  ]).then((r) => ({ ...r, ended: Date.now() }))))
}

// The timing a race case needs to be a test: every slow request had read
// the session (its owner) before `opEnded`, and none had ended by then.
function raceTiming (replies, owner, opEnded) {
  const problems = []
  if (replies.some((r) => r.ended <= opEnded)) problems.push('a slow request ended before the logout (the timing did not hold)')
  const readers = replies.filter((r) => r.body && r.body.results && r.body.results[0] === owner).length
  if (readers !== replies.length) problems.push(`${replies.length - readers} slow requests had not read the owner's session (the timing did not hold)`)
  return problems
}

// 4. Six logins of one owner, alternating between the instances: the owner
// has six live sessions, whichever instance and device asks.
async function ownerSixLogins (t) {
  const owner = newOwner('six')
  const devices = []
  for (const i of range(6)) devices.push(await t.loginAs(i, owner))
  const problems = []
  const counts = []
  for (const [k, d] of devices.entries()) {
    const n = await t.one(k + 1, d.cookie, { op: 'sessionsOf' })
    counts.push(n)
    if (n !== 6) problems.push(`device ${k + 1} on instance ${((k + 1) % t.ports.length) + 1}: sessionsOf is ${JSON.stringify(n)}, not 6`)
  }
  return { figure: `sessionsOf ${[...new Set(counts)].join('/')} of 6`, problems }
}

// 5. logoutEverywhere from one device while 12 slow requests of the owner's
// six sessions are in flight (each has read its session, sleeps, then
// writes a key): the count is 6; afterwards every old cookie finds a new,
// empty session on every instance, the store (where it can be looked at)
// holds none of the old ids, no answer sent a cookie naming one, and a
// fresh login is the owner's only session: no slow request brought a
// session back.
async function logoutEverywhereDuringSlowRequests (t) {
  const owner = newOwner('everywhere')
  const devices = []
  for (const i of range(6)) devices.push(await t.loginAs(i, owner))
  const problems = []
  if (t.hasRecord && !(await t.hasRecord(devices[0].id))) problems.push('the store check does not see a live session')
  const slow = slowRequests(t, devices, 12)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const logout = await t.post(1, [devices[0].cookie], [{ op: 'logoutEverywhere' }])
  const logoutEnded = Date.now()
  const replies = await slow
  problems.push(...badAnswers([logout, ...replies]), ...raceTiming(replies, owner, logoutEnded))
  const count = logout.body && logout.body.results ? logout.body.results[0] : null
  if (count !== 6) problems.push(`logoutEverywhere counted ${JSON.stringify(count)}, not 6`)
  const old = new Set(devices.map((d) => d.id))
  const naming = [logout, ...replies].filter((r) => r.sessionCookie && old.has(r.sessionCookie.id)).length
  if (naming) problems.push(`${naming} answers sent a cookie for an ended session`)
  const ended = await endedEverywhere(t, devices, owner)
  problems.push(...ended.problems)
  const fresh = await t.loginAs(0, owner)
  const n = await t.one(1, fresh.cookie, { op: 'sessionsOf' })
  if (n !== 1) problems.push(`after a fresh login the owner has ${JSON.stringify(n)} sessions, not 1`)
  const recreated = ended.found || naming > 0 || n !== 1
  return { figure: recreated ? 'recreated' : `6 ended, ${replies.length} in flight, stay ended`, problems }
}

// 6. logoutOthers from one device while 8 slow requests of the owner's four
// sessions are in flight: the count is 3; the asking device keeps its
// session on every instance, with the keys its own slow requests wrote; the
// other devices' cookies find a new, empty session; the owner has one
// session left.
async function logoutOthersKeepsThisDevice (t) {
  const owner = newOwner('others')
  const devices = []
  for (const i of range(4)) devices.push(await t.loginAs(i, owner))
  const problems = []
  const slow = slowRequests(t, devices, 8)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const logout = await t.post(1, [devices[0].cookie], [{ op: 'logoutOthers' }])
  const logoutEnded = Date.now()
  const replies = await slow
  problems.push(...badAnswers([logout, ...replies]), ...raceTiming(replies, owner, logoutEnded))
  const count = logout.body && logout.body.results ? logout.body.results[0] : null
  if (count !== 3) problems.push(`logoutOthers counted ${JSON.stringify(count)}, not 3`)
  if (!logout.body || logout.body.id !== devices[0].id) problems.push(`the asking device's answer names session ${JSON.stringify(logout.body && logout.body.id)}`)
  // The asking device's own slow requests are w0 and w4 (request i is device i mod 4's).
  const ownKeys = range(8).filter((i) => i % 4 === 0)
  for (const i of range(t.ports.length)) {
    const res = await t.post(i, [devices[0].cookie], [{ op: 'get', key: 'owner' }, { op: 'sessionsOf' }, ...ownKeys.map((k) => ({ op: 'get', key: `w${k}` }))])
    const body = res.body || {}
    const [who, n, ...keys] = body.results || []
    if (res.status !== 200 || body.id !== devices[0].id || who !== owner) {
      problems.push(`instance ${i + 1}: the asking device lost its session (status ${res.status}, owner ${JSON.stringify(who)})`)
    } else {
      if (n !== 1) problems.push(`instance ${i + 1}: the owner has ${JSON.stringify(n)} sessions, not 1`)
      const lost = ownKeys.filter((k, j) => keys[j] !== true)
      if (lost.length) problems.push(`instance ${i + 1}: the asking device's own writes ${lost.map((k) => `w${k}`).join(' ')} are lost`)
    }
  }
  const ended = await endedEverywhere(t, devices.slice(1), owner)
  problems.push(...ended.problems)
  return { figure: ended.found ? 'recreated' : '3 ended, this device kept', problems }
}

// The stores whose Rust servers keep an owner index (conformance-common
// builds each with the owner key): the owner cases run on these.
const OWNER_STORES = ['memory', 'redis', 'postgres']

const OWNER_CASES = [
  { name: 'owners/six-logins-one-owner', title: 'six logins of one owner', run: ownerSixLogins },
  { name: 'owners/logout-everywhere-during-slow-requests', title: 'logout everywhere during 12 slow requests', run: logoutEverywhereDuringSlowRequests },
  { name: 'owners/logout-others-keeps-this-device', title: 'logout others during 8 slow requests', run: logoutOthersKeepsThisDevice }
].map((c) => ({ ...c, stores: OWNER_STORES }))

const CONCURRENCY_CASES = [
  { name: 'concurrency/parallel-keys', title: '64 parallel keys kept', run: parallelKeys },
  { name: 'concurrency/parallel-increments', title: '200 parallel increments', run: parallelIncrements },
  { name: 'concurrency/logout-during-slow-requests', title: 'logout during 20 slow requests', run: logoutDuringSlowRequests }
]

// Replaces the last character of `s` by another one.
const changeLast = (s) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A')
// `id` signed with `secret` as express-session sends it.
const signed = (id, secret = SECRET) => `${NAME}=${encodeURIComponent('s:' + id + '.' + signature(id, secret))}`

// Cookie headers a lying or broken client sends, built around the victim's
// valid session cookie `v` ({cookie, value, id, sig}): each is a list of
// raw Cookie header lines. Every one must give a new session, on express as
// on ours (concurrency.js checks it on the Node twin too).
const HOSTILE_COOKIES = [
  ['tampered-signature', (v) => [`${NAME}=${encodeURIComponent('s:' + v.id + '.' + changeLast(v.sig))}`]],
  ['tampered-id', (v) => [`${NAME}=${encodeURIComponent('s:' + changeLast(v.id) + '.' + v.sig)}`]],
  ['truncated-signature', (v) => [`${NAME}=${encodeURIComponent('s:' + v.id + '.' + v.sig.slice(0, -1))}`]],
  ['appended-character', (v) => [`${v.cookie}x`]],
  ['signed-with-another-secret', (v) => [signed(v.id, 'not the secret')]],
  ['unsigned-victim-id', (v) => [`${NAME}=${v.id}`]],
  ['foreign-unsigned-value', () => [`${NAME}=foreign-value`]],
  ['unsigned-s-prefix', (v) => [`${NAME}=${encodeURIComponent('s:' + v.id)}`]],
  ['oversized', () => [`${NAME}=s%3A${'a'.repeat(6000)}.sig`]],
  ['oversized-id-signed', () => [signed('a'.repeat(4000))]],
  ['wrong-format-id-signed', () => [signed('abc.def.ghi')]],
  ['sql-quote-id-signed', () => [signed("x' OR '1'='1")]],
  ['glob-id-signed', () => [signed('*')]],
  ['upper-case-victim-id-signed', (v) => [signed(v.id.toUpperCase() === v.id ? v.id.toLowerCase() : v.id.toUpperCase())]],
  ['empty-id-signed', () => [signed('')]],
  ['empty-value', () => [`${NAME}=`]],
  ['only-prefix', () => [`${NAME}=s%3A`]],
  ['empty-header', () => ['']],
  ['nameless-pairs', () => ['=;=;;;']],
  ['lone-percent', () => [`${NAME}=%`]],
  ['invalid-utf8-escapes', () => [`${NAME}=s%3A%E0%A4.x`]],
  ['bad-escape-after-victim', (v) => [`${NAME}=s:${v.id}.${v.sig}%ZZ`]],
  ['raw-non-utf8-bytes', () => [`${NAME}=s:\xff\xfe.\xe9`]],
  ['duplicated-garbage-first', (v) => [`${NAME}=garbage; ${v.cookie}`]],
  ['duplicated-in-two-headers', (v) => [`${NAME}=garbage`, v.cookie]],
  ['victim-twice-in-one-value', (v) => [`${v.cookie}${v.cookie}`]]
].map(([label, lines]) => ({ name: `hostile-cookie/${label}`, lines }))

// One hostile Cookie header against a target: the answer is 200 with a
// new, validly signed session that is empty (never the victim's data or id).
async function hostileCookie (t, victim, lines, i) {
  const res = await t.post(i, lines(victim), [{ op: 'get', key: 'user' }, { op: 'incr', key: 'n' }])
  const problems = []
  if (res.status !== 200) return [`status ${res.status}`]
  const c = res.sessionCookie
  const body = res.body || {}
  if (!c) problems.push('no session Set-Cookie (no new session)')
  else if (c.id === victim.id) problems.push("a cookie for the victim's session")
  else if (!c.id || signature(c.id, SECRET) !== c.sig) problems.push(`a session cookie that is not s:<id>.<signature>: ${c.value}`)
  else if (body.id !== c.id) problems.push(`the body's id ${JSON.stringify(body.id)} is not the new cookie's`)
  const [user, n] = body.results || []
  if (user !== null) problems.push(`the session holds user ${JSON.stringify(user)} (the victim's data)`)
  if (n !== 1) problems.push(`incr gave ${JSON.stringify(n)}, not 1 (not a fresh session)`)
  return problems
}

module.exports = { OPTIONS, Target, CONCURRENCY_CASES, OWNER_CASES, HOSTILE_COOKIES, hostileCookie }
