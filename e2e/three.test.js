'use strict'
// Test C, three apps on one Redis behind ONE origin: express-session's login example on Node
// (e2e/node-login/app.js, connect-redis), `cargo run --example redis-login` (axum) and `cargo run --example
// actix-redis-login` (actix-web), each on a port of 127.0.0.1 of its own, with the same secret, cookie name and key
// prefix, behind a path-prefix reverse proxy (e2e/lib/proxy.js) on one more port: /node/, /axum/ and /actix/. The
// browser only ever talks to the proxy's port (checked: every request it makes), so it holds one connect.sid for
// the one origin (Path=/ covers the three prefixes): a login on any app is a login on all three, and so is a logout.
// The apps' links and redirects are absolute (`/`, `/login`, `/logout`): the proxy moves them under the prefix.
// Screenshots: target/e2e/three/, with the proxy's log.
//
// Which app answered each page: the proxy adds `X-Upstream: <app>` and the page's path is under that app's prefix;
// express sends `X-Powered-By: Express`, the Rust examples do not (the proxy passes it through); and before the
// test each prefix's framework is told, through the proxy, by its answer to `POST /` (express: 404
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
const { startProxy } = require('./lib/proxy')

const EXAMPLES = path.join(h.ROOT, 'target', 'debug', 'examples')
const AXUM_BIN = process.env.E2E_REDIS_LOGIN_BIN || path.join(EXAMPLES, 'redis-login')
const ACTIX_BIN = process.env.E2E_ACTIX_REDIS_LOGIN_BIN || path.join(EXAMPLES, 'actix-redis-login')
const PREFIX = 'sess:' // the Rust examples' (connect-redis's default); they read no prefix from the environment

let dir, redis, node, axum, actix, proxy, browser, skip, settled
const foreign = [] // every request the browser made to anything but the proxy
const ids = new Set() // every session id the apps sent this run, to delete their keys at the end

/** The three apps: how each is started, the framework it must be, and its screenshots' caption. */
const APPS = {
  node: { framework: 'express', caption: 'Node: express-session + connect-redis' },
  axum: { framework: 'axum', caption: 'axum: examples/stores/redis-login.rs' },
  actix: { framework: 'actix-web', caption: 'actix-web: examples/actix/redis-login.rs' }
}

/**
 * The framework answering at `app.url` (through the proxy), from its reply to `POST /` (a method none of the apps
 * serves at `/`); the reply must say, in `X-Upstream`, that it came from `app`.
 */
async function framework (app) {
  const response = await fetch(app.url + '/', { method: 'POST', redirect: 'manual',
    signal: AbortSignal.timeout(10_000) })
  h.collectSessionIds(ids, response.headers.getSetCookie())
  assert.equal(response.headers.get('x-upstream'), app.key, `the proxy sent ${app.url}/ to ${app.name}`)
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
  proxy = await startProxy({ routes: { node: node.url, axum: axum.url, actix: actix.url }, logDir: dir })
  // From here on an app's `url` is its prefix on the one origin (its own port stays in `port`, for messages only).
  for (const [key, app] of [['node', node], ['axum', axum], ['actix', actix]]) {
    Object.assign(app, APPS[key], { key, base: `/${key}`, url: `${proxy.url}/${key}` })
  }
  const stray = await fetch(proxy.url + '/login', { redirect: 'manual', signal: AbortSignal.timeout(10_000) })
  assert.equal(stray.status, 404, 'the proxy answers a path outside the three prefixes itself')
  assert.equal(stray.headers.get('x-upstream'), null, 'and sends it to no app')
  for (const app of [node, axum, actix]) {
    assert.equal(await framework(app), app.framework,
      `${app.url}/ (${app.name} on port ${app.port}) is ${app.framework}`)
  }
  browser = await h.launchBrowser()
  settled = h.watchSessionIds(browser.context, ids)
  browser.context.on('request', (request) => {
    if (new URL(request.url()).origin !== proxy.url) foreign.push(request.url())
  })
})

after(async () => {
  await settled?.()
  await browser?.close()
  await proxy?.stop()
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

/**
 * Asserts `response` (a page the browser loaded) came from `app` through the proxy: the proxy's port, a path under
 * the app's prefix, `X-Upstream` naming the app, and express or not (`X-Powered-By`).
 */
async function assertFrom (response, app) {
  const url = new URL(response.url())
  assert.equal(url.origin, proxy.url, `${response.url()} is on the one origin`)
  const server = await response.serverAddr()
  assert.equal(server?.port ?? Number(url.port), proxy.port, `${response.url()}: the proxy's port answered`)
  assert.ok(url.pathname.startsWith(app.base + '/'), `${response.url()} is under ${app.base}/`)
  assert.equal(response.headers()['x-upstream'], app.key, `${response.url()}: ${app.name} answered`)
  assert.equal(h.servedBy(response), app === node ? 'node' : 'rust',
    `${response.url()}: X-Powered-By ${response.headers()['x-powered-by']}`)
}

/** Loads `app`'s home page through the proxy; checks it came from `app`. */
async function visit (page, app) {
  const response = await page.goto(app.url + '/')
  await assertFrom(response, app)
  return response
}

/** A screenshot captioned with the page's URL on the one origin and the app (checked to be under its prefix). */
function shot (page, app, name) {
  const url = new URL(page.url())
  assert.equal(url.origin, proxy.url, 'the page is on the one origin')
  assert.ok(url.pathname.startsWith(app.base + '/'), `the page is under ${app.name}'s prefix ${app.base}/`)
  assert.deepEqual(foreign, [], 'the browser talked to the proxy only')
  return h.screenshot(page, dir, name, `${page.url()} (${app.caption})`)
}

/** The browser's one connect.sid: Path=/ on the one origin, so sent under every prefix; returns its value. */
async function sharedCookie (context) {
  const all = (await context.cookies()).filter((c) => c.name === 'connect.sid')
  assert.equal(all.length, 1, `one connect.sid in the browser: ${JSON.stringify(all)}`)
  assert.equal(all[0].domain, '127.0.0.1', 'for the one host')
  assert.equal(all[0].path, '/', 'with Path=/, which covers /node/, /axum/ and /actix/')
  for (const app of [node, axum, actix]) {
    assert.equal((await h.sessionCookie(context, app.url + '/'))?.value, all[0].value, `sent to ${app.url}/`)
  }
  return all[0].value
}

/** Checks the old cookie `value`, replayed outside the browser, is logged in on none of the three apps. */
async function loggedInNowhere (value) {
  for (const app of [node, axum, actix]) {
    assert.ok((await h.getWithCookie(app.url + '/', value, ids)).includes(`<form action="${app.base}/login"`),
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
  await h.assertLoginForm(page, actix.base)
  await shot(page, actix, '01-actix-form')

  await assertFrom(await h.logIn(page, user, 'secret', actix.base), actix)
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

  await assertFrom(await h.logOut(page, node.base), node)
  await h.assertLoginForm(page, node.base)
  await shot(page, node, '05-node-logged-out')
  await assertLoggedOutInRedis(context, node, id)

  for (const [app, name] of [[axum, '06-axum-logged-out'], [actix, '07-actix-logged-out']]) {
    await visit(page, app)
    await h.assertLoginForm(page, app.base)
    await shot(page, app, name)
  }

  await loggedInNowhere(cookie)
  assert.deepEqual(foreign, [], 'the browser talked to the proxy only')
})

test('log in on Node, greeted on actix and axum; log out on actix, logged out on Node and axum', async (t) => {
  if (skip) return t.skip(skip)
  const { context, page } = browser
  const user = 'dave'

  await visit(page, node)
  await h.assertLoginForm(page, node.base)
  await shot(page, node, '08-node-form')

  await assertFrom(await h.logIn(page, user, 'secret', node.base), node)
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
  await assertFrom(await h.logOut(page, actix.base), actix)
  await h.assertLoginForm(page, actix.base)
  await shot(page, actix, '12-actix-logged-out')
  await assertLoggedOutInRedis(context, actix, id)

  for (const [app, name] of [[node, '13-node-logged-out'], [axum, '14-axum-logged-out']]) {
    await visit(page, app)
    await h.assertLoginForm(page, app.base)
    await shot(page, app, name)
  }

  await loggedInNowhere(cookie)
  assert.deepEqual(foreign, [], 'the browser talked to the proxy only')
})
