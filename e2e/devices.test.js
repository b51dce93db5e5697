'use strict'
// Test D: `cargo run --example devices` (examples/stores/devices.rs) in headless Chromium, with three browser
// contexts as three devices (a cookie jar each): devices A and B log in as one user, device C as another. Each of
// A and B sees both sessions with its own marked "this device"; A ends B's row and B is logged out on its next
// page load; B logs in again and A logs out the other devices; B logs in again and A logs out everywhere; C is
// never affected. Run on MemoryStore, then on Redis (REDIS_URL set for the example). Screenshots:
// target/e2e/devices/.
//
// Redis: as tests B and C (REDIS_URL, E2E_REDIS_DB; skipped without Redis unless REQUIRE_SERVICES=1). The user
// names carry a random suffix, so that runs sharing a Redis (or a run killed midway) never see each other's
// sessions; every session key the example sent is deleted at the end.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { after, before, describe, test } = require('node:test')

const { createClient } = require('redis')

const h = require('./lib/harness')

const BIN = process.env.E2E_DEVICES_BIN || path.join(h.ROOT, 'target', 'debug', 'examples', 'devices')
const PREFIX = 'sess:' // the example's RedisStore prefix (connect-redis's default)

const OWNERS = 'owner:' + PREFIX // the example's owner sets: OWNERS + user name

let dir, browser

before(async () => {
  dir = h.artifactsDir('devices')
  browser = await h.launchBrowser()
})

after(async () => {
  await browser?.close()
})

/** Goes to the app's `/` and logs in as `name` through the form; waits for the sessions table. */
async function logIn (page, url, name) {
  await page.goto(url + '/')
  await page.locator('form[action="/login"]').waitFor()
  await page.fill('input[name="user"]', name)
  await submit(page, 'form[action="/login"] button[type="submit"]')
  await page.locator('#sessions').waitFor()
}

/**
 * Clicks `selector` (a form's button) and waits until the page it leads to is loaded: the first 200 answer to a
 * navigation of the page (after a redirect, the page redirected to).
 */
async function submit (page, selector) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().frame() === page.mainFrame() &&
      r.status() === 200),
    page.click(selector)
  ])
  await page.waitForLoadState('load')
  return response
}

/** The rows of the sessions table: handle, whether marked as the current one, and its "device" cell. */
function rows (page) {
  return page.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => ({
    handle: tr.dataset.handle,
    current: tr.classList.contains('current'),
    device: tr.querySelector('td.device').textContent,
    times: tr.querySelectorAll('time').length
  })))
}

/** Reloads the page and asserts it shows `name`'s sessions: `count` rows, exactly one marked "this device". */
async function assertLoggedIn (page, url, name, count) {
  await page.goto(url + '/')
  await page.locator('#sessions').waitFor()
  assert.equal(await page.locator('h1').innerText(), `hello, ${name}!`)
  const table = await rows(page)
  assert.equal(table.length, count, `${count} sessions of ${name}: ${JSON.stringify(table)}`)
  const own = table.filter((r) => r.current)
  assert.equal(own.length, 1, `exactly one row is this device: ${JSON.stringify(table)}`)
  assert.equal(own[0].device, 'this device')
  assert.ok(table.filter((r) => !r.current).every((r) => r.device === ''), 'only one row says "this device"')
  assert.ok(table.every((r) => r.times >= 2), 'last seen and expires are shown on every row')
  return { table, own: own[0].handle }
}

/** Reloads the page of device `who` and asserts it is the login form (logged out). */
async function assertLoggedOut (page, url, who) {
  await page.goto(url + '/')
  if (await page.locator('#sessions').count() > 0) {
    const text = await page.evaluate(() => document.body.innerText)
    assert.fail(`device ${who} is still logged in: ${JSON.stringify(text)}`)
  }
  await page.locator('form[action="/login"]').waitFor()
}

for (const store of ['memory', 'redis']) {
  describe(`devices example on ${store === 'memory' ? 'MemoryStore' : 'Redis'}`, () => {
    let redis, server, skip
    const ids = new Set() // every session id the example sent, to delete their Redis keys at the end
    const names = new Set() // every user name logged in, to delete their owner sets at the end

    before(async () => {
      const missing = []
      if (!fs.existsSync(BIN)) missing.push(`the devices example is not built (${BIN})`)
      const env = {}
      if (store === 'redis') {
        const url = h.redisUrl()
        env.REDIS_URL = url
        redis = createClient({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } })
        redis.on('error', () => {})
        try {
          await redis.connect()
          await redis.ping()
        } catch (error) {
          redis = undefined
          missing.push(`no Redis at ${url} (${error.message})`)
        }
      } else {
        // The example picks Redis when REDIS_URL is set: not in this run.
        env.REDIS_URL = ''
      }
      if (missing.length) {
        const why = missing.join('; ')
        if (h.servicesRequired() || (store === 'memory' && !fs.existsSync(BIN))) {
          throw new Error(`${store}: ${why}`)
        }
        console.error(`e2e/devices.test.js: ${store}: SKIPPED: ${why}`)
        skip = why
        return
      }
      server = await h.startServer({ name: `devices-${store}`, command: BIN, env, logDir: dir })
      const expected = store === 'memory' ? 'sessions in memory' : 'sessions in Redis'
      assert.ok(server.output().includes(expected), `the example says "${expected}": ${server.output()}`)
    })

    after(async () => {
      await server?.stop()
      if (redis) {
        const keys = [...ids].map((id) => PREFIX + id).concat([...names].map((name) => OWNERS + name))
        if (keys.length) await redis.del(keys)
        await redis.quit()
      }
    })

    /** Three fresh devices for test `t`, closed when it ends; the session ids they receive are collected. */
    async function newDevices (t) {
      const devices = await h.newDevices(browser, 3)
      const settled = devices.devices.map(({ context }) => h.watchSessionIds(context, ids))
      t.after(async () => {
        await Promise.all(settled.map((s) => s()))
        await devices.close()
      })
      return devices
    }

    test('two devices of one user list and end each other; another user is never affected', async (t) => {
      if (skip) return t.skip(skip)
      const devices = await newDevices(t)
      const [a, b, c] = devices.devices.map((d) => d.page)
      const url = server.url
      const suffix = crypto.randomBytes(4).toString('hex')
      const alice = `alice-${suffix}`
      const carol = `carol <i>&</i> ${suffix}` // shown escaped: no <i> element
      names.add(alice).add(carol)
      const shot = (page, device, name) => h.screenshot(page, dir, `${store}-${name}`,
        `device ${device}: ${page.url()} (${store})`)
      /** On Redis: whether the session that device `device`'s cookie names is stored. */
      const stored = async (device) => {
        const cookie = await h.sessionCookie(devices.devices[device].context, url)
        return cookie ? (await redis.exists(PREFIX + h.sessionId(cookie.value))) === 1 : false
      }

      // C logs in as another user, first; its name is escaped.
      await logIn(c, url, carol)
      const carolSession = (await assertLoggedIn(c, url, carol, 1)).own
      assert.equal(await c.locator('h1 i').count(), 0, 'the name is shown as text')
      await shot(c, 'C', '01-c-carol')

      // A and B log in as alice: each sees both sessions, its own marked, and they agree on the handles.
      await logIn(a, url, alice)
      await logIn(b, url, alice)
      const seenByA = await assertLoggedIn(a, url, alice, 2)
      await shot(a, 'A', '02-a-two-sessions')
      const seenByB = await assertLoggedIn(b, url, alice, 2)
      await shot(b, 'B', '03-b-two-sessions')
      assert.notEqual(seenByA.own, seenByB.own)
      assert.deepEqual(seenByA.table.map((r) => r.handle).sort(), seenByB.table.map((r) => r.handle).sort())
      const cookieA = await h.sessionCookie(devices.devices[0].context, url)
      assert.ok(!seenByA.table.some((r) => decodeURIComponent(cookieA.value).includes(r.handle)),
        'a handle is not the session id')
      if (redis) assert.ok(await stored(1), "B's session is in Redis")

      // A ends B's row: B is logged out on its next page load, A is still in.
      await submit(a, `tr[data-handle="${seenByB.own}"] button[type="submit"]`)
      await h.waitForText(a, 'That session is ended')
      assert.deepEqual((await rows(a)).map((r) => r.handle), [seenByA.own])
      await shot(a, 'A', '04-a-ended-b')
      if (redis) assert.ok(!(await stored(1)), "B's session is gone from Redis")
      await assertLoggedOut(b, url, 'B')
      await shot(b, 'B', '05-b-logged-out')
      await assertLoggedIn(a, url, alice, 1)

      // B logs in again; A logs out the other devices: B out, A in.
      await logIn(b, url, alice)
      const again = await assertLoggedIn(a, url, alice, 2)
      assert.ok(!again.table.some((r) => r.handle === seenByB.own), "B's ended session is not listed again")
      await submit(a, 'form[action="/logout-others"] button')
      await h.waitForText(a, 'Logged out 1 other device.')
      await shot(a, 'A', '06-a-logged-out-others')
      await assertLoggedOut(b, url, 'B')
      await shot(b, 'B', '07-b-logged-out')
      assert.equal((await assertLoggedIn(a, url, alice, 1)).own, seenByA.own, 'A kept its session')

      // B logs in again; A logs out everywhere: both out.
      await logIn(b, url, alice)
      await assertLoggedIn(a, url, alice, 2)
      const lastOfA = h.sessionId((await h.sessionCookie(devices.devices[0].context, url)).value)
      await submit(a, 'form[action="/logout-everywhere"] button')
      await h.waitForText(a, 'Logged out everywhere: 2 sessions ended.')
      await shot(a, 'A', '08-a-logged-out-everywhere')
      await assertLoggedOut(a, url, 'A')
      await assertLoggedOut(b, url, 'B')
      await shot(b, 'B', '09-b-logged-out')
      if (redis) {
        assert.ok(!(await stored(1)), "B's session is gone from Redis")
        assert.equal(await redis.exists(PREFIX + lastOfA), 0, "A's session is gone from Redis")
        // The owner set may keep ids of ended sessions until it is next read or expires, never a live one.
        for (const id of await redis.sMembers(OWNERS + alice)) {
          assert.equal(await redis.exists(PREFIX + id), 0, `no live session of ${alice} is left`)
        }
        assert.ok(await redis.exists(OWNERS + carol), "carol's set is there")
      }

      // C was never affected: the same session, still logged in, alone in its list.
      assert.equal((await assertLoggedIn(c, url, carol, 1)).own, carolSession)
      await shot(c, 'C', '10-c-still-logged-in')
      await submit(c, 'form[action="/logout"] button')
      await h.waitForText(c, 'You are logged out.')
    })

    test('a handle that is not valid or not the user\'s ends nothing, and the page says so', async (t) => {
      if (skip) return t.skip(skip)
      const devices = await newDevices(t)
      const [a, , c] = devices.devices.map((d) => d.page)
      const url = server.url
      const suffix = crypto.randomBytes(4).toString('hex')
      names.add(`dave-${suffix}`).add(`erin-${suffix}`)
      await logIn(a, url, `dave-${suffix}`)
      await logIn(c, url, `erin-${suffix}`)
      const erin = (await assertLoggedIn(c, url, `erin-${suffix}`, 1)).own

      // A's end button, edited to name Erin's session, then to name nothing a handle can be.
      for (const handle of [erin, 'not a handle']) {
        await a.goto(url + '/')
        await a.locator('#sessions tbody tr input[name="handle"]').evaluate((input, value) => { input.value = value }, handle)
        await submit(a, '#sessions tbody tr button')
        await h.waitForText(a, 'That is not one of your sessions: nothing was ended.')
        assert.equal((await rows(a)).length, 1, 'A is still logged in')
      }
      await h.screenshot(a, dir, `${store}-11-a-nothing-ended`, `device A: ${a.url()} (${store})`)
      assert.equal((await assertLoggedIn(c, url, `erin-${suffix}`, 1)).own, erin, 'Erin is still logged in')

      for (const page of [a, c]) {
        await submit(page, 'form[action="/logout"] button')
        await h.waitForText(page, 'You are logged out.')
      }
    })
  })
}
