'use strict'
// Test C, three apps on one Redis: express-session's login example on Node (e2e/node-login/app.js, connect-redis),
// `cargo run --example redis-login` (axum) and `cargo run --example actix-redis-login` (actix-web), each on a port
// of 127.0.0.1 of its own, with the same secret, cookie name and key prefix. The browser sends one connect.sid to
// the three (cookies are per host, not per port): a login on any app is a login on all three, and so is a logout.
// Screenshots: target/e2e/three/.
//
// Not behind a reverse proxy on one port: the apps' links and redirects are absolute (`/login`, `/logout`, `/`),
// so under path prefixes (/node/, /axum/, /actix/) they would leave the app's prefix. The one host of the three
// ports plays the part of the one origin, as in Test B.
//
// Which app answered each page: express sends `X-Powered-By: Express`, the Rust examples do not; the connection's
// port is the app's; and each app's framework is told before the test by its answer to `POST /` (express: 404
// `Cannot POST /`; axum and actix-web: 405, `Allow: GET,HEAD` from axum, `Allow: GET, HEAD` from actix-web).
//
// Redis, skipping and cleanup as in Test B (e2e/mixed.test.js): REDIS_URL on E2E_REDIS_DB (default 9), the prefix
// `sess:`, every session id any app sent deleted at the end; without Redis or a binary the test skips, unless
// REQUIRE_SERVICES=1.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, test } = require('node:test')

const { createClient } = require('redis')

const h = require('./lib/harness')

const EXAMPLES = path.join(h.ROOT, 'target', 'debug', 'examples')
const AXUM_BIN = process.env.E2E_REDIS_LOGIN_BIN || path.join(EXAMPLES, 'redis-login')
const ACTIX_BIN = process.env.E2E_ACTIX_REDIS_LOGIN_BIN || path.join(EXAMPLES, 'actix-redis-login')
const PREFIX = 'sess:' // the Rust examples' (connect-redis's default); they read no prefix from the environment

let dir, redis, node, axum, actix, browser, skip, settled
const ids = new Set() // every session id the apps sent this run, to delete their keys at the end

/** The three apps: how each is started, the framework it must be, and its screenshots' caption. */
const APPS = {
  node: { framework: 'express', caption: 'Node: express-session + connect-redis' },
  axum: { framework: 'axum', caption: 'axum: examples/stores/redis-login.rs' },
  actix: { framework: 'actix-web', caption: 'actix-web: examples/actix/redis-login.rs' }
}

/** The framework answering at `url`, from its reply to `POST /` (a method none of the apps serves at `/`). */
async function framework (url) {
  const response = await fetch(url + '/', { method: 'POST', redirect: 'manual',
    signal: AbortSignal.timeout(10_000) })
  h.collectSessionIds(ids, response.headers.getSetCookie())
  const body = await response.text()
  const allow = response.headers.get('allow')
  if (response.status === 404 && response.headers.get('x-powered-by') === 'Express' && body.includes('Cannot POST /')) {
    return 'express'
  }
  if (response.status === 405 && allow === 'GET,HEAD') return 'axum'
  if (response.status === 405 && allow === 'GET, HEAD') return 'actix-web'
  return `unknown (${response.status}, Allow: ${allow}, X-Powered-By: ${response.headers.get('x-powered-by')})`
}

before(async () => {
  dir = h.artifactsDir('three')
  const url = h.redisUrl()
  const missing = []
  for (const bin of [AXUM_BIN, ACTIX_BIN]) {
    if (!fs.existsSync(bin)) missing.push(`the ${path.basename(bin)} example is not built (${bin})`)
  }
  redis = createClient({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    redis = undefined
    missing.push(`no Redis at ${url} (${error.message})`)
  }
  if (missing.length) {
    const why = missing.join('; ')
    if (h.servicesRequired()) throw new Error(`REQUIRE_SERVICES=1: ${why}`)
    console.error(`e2e/three.test.js: SKIPPED: ${why}`)
    skip = why
    return
  }
  const env = { REDIS_URL: url, STORE_PREFIX: PREFIX }
  const app = path.join(__dirname, 'node-login', 'app.js')
  ;[node, axum, actix] = await Promise.all([
    h.startServer({ name: 'node-login', command: process.execPath, args: [app], env, logDir: dir }),
    h.startServer({ name: 'redis-login', command: AXUM_BIN, env, logDir: dir }),
    h.startServer({ name: 'actix-redis-login', command: ACTIX_BIN, env, logDir: dir })
  ])
  Object.assign(node, APPS.node)
  Object.assign(axum, APPS.axum)
  Object.assign(actix, APPS.actix)
  for (const app of [node, axum, actix]) {
    assert.equal(await framework(app.url), app.framework, `${app.name} on port ${app.port} is ${app.framework}`)
  }
  browser = await h.launchBrowser()
  settled = h.watchSessionIds(browser.context, ids)
})

after(async () => {
  await settled?.()
  await browser?.close()
  await Promise.all([node?.stop(), axum?.stop(), actix?.stop()])
  if (redis) {
    const keys = [...ids].map((id) => PREFIX + id)
    if (keys.length) await redis.del(keys)
    await redis.quit()
  }
})

/** The record of session `id` in Redis, parsed, or null. */
async function record (id) {
  const json = await redis.get(PREFIX + id)
  return json === null ? null : JSON.parse(json)
}

/** Asserts `response` (a page the browser loaded) came from `app`: express or not, and the app's port. */
async function assertFrom (response, app) {
  assert.equal(h.servedBy(response), app === node ? 'node' : 'rust',
    `${response.url()}: X-Powered-By ${response.headers()['x-powered-by']}`)
  const server = await response.serverAddr()
  assert.equal(server?.port ?? Number(new URL(response.url()).port), app.port, `${app.name} answered`)
}

async function visit (page, app) {
  const response = await page.goto(app.url + '/')
  await assertFrom(response, app)
  return response
}

/** A screenshot captioned with the app (checked to be the one whose port the page is on). */
function shot (page, app, name) {
  assert.equal(Number(new URL(page.url()).port), app.port, `the page is on ${app.name}'s port`)
  return h.screenshot(page, dir, name, `${page.url()} (${app.caption})`)
}

/** The browser's connect.sid, the same on the three ports; returns its value. */
async function sharedCookie (context) {
  const [n, x, a] = await Promise.all([node, axum, actix].map((app) => h.sessionCookie(context, app.url)))
  assert.ok(n, 'a connect.sid')
  assert.equal(x?.value, n.value, 'one cookie for Node and axum')
  assert.equal(a?.value, n.value, 'one cookie for Node and actix')
  return n.value
}

/** Checks the old cookie `value`, replayed outside the browser, is logged in on none of the three apps. */
async function loggedInNowhere (value) {
  for (const app of [node, axum, actix]) {
    assert.match(await h.getWithCookie(app.url + '/', value, ids), /<form action="\/login"/,
      `the old cookie is not logged in on ${app.name}`)
  }
}

/** After a logout on `app`: the logged-in record `id` is gone and the new session holds no user. */
async function assertLoggedOutInRedis (context, app, id) {
  assert.equal(await record(id), null, `${app.name} deleted the logged-in session from Redis`)
  const now = h.sessionId(await sharedCookie(context))
  assert.notEqual(now, id, `${app.name} regenerated the session`)
  const fresh = await record(now)
  assert.ok(fresh, 'the new session is in Redis (saveUninitialized)')
  assert.equal(fresh.user ?? null, null, 'with no user')
}

test('log in on actix, greeted on axum and Node; log out on Node, logged out on axum and actix', async (t) => {
  if (skip) return t.skip(skip)
  const { context, page } = browser
  const user = 'carol <b>&</b> co'

  await visit(page, actix)
  await h.assertLoginForm(page)
  await shot(page, actix, '01-actix-form')

  await assertFrom(await h.logIn(page, user), actix)
  await h.waitForText(page, `hello, ${user}!`)
  await shot(page, actix, '02-actix-hello-carol')
  const cookie = await sharedCookie(context)
  const id = h.sessionId(cookie)
  assert.equal((await record(id))?.user, user, 'actix saved the login in Redis')

  for (const [app, name] of [[axum, '03-axum-hello-carol'], [node, '04-node-hello-carol']]) {
    await visit(page, app)
    await h.waitForText(page, `hello, ${user}!`)
    assert.equal(await page.locator('b').count(), 0, `${app.name} escapes the name actix stored`)
    await shot(page, app, name)
  }
  assert.equal(await sharedCookie(context), cookie, 'no app changed the cookie of the logged-in session')

  await assertFrom(await h.logOut(page), node)
  await h.assertLoginForm(page)
  await shot(page, node, '05-node-logged-out')
  await assertLoggedOutInRedis(context, node, id)

  for (const [app, name] of [[axum, '06-axum-logged-out'], [actix, '07-actix-logged-out']]) {
    await visit(page, app)
    await h.assertLoginForm(page)
    await shot(page, app, name)
  }

  await loggedInNowhere(cookie)
})

test('log in on Node, greeted on actix and axum; log out on actix, logged out on Node and axum', async (t) => {
  if (skip) return t.skip(skip)
  const { context, page } = browser
  const user = 'dave'

  await visit(page, node)
  await h.assertLoginForm(page)
  await shot(page, node, '08-node-form')

  await assertFrom(await h.logIn(page, user), node)
  await h.waitForText(page, `hello, ${user}!`)
  await shot(page, node, '09-node-hello-dave')
  const cookie = await sharedCookie(context)
  const id = h.sessionId(cookie)
  assert.equal((await record(id))?.user, user, 'Node saved the login in Redis')

  for (const [app, name] of [[actix, '10-actix-hello-dave'], [axum, '11-axum-hello-dave']]) {
    await visit(page, app)
    await h.waitForText(page, `hello, ${user}!`)
    await shot(page, app, name)
  }

  await visit(page, actix)
  await assertFrom(await h.logOut(page), actix)
  await h.assertLoginForm(page)
  await shot(page, actix, '12-actix-logged-out')
  await assertLoggedOutInRedis(context, actix, id)

  for (const [app, name] of [[node, '13-node-logged-out'], [axum, '14-axum-logged-out']]) {
    await visit(page, app)
    await h.assertLoginForm(page)
    await shot(page, app, name)
  }

  await loggedInNowhere(cookie)
})
