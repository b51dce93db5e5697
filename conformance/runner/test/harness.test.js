'use strict'
// Unit tests of the harness itself: the parts that decide whether two
// answers agree must notice a difference, not only accept agreement.
// Run with: node --test conformance/runner/test/

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { CookieJar } = require('../lib/jar')
const { expandTemplate, signature, decodeSessionValue } = require('../lib/cookies')
const { IdMap, normalize, compareSides, checkExpect } = require('../lib/compare')
const { loadScenarios, loadKnownDifferences, isKnownDifference } = require('../lib/scenarios')

// spec §10.7, V1: sign('foo', 'keyboard cat')
const FOO_SIG = '76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ'
const FOO_VALUE = 's%3Afoo.' + FOO_SIG
// a uid-safe shaped id and its signature, which contains both + and /
// (vectors/request-cookies.json)
const UID = 'HX1YDhSZ_l2P8VmqEONcV6rQvxqFq3oi'
const UID_SIG = 'B2+ASOBdZ5QRupCBNxQbKiHh/pXkieto2s1WJb6lpaI'
const UID_VALUE = 's%3A' + UID + '.B2%2BASOBdZ5QRupCBNxQbKiHh%2FpXkieto2s1WJb6lpaI'

test('signature matches express-session', () => {
  assert.equal(signature('foo', 'keyboard cat'), FOO_SIG)
  assert.equal(signature(UID, 'keyboard cat'), UID_SIG)
  assert.deepEqual(decodeSessionValue(UID_VALUE), { decoded: `s:${UID}.${UID_SIG}`, id: UID, sig: UID_SIG })
  assert.equal(decodeSessionValue('abc'), null)
})

test('jar: path match, default path, ordering, expiry', () => {
  const jar = new CookieJar()
  const now = Date.parse('2030-01-01T00:00:00Z')
  jar.apply(['a=1; Path=/foo/bar', 'b=2; Path=/', 'c=3'], '/x/y?q=1', now)
  assert.equal(jar.header('/foo/bar/baz', now), 'a=1; b=2', 'longer path first')
  assert.equal(jar.header('/foo/barbaz', now), 'b=2', 'RFC 6265 path-match is not a raw prefix')
  assert.equal(jar.header('/x/z', now), 'c=3; b=2', 'default path is the request directory (/x)')
  jar.apply(['b=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT'], '/', now)
  assert.equal(jar.header('/', now), '', 'an Expires in the past deletes')
  jar.apply(['d=4; Path=/; Expires=Tue, 01 Jan 2030 00:00:02 GMT'], '/', now)
  assert.equal(jar.header('/', now), 'd=4')
  assert.equal(jar.header('/', now + 2000), '', 'not sent once expired')
  assert.deepEqual(jar.history('b'), ['2', 'gone'], 'history keeps every value the server set')
})

test('templates build the tampered and encoded forms', () => {
  const ctx = { jarHeader: 'x=1', sessionValues: [FOO_VALUE, UID_VALUE], bodyId: 'foo', secrets: ['keyboard cat'], onLiteralId () {} }
  const t = (s) => expandTemplate(s, ctx)
  assert.equal(t('{{jar}}; y=2'), 'x=1; y=2')
  assert.equal(t('{{value@1}}'), FOO_VALUE)
  assert.equal(t('{{value}}'), UID_VALUE)
  assert.equal(t('{{value:decoded}}'), `s:${UID}.${UID_SIG}`)
  assert.equal(t('{{value:colonOnly}}'), `s%3A${UID}.${UID_SIG}`)
  assert.equal(t('{{value:lower}}'), UID_VALUE.replace('%3A', '%3a').replace('%2B', '%2b').replace('%2F', '%2f'))
  assert.equal(decodeURIComponent(t('{{value:allEncoded}}')), `s:${UID}.${UID_SIG}`)
  assert.match(t('{{value:allEncoded}}'), /^(%[0-9A-F]{2})+$/)
  assert.equal(t('{{value@1:dotEncoded}}'), 's%3Afoo%2E' + FOO_SIG)
  assert.equal(t('{{value@1:double}}'), 's%253Afoo.' + FOO_SIG)
  assert.equal(t('{{value@1:tamperSig}}'), 's%3Afoo.' + FOO_SIG.slice(0, -1) + 'A')
  assert.equal(t('{{value@1:tamperId}}'), 's%3AfoA.' + FOO_SIG)
  assert.equal(t('{{value@1:truncateSig}}'), 's%3Afoo.' + FOO_SIG.slice(0, -1))
  assert.equal(t('{{value@1:upperS}}'), 'S%3Afoo.' + FOO_SIG)
  assert.equal(t('{{value@1:noPrefix}}'), 'foo.' + FOO_SIG)
  assert.equal(t('{{value@1:unsigned}}'), 'foo')
  assert.equal(t('{{value@1:rawBadEscape}}'), `s:foo.${FOO_SIG}%ZZ`)
  assert.equal(t('{{value:resign:keyboard cat}}'), UID_VALUE)
  assert.equal(t('{{signed:foo}}'), FOO_VALUE)
  assert.equal(t('{{signedBodyId}}'), FOO_VALUE)
  assert.throws(() => t('{{value@3}}'), /received 2 session cookie/)
  assert.throws(() => t('{{value:nope}}'), /unknown transform/)
  assert.throws(() => t('{{nope}}'), /unknown template/)
})

const session = { name: 'connect.sid', secrets: ['keyboard cat'] }
function answer (setCookies, body, status = 200) {
  return { status, setCookies, text: JSON.stringify(body) }
}

test('ids become per-side placeholders, so different ids agree', () => {
  const a = normalize(answer([`connect.sid=${FOO_VALUE}; Path=/`], { id: 'foo' }), new IdMap(), session)
  const b = normalize(answer([`connect.sid=${UID_VALUE}; Path=/`], { id: UID }), new IdMap(), session)
  assert.equal(a.body.id, 'id1(non-uid "foo")')
  assert.equal(b.body.id, 'id1')
  assert.equal(b.setCookies[0].id, 'id1')
  assert.equal(b.setCookies[0].signedWith, 0)
  assert.equal(b.setCookies[0].canonical, true)
  assert.ok(compareSides(a, b).length > 0, 'an id of another shape is a difference')
})

test('a side that reuses an id where the other makes a new one differs', () => {
  const idsA = new IdMap()
  const idsB = new IdMap()
  const other = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  normalize(answer([], { id: UID }), idsA, session)
  normalize(answer([], { id: UID }), idsB, session)
  const a = normalize(answer([], { id: UID }), idsA, session)
  const b = normalize(answer([], { id: other }), idsB, session)
  assert.deepEqual(compareSides(a, b), ['body.id: A "id1", B "id2"'])
})

test('dates and durations are compared with a tolerance, nothing else is', () => {
  const ids = () => new IdMap()
  const mk = (expires, oma, setCookie) => normalize(answer(setCookie, { cookie: { expires, originalMaxAge: oma } }), ids(), session)
  const sc = (d) => [`connect.sid=${UID_VALUE}; Path=/; Expires=${d}; HttpOnly`]
  const base = mk('2030-01-01T00:00:00.000Z', 60000, sc('Tue, 01 Jan 2030 00:00:00 GMT'))
  assert.deepEqual(compareSides(base, mk('2030-01-01T00:00:01.900Z', 59999, sc('Tue, 01 Jan 2030 00:00:02 GMT'))), [])
  assert.equal(compareSides(base, mk('2030-01-01T00:00:02.100Z', 60000, sc('Tue, 01 Jan 2030 00:00:00 GMT'))).length, 1)
  assert.equal(compareSides(base, mk('2030-01-01T00:00:00.000Z', 58500, sc('Tue, 01 Jan 2030 00:00:00 GMT'))).length, 1)
  assert.ok(compareSides(base, mk('2030-01-01T00:00:00.000Z', 60000, sc('Tue, 01 Jan 2030 00:00:03 GMT'))).length > 0)
})

test('Set-Cookie attributes, their order, signer and encoding are compared', () => {
  const n = (h) => normalize(answer([h], {}), new IdMap(), { name: 'connect.sid', secrets: ['new', 'keyboard cat'] })
  const ref = n(`connect.sid=${UID_VALUE}; Path=/; HttpOnly`)
  assert.deepEqual(compareSides(ref, n(`connect.sid=${UID_VALUE}; Path=/; HttpOnly`)), [])
  assert.equal(ref.setCookies[0].signedWith, 1)
  assert.ok(compareSides(ref, n(`connect.sid=${UID_VALUE}; HttpOnly; Path=/`)).length > 0, 'order')
  assert.ok(compareSides(ref, n(`connect.sid=${UID_VALUE}; Path=/; httponly`)).length > 0, 'case')
  assert.ok(compareSides(ref, n(`connect.sid=${UID_VALUE}; Path=/; HttpOnly; Max-Age=60`)).length > 0, 'extra attribute')
  assert.ok(compareSides(ref, n(`connect.sid=s:${UID}.${UID_SIG}; Path=/; HttpOnly`)).length > 0, 'not encoded')
  assert.ok(compareSides(ref, n(`sid=${UID_VALUE}; Path=/; HttpOnly`)).length > 0, 'name')
})

test('for a 5xx answer only the status is compared', () => {
  const a = normalize(answer([], { error: 'x' }, 500), new IdMap(), session)
  const b = normalize({ status: 500, setCookies: [`connect.sid=${UID_VALUE}; Path=/`], text: '<html>' }, new IdMap(), session)
  assert.deepEqual(compareSides(a, b), [])
  const c = normalize(answer([], {}, 503), new IdMap(), session)
  assert.equal(compareSides(a, c).length, 1)
})

test('expectations fail when they do not hold', () => {
  const n = normalize(answer([`connect.sid=${UID_VALUE}; Path=/; HttpOnly`], { id: UID, results: [1, null] }), new IdMap(), session)
  assert.deepEqual(checkExpect({ status: 200, setCookie: 'id1', signedWith: 0, attrs: { Path: '/', HttpOnly: true, Secure: false }, body: { id: 'id1', results: [1, null] } }, n, 'connect.sid'), [])
  assert.equal(checkExpect({ status: 201 }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ setCookie: null }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ setCookie: 'id2' }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ setCookie: true, attrs: { Secure: true } }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ setCookie: true, attrs: { HttpOnly: false } }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ setCookie: true, attrs: { Path: '/x' } }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ body: { results: [1] } }, n, 'connect.sid').length, 1)
  assert.equal(checkExpect({ body: { other: null } }, n, 'connect.sid').length, 1)
})

test('scenario files are validated strictly', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenarios-'))
  const load = (list) => {
    fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify(list))
    return loadScenarios(dir)
  }
  const ok = { name: 'n', options: { secret: 's' }, steps: [{ ops: [{ op: 'get', key: 'a' }], expect: { setCookie: 'id1' } }] }
  assert.equal(load([ok]).length, 1)
  assert.throws(() => load([{ ...ok, options: { secrett: 's' } }]), /unknown key "secrett"/)
  assert.throws(() => load([{ ...ok, steps: [{ ops: [{ op: 'gett', key: 'a' }] }] }]), /unknown op/)
  assert.throws(() => load([{ ...ok, steps: [{ ops: [{ op: 'get' }] }] }]), /needs "key"/)
  assert.throws(() => load([{ ...ok, steps: [{ expect: { setcookie: null } }] }]), /unknown key "setcookie"/)
  assert.throws(() => load([{ ...ok, steps: [{ restart: {} }] }]), /memory store/)
  assert.throws(() => load([ok, ok]), /duplicate/)
  const write = { writeRecord: { id: 'x', text: '{}' } }
  assert.equal(load([{ ...ok, stores: ['redis'], steps: [write, { record: { id: 'x', expect: '{}' } }] }]).length, 1)
  assert.throws(() => load([{ ...ok, steps: [write] }]), /memory store/)
  assert.throws(() => load([{ ...ok, stores: ['redis'], steps: [{ writeRecord: { id: 'x' } }] }]), /needs an id and a text/)
  assert.throws(() => load([{ ...ok, steps: [{ record: { expected: '{}' } }] }]), /unknown key "expected"/)
  fs.rmSync(dir, { recursive: true })
})

test('known differences are read from list items', () => {
  const file = path.join(os.tmpdir(), `known-${process.pid}.md`)
  fs.writeFileSync(file, '# Known\n\n```\n- `x/y`: an example\n```\n- `a/b`: why\n* `c/d` (postgres, redis): why\nnot `e/f`\n')
  const known = loadKnownDifferences(file)
  assert.deepEqual([...known.keys()], ['a/b', 'c/d'])
  assert.equal(isKnownDifference(known, 'a/b', 'memory'), true)
  assert.equal(isKnownDifference(known, 'c/d', 'memory'), false)
  assert.equal(isKnownDifference(known, 'c/d', 'redis'), true)
  fs.rmSync(file)
})

test('no hostile cookie names the victim\'s session as express-session reads a Cookie header', () => {
  const { HOSTILE_COOKIES } = require('../lib/concurrency')
  const names = HOSTILE_COOKIES.map((c) => c.name)
  assert.equal(new Set(names).size, names.length, 'case names are unique')
  const victim = { id: UID, sig: UID_SIG, value: UID_VALUE, cookie: 'connect.sid=' + UID_VALUE }
  // express-session: node joins Cookie lines with "; ", the cookie module keeps the first pair of a name and
  // percent-decodes it when it can, and an "s:" value counts when its signature verifies.
  const sessionId = (lines) => {
    const pair = lines.join('; ').split(';').map((p) => p.split('=')).find(([n]) => n.trim() === 'connect.sid')
    if (!pair) return null
    let value = pair.slice(1).join('=').trim()
    try { value = decodeURIComponent(value) } catch {}
    if (!value.startsWith('s:')) return null
    const dot = value.lastIndexOf('.')
    const id = value.slice(2, dot)
    return dot >= 2 && signature(id, 'keyboard cat') === value.slice(dot + 1) ? id : null
  }
  assert.equal(sessionId([victim.cookie]), UID, 'the reader finds the valid cookie')
  for (const c of HOSTILE_COOKIES) {
    const lines = c.lines(victim)
    assert.ok(Array.isArray(lines) && lines.length > 0, c.name)
    assert.notEqual(sessionId(lines), UID, c.name)
  }
})
