'use strict'
// Test A: `cargo run --example login` (MemoryStore) in headless Chromium: the form, logging in, staying logged in
// across a reload, logging out, a new session id at login (fixation defence), an HttpOnly cookie, and a user name
// shown escaped. Screenshots of every step: target/e2e/login/.

const assert = require('node:assert/strict')
const path = require('node:path')
const { after, before, test } = require('node:test')

const h = require('./lib/harness')

const BIN = process.env.E2E_LOGIN_BIN || path.join(h.ROOT, 'target', 'debug', 'examples', 'login')

let dir, server, browser

before(async () => {
  dir = h.artifactsDir('login')
  server = await h.startServer({ name: 'login', command: BIN, logDir: dir })
  browser = await h.launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.stop()
})

test('log in, reload, log out, with a new HttpOnly session cookie at login', async () => {
  const { context, page } = browser
  const url = server.url

  // 1. The form. saveUninitialized is true, so the first visit already has a session cookie.
  await page.goto(url + '/')
  await h.assertLoginForm(page)
  await h.screenshot(page, dir, '01-form')
  const anonymous = await h.sessionCookie(context, url)
  assert.ok(anonymous, 'the first visit sets connect.sid (saveUninitialized: true)')

  // 2. Log in as alice: greeted, with a new session id (regenerate at login) in an HttpOnly cookie.
  await h.logIn(page, 'alice')
  const text = await h.waitForText(page, 'hello, alice!')
  assert.match(text, /^hello, alice! Logout\s*$/)
  await h.screenshot(page, dir, '02-hello-alice')
  const loggedIn = await h.sessionCookie(context, url)
  assert.ok(loggedIn, 'a session cookie after login')
  assert.notEqual(h.sessionId(loggedIn.value), h.sessionId(anonymous.value),
    'the session id changes at login (session fixation defence)')
  assert.equal(loggedIn.httpOnly, true, 'connect.sid is HttpOnly')
  assert.equal(loggedIn.path, '/')
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('connect.sid'),
    'page scripts cannot read connect.sid')

  // 3. Reload: still logged in, same session.
  await page.reload()
  await h.waitForText(page, 'hello, alice!')
  await h.screenshot(page, dir, '03-reloaded')
  assert.equal((await h.sessionCookie(context, url)).value, loggedIn.value, 'the same session after a reload')

  // 4. Log out: the form again, under yet another session id (regenerate at logout).
  await h.logOut(page)
  await h.assertLoginForm(page)
  await h.screenshot(page, dir, '04-logged-out')
  const loggedOut = await h.sessionCookie(context, url)
  assert.notEqual(h.sessionId(loggedOut.value), h.sessionId(loggedIn.value), 'a new session id at logout')

  // 5. The logged-out session id stays logged out on a reload.
  await page.reload()
  await h.assertLoginForm(page)
})

test('a user name with HTML in it is shown escaped', async () => {
  const { page } = browser
  const name = '<b>mallory</b>'

  await page.goto(server.url + '/')
  await h.assertLoginForm(page)
  await h.logIn(page, name)
  const text = await h.waitForText(page, `hello, ${name}!`)
  assert.ok(text.includes('hello, <b>mallory</b>!'), `the literal tags are shown: ${JSON.stringify(text)}`)
  assert.equal(await page.locator('b').count(), 0, 'no <b> element in the page')
  assert.match(await page.content(), /hello, &lt;b&gt;mallory&lt;\/b&gt;!/)
  await h.screenshot(page, dir, '05-escaped-html-name')

  await h.logOut(page)
  await h.assertLoginForm(page)
})
