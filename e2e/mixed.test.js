'use strict'
// Test B, a mixed deployment: express-session's login example on Node (e2e/node-login/app.js, connect-redis) on
// one port and `cargo run --example redis-login` on another, both on the same Redis with the same secret and
// cookie name. Cookies are shared across the ports of one host, so the browser carries one connect.sid to both:
// a login on one app is a login on the other, and so is a logout. Screenshots: target/e2e/mixed/.
//
// Redis: REDIS_URL (default redis://127.0.0.1:6379) on logical database E2E_REDIS_DB (default 9; used only when
// REDIS_URL names no database; empty to keep the URL as it is). The Rust example keys sessions by connect-redis's
// default prefix `sess:`, so the Node app does too, and every session key this test made is deleted at the end.
// Without Redis or the redis-login binary the test skips, unless REQUIRE_SERVICES=1.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, test } = require('node:test')

const { createClient } = require('redis')

const h = require('./lib/harness')

const BIN = process.env.E2E_REDIS_LOGIN_BIN || path.join(h.ROOT, 'target', 'debug', 'examples', 'redis-login')
const PREFIX = 'sess:' // the Rust example's (connect-redis's default); it reads no prefix from the environment

let dir, redis, node, rust, browser, skip, settled
const ids = new Set() // every session id the apps sent this run, to delete their keys at the end

before(async () => {
  dir = h.artifactsDir('mixed')
  const url = h.redisUrl()
  const missing = []
  if (!fs.existsSync(BIN)) missing.push(`the redis-login example is not built (${BIN})`)
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
    console.error(`e2e/mixed.test.js: SKIPPED: ${why}`)
    skip = why
    return
  }
  const env = { REDIS_URL: url, STORE_PREFIX: PREFIX }
  const app = path.join(__dirname, 'node-login', 'app.js')
  ;[node, rust] = await Promise.all([
    h.startServer({ name: 'node-login', command: process.execPath, args: [app], env, logDir: dir }),
    h.startServer({ name: 'redis-login', command: BIN, env, logDir: dir })
  ])
  browser = await h.launchBrowser()
  settled = h.watchSessionIds(browser.context, ids)
})

after(async () => {
  await settled?.()
  await browser?.close()
  await Promise.all([node?.stop(), rust?.stop()])
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

/** A screenshot captioned with the app whose port the page is on, after checking it is `app`'s. */
function shot (page, app, name) {
  const port = Number(new URL(page.url()).port)
  assert.equal(port, app.port, `the page is on ${app.name}'s port`)
  const which = port === node.port ? 'Node: express-session + connect-redis' : 'Rust: examples/stores/redis-login.rs'
  return h.screenshot(page, dir, name, `${page.url()} (${which})`)
}

async function visit (page, app, expected) {
  const response = await page.goto(app.url + '/')
  assert.equal(h.servedBy(response), expected, `${app.url} is the ${expected} app`)
  return response
}

test('log in on Node, greeted on Rust; log out on Rust, logged out on Node', async (t) => {
  if (skip) return t.skip(skip)
  const { context, page } = browser

  await visit(page, node, 'node')
  await h.assertLoginForm(page)
  await shot(page, node, '01-node-form')

  const greeting = await h.logIn(page, 'alice')
  assert.equal(h.servedBy(greeting), 'node')
  await h.waitForText(page, 'hello, alice!')
  await shot(page, node, '02-node-hello-alice')
  const cookie = await h.sessionCookie(context, node.url)
  const id = h.sessionId(cookie.value)
  assert.equal((await record(id))?.user, 'alice', 'Node saved the login in Redis')
  assert.equal((await h.sessionCookie(context, rust.url))?.value, cookie.value, 'one cookie for both ports')

  await visit(page, rust, 'rust')
  await h.waitForText(page, 'hello, alice!')
  await shot(page, rust, '03-rust-hello-alice')

  const afterLogout = await h.logOut(page)
  assert.equal(h.servedBy(afterLogout), 'rust')
  await h.assertLoginForm(page)
  await shot(page, rust, '04-rust-logged-out')
  assert.notEqual(h.sessionId((await h.sessionCookie(context, rust.url)).value), id, 'Rust regenerated')
  assert.equal(await record(id), null, 'Rust deleted the logged-in session from Redis')

  await visit(page, node, 'node')
  await h.assertLoginForm(page)
  await shot(page, node, '05-node-logged-out')

  // The old cookie, replayed, is logged in on neither app.
  assert.match(await h.getWithCookie(node.url + '/', cookie.value, ids), /<form action="\/login"/)
  assert.match(await h.getWithCookie(rust.url + '/', cookie.value, ids), /<form action="\/login"/)
})

test('log in on Rust, greeted on Node; log out on Node, logged out on Rust', async (t) => {
  if (skip) return t.skip(skip)
  const { context, page } = browser

  await visit(page, rust, 'rust')
  await h.assertLoginForm(page)
  await shot(page, rust, '06-rust-form')

  const greeting = await h.logIn(page, 'bob & <i>co</i>')
  assert.equal(h.servedBy(greeting), 'rust')
  await h.waitForText(page, 'hello, bob & <i>co</i>!')
  await shot(page, rust, '07-rust-hello-bob')
  const cookie = await h.sessionCookie(context, rust.url)
  const id = h.sessionId(cookie.value)
  assert.equal((await record(id))?.user, 'bob & <i>co</i>', 'Rust saved the login in Redis')

  await visit(page, node, 'node')
  await h.waitForText(page, 'hello, bob & <i>co</i>!')
  assert.equal(await page.locator('i').count(), 0, 'Node escapes the name Rust stored')
  await shot(page, node, '08-node-hello-bob')

  const afterLogout = await h.logOut(page)
  assert.equal(h.servedBy(afterLogout), 'node')
  await h.assertLoginForm(page)
  await shot(page, node, '09-node-logged-out')
  assert.equal(await record(id), null, 'Node deleted the logged-in session from Redis')

  await visit(page, rust, 'rust')
  await h.assertLoginForm(page)
  await shot(page, rust, '10-rust-logged-out')

  assert.match(await h.getWithCookie(rust.url + '/', cookie.value, ids), /<form action="\/login"/)
  assert.match(await h.getWithCookie(node.url + '/', cookie.value, ids), /<form action="\/login"/)
})
