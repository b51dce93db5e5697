'use strict'
// What the browser tests share: servers started on free ports of 127.0.0.1 and always stopped, headless
// Chromium (Debian's, never a downloaded one) in a fresh profile, screenshots, waits with bounds.
//
// Environment (e2e/run.sh sets the first three):
//   E2E_LOGIN_BIN, E2E_REDIS_LOGIN_BIN,  the built `login`, `redis-login`, `actix-redis-login` and `devices`
//   E2E_ACTIX_REDIS_LOGIN_BIN,           examples
//   E2E_DEVICES_BIN
//   E2E_ARTIFACTS                        where screenshots and server logs go (default <repo>/target/e2e)
//   E2E_PIDS                             a directory where each server's pid is recorded while it runs, so that
//                                        run.sh can stop it even if this process is killed
//   E2E_TMP                              where the browser profiles go (default the system's temporary directory)
//   E2E_CHROMIUM                         the browser (default /usr/bin/chromium)
//   REQUIRE_SERVICES=1                   a missing service fails a test instead of skipping it
//   REDIS_URL, E2E_REDIS_DB              the Redis of the tests on Redis (see redisUrl)

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { chromium } = require('playwright-core')

const ROOT = path.resolve(__dirname, '..', '..')
const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || path.join(ROOT, 'target', 'e2e'))
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium'
const STEP_TIMEOUT = 10_000
const START_TIMEOUT = 30_000
const STOP_TIMEOUT = 5_000

/** A fresh directory of artifacts for one test file: target/e2e/<name>/, emptied first. */
function artifactsDir (name) {
  const dir = path.join(ARTIFACTS, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** A port of 127.0.0.1 that nothing listens on right now. */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function recordPid (pid) {
  if (process.env.E2E_PIDS) fs.writeFileSync(path.join(process.env.E2E_PIDS, String(pid)), '')
}

function forgetPid (pid) {
  if (process.env.E2E_PIDS) fs.rmSync(path.join(process.env.E2E_PIDS, String(pid)), { force: true })
}

// Every server still running when this process exits is killed (a last resort: stop() is the normal way).
const running = new Set()
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL') } catch {}
  }
})

/**
 * Starts `command args` with `env` and PORT set to a free port, and waits (bounded) until it prints
 * "listening on" or it exits. Output goes to <logDir>/<name>.log. Returns { url, port, stop }.
 */
async function startServer ({ name, command, args = [], env = {}, logDir }) {
  let lastError
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort()
    try {
      return await startOnce({ name, command, args, env, logDir, port })
    } catch (error) {
      lastError = error
      // Another process may have taken the port between freePort and the bind: try another one.
      if (!/address already in use|EADDRINUSE/i.test(String(error.message))) break
    }
  }
  throw lastError
}

function startOnce ({ name, command, args, env, logDir, port }) {
  const logPath = path.join(logDir, `${name}.log`)
  const log = fs.createWriteStream(logPath, { flags: 'a' })
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  running.add(child)
  if (child.pid) recordPid(child.pid)
  let output = ''
  let exited = null
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      running.delete(child)
      if (child.pid) forgetPid(child.pid)
      resolve(exited)
    })
  })
  const collect = (chunk) => {
    log.write(chunk)
    if (output.length < 64 * 1024) output += chunk.toString()
  }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT)
      await exit
      clearTimeout(timer)
    }
    await new Promise((resolve) => log.end(resolve))
  }

  return new Promise((resolve, reject) => {
    let settled = false
    const fail = async (why) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      await stop()
      reject(new Error(`${name} (${command}) ${why}; its output (${logPath}):\n${output.slice(-4000)}`))
    }
    const timer = setTimeout(() => fail(`did not print "listening on" within ${START_TIMEOUT / 1000} s`),
      START_TIMEOUT)
    const onData = () => {
      if (!settled && output.includes('listening on')) {
        settled = true
        clearTimeout(timer)
        resolve({ name, port, url: `http://127.0.0.1:${port}`, stop, output: () => output })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', (error) => fail(`could not start: ${error.message}`))
    exit.then(({ code, signal }) => fail(`exited (code ${code}, signal ${signal}) before listening`))
  })
}

/**
 * Headless Chromium with a fresh profile. Returns { context, page, close }; close() also removes the profile.
 */
async function launchBrowser () {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run e2e/install.sh`)
  const profile = fs.mkdtempSync(path.join(process.env.E2E_TMP || os.tmpdir(), 'e2e-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: START_TIMEOUT,
    viewport: { width: 800, height: 360 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync'
    ]
  })
  context.setDefaultTimeout(STEP_TIMEOUT)
  context.setDefaultNavigationTimeout(STEP_TIMEOUT)
  const page = context.pages()[0] || await context.newPage()
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    let timer
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT) })
    await Promise.race([context.close(), timeout])
    clearTimeout(timer)
    fs.rmSync(profile, { recursive: true, force: true })
  }
  return { context, page, close }
}

/**
 * `n` new contexts of a browser from launchBrowser, each with a cookie jar of its own: `n` devices. Returns
 * { devices: [{ context, page }], close }; close() closes the contexts (the browser stays open).
 */
async function newDevices (browser, n) {
  const devices = []
  const close = () => Promise.all(devices.map(({ context }) => context.close().catch(() => {})))
  try {
    for (let i = 0; i < n; i++) {
      const context = await browser.context.browser().newContext({ viewport: { width: 800, height: 360 } })
      context.setDefaultTimeout(STEP_TIMEOUT)
      context.setDefaultNavigationTimeout(STEP_TIMEOUT)
      devices.push({ context, page: null })
      devices[i].page = await context.newPage()
    }
  } catch (error) {
    await close()
    throw error
  }
  return { devices, close }
}

/** Waits (bounded) until the page's text contains `text`, then returns the text. */
async function waitForText (page, text) {
  try {
    await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), text,
      { timeout: STEP_TIMEOUT })
  } catch (error) {
    const body = await page.evaluate(() => document.body ? document.body.innerText : '').catch(() => '?')
    throw new Error(`the page at ${page.url()} never showed ${JSON.stringify(text)}; it shows ` +
      `${JSON.stringify(body)} (${error.message.split('\n')[0]})`)
  }
  return page.evaluate(() => document.body.innerText)
}

/**
 * Asserts the page is express-session's login form: inputs `user` and `pass`, posting to `<base>/login` (`base`: the
 * path prefix of an app behind a proxy, as in Test C; default none).
 */
async function assertLoginForm (page, base = '') {
  await page.locator(`form[action="${base}/login"][method="post"]`).waitFor()
  assert.equal(await page.locator('input[name="user"]').count(), 1, 'a `user` input')
  assert.equal(await page.locator('input[name="pass"][type="password"]').count(), 1, 'a `pass` input')
  assert.ok(!(await page.evaluate(() => document.body.innerText)).includes('hello'), 'not greeted')
}

/**
 * Fills in the login form and submits it; returns the response of the page it redirects to (`<base>/`), once
 * loaded.
 */
async function logIn (page, user, pass = 'secret', base = '') {
  await page.fill('input[name="user"]', user)
  await page.fill('input[name="pass"]', pass)
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `${base}/`),
    page.click('input[type="submit"]')
  ])
  await page.waitForLoadState('load')
  return response
}

/** Clicks the Logout link (`<base>/logout`); returns the response of the page it redirects to, once loaded. */
async function logOut (page, base = '') {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `${base}/`),
    page.click(`a[href="${base}/logout"]`)
  ])
  await page.waitForLoadState('load')
  return response
}

/** Which app answered: express sends `X-Powered-By: Express`, the Rust examples send no such header. */
function servedBy (response) {
  return response.headers()['x-powered-by'] === 'Express' ? 'node' : 'rust'
}

/** The browser's session cookie for `url` (connect.sid), or undefined. */
async function sessionCookie (context, url) {
  return (await context.cookies(url)).find((c) => c.name === 'connect.sid')
}

/** The session id in a connect.sid value: `s%3A<id>.<signature>` → `<id>`. */
function sessionId (value) {
  const match = /^s:([^.]+)\./.exec(decodeURIComponent(value))
  assert.ok(match, `a signed session cookie: ${value}`)
  return match[1]
}

/**
 * Saves a screenshot as <dir>/<name>.png and returns its path. A caption (default: the page's URL) is shown in a
 * grey bar at the bottom for the screenshot only, since a headless screenshot has no address bar.
 */
async function screenshot (page, dir, name, caption = page.url()) {
  const file = path.join(dir, `${name}.png`)
  await page.evaluate((text) => {
    const bar = document.createElement('div')
    bar.id = '__e2e_caption'
    bar.textContent = text
    bar.style.cssText = 'position:fixed;left:0;right:0;bottom:0;padding:4px 8px;background:#ddd;color:#333;' +
      'font:12px monospace;border-top:1px solid #999'
    document.body.appendChild(bar)
  }, `${name}: ${caption}`)
  try {
    await page.screenshot({ path: file })
  } finally {
    await page.evaluate(() => document.getElementById('__e2e_caption')?.remove())
  }
  return file
}

/**
 * The Redis of the tests on Redis: REDIS_URL (default redis://127.0.0.1:6379) on logical database E2E_REDIS_DB
 * (default 9; used only when REDIS_URL names no database; empty to keep the URL as it is).
 */
function redisUrl () {
  const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379')
  const db = process.env.E2E_REDIS_DB ?? '9'
  if (db !== '' && (url.pathname === '' || url.pathname === '/')) url.pathname = '/' + db
  return url.toString()
}

/** Adds to the set `ids` the session ids in the Set-Cookie header lines `values` (connect.sid only). */
function collectSessionIds (ids, values) {
  for (const line of values.flatMap((v) => v.split('\n'))) {
    const match = /^connect\.sid=([^;]*)/.exec(line.trim())
    if (!match) continue
    try { ids.add(sessionId(match[1])) } catch {}
  }
}

/**
 * Adds to the set `ids` the session id of every connect.sid cookie the browser `context` receives from now on.
 * Returns `settled()`, which waits (bounded) until the responses seen so far are read.
 */
function watchSessionIds (context, ids) {
  const pending = []
  context.on('response', (response) => {
    pending.push(response.headersArray().then((headers) => collectSessionIds(ids,
      headers.filter((x) => x.name.toLowerCase() === 'set-cookie').map((x) => x.value)), () => {}))
  })
  return async () => {
    let timer
    await Promise.race([Promise.all(pending), new Promise((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT) })])
    clearTimeout(timer)
  }
}

/**
 * Requests `url` outside the browser with connect.sid=`value`, not following redirects; returns the body. The
 * session ids of the reply's cookies are added to `ids`.
 */
async function getWithCookie (url, value, ids) {
  const response = await fetch(url, { headers: { cookie: `connect.sid=${value}` }, redirect: 'manual',
    signal: AbortSignal.timeout(STEP_TIMEOUT) })
  collectSessionIds(ids, response.headers.getSetCookie())
  return response.text()
}

/** Whether REQUIRE_SERVICES=1: a missing service is a failure, not a skip. */
function servicesRequired () {
  return process.env.REQUIRE_SERVICES === '1'
}

module.exports = {
  ROOT,
  artifactsDir,
  assertLoginForm,
  collectSessionIds,
  getWithCookie,
  launchBrowser,
  newDevices,
  logIn,
  logOut,
  redisUrl,
  screenshot,
  servedBy,
  servicesRequired,
  sessionCookie,
  sessionId,
  startServer,
  waitForText,
  watchSessionIds
}
