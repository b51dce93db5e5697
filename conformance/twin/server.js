'use strict'
// The Node twin: express 5 + express-session behind the conformance protocol.
// The protocol is specified in ../README.md; the Rust conformance server
// implements the same one. Keep this file and that document in step.
//
// Environment:
//   PORT             port to listen on (127.0.0.1)
//   SESSION_OPTIONS  JSON: express-session options + "trustProxy", "store",
//                    "storeFail" (see README)
//   REDIS_URL, STORE_PREFIX, DATABASE_URL, PG_TABLE  store settings

// depd decides when express-session is loaded whether its deprecation
// warnings ("undefined resave option" ...) are printed: silence them, they
// are expected whenever a scenario leaves an option at its default.
process.noDeprecation = true

const { setTimeout: sleep } = require('node:timers/promises')
// The longest "sleep" op.
const MAX_SLEEP_MS = 10000
const express = require('express')
const session = require('express-session')

const options = JSON.parse(process.env.SESSION_OPTIONS || '{}')
const port = Number(process.env.PORT)
if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be set')

// The express-session options, taken from SESSION_OPTIONS. A key that is
// absent stays absent, so express-session applies its own default.
function sessionOptions (opts) {
  const out = {}
  for (const key of ['secret', 'name', 'resave', 'rolling', 'saveUninitialized', 'unset', 'proxy']) {
    if (key in opts) out[key] = opts[key]
  }
  if ('cookie' in opts) {
    // Rebuilt key by key: the order matters (when both maxAge and expires are
    // given, the later one wins), and expires travels as an ISO string.
    out.cookie = {}
    for (const [key, value] of Object.entries(opts.cookie)) {
      out.cookie[key] = key === 'expires' && typeof value === 'string' ? new Date(value) : value
    }
  }
  return out
}

async function createStore (kind) {
  switch (kind || 'memory') {
    case 'memory': {
      const store = new session.MemoryStore()
      // MemoryStore#all: {sid: session}, expired ones left out.
      const list = () => new Promise((resolve, reject) => {
        store.all((err, all) => (err ? reject(err) : resolve(Object.entries(all || {}).map(([id, sess]) => ({ id, sess })))))
      })
      return { store, ready: async () => {}, list }
    }
    case 'redis': {
      const { createClient } = require('redis')
      const { RedisStore } = require('connect-redis')
      const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' })
      client.on('error', (err) => console.error('redis client error:', err.message))
      await client.connect()
      const store = new RedisStore({ client, prefix: process.env.STORE_PREFIX || 'sess:' })
      // connect-redis's all: every session under the prefix (SCAN), each with its id.
      const list = async () => (await store.all()).map((sess) => ({ id: sess.id, sess }))
      return { store, ready: async () => {}, list }
    }
    case 'postgres': {
      const PGStore = require('connect-pg-simple')(session)
      const { Pool } = require('pg')
      const conObject = {
        connectionString: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1/test',
        // "expire" is a timestamp without time zone: pin the session zone
        // so every writer and reader of the table agrees on wall-clock time.
        options: '-c TimeZone=UTC'
      }
      // One pool for both: the store's, and the owner ops' scan below.
      const pool = new Pool(conObject)
      const tableName = process.env.PG_TABLE || 'session'
      const store = new PGStore({ pool, tableName, createTableIfMissing: true })
      // A lookup of an id that cannot exist opens the pool and creates the
      // table if missing, so the first real request does not pay for it.
      const ready = () => new Promise((resolve, reject) => {
        store.get('conformance-readiness-probe', (err) => (err ? reject(err) : resolve()))
      })
      // connect-pg-simple has no all: the live rows, read as its get reads them.
      const list = async () => {
        const res = await pool.query(`SELECT sid, sess FROM "${tableName}" WHERE expire >= to_timestamp($1)`, [Math.ceil(Date.now() / 1000)])
        return res.rows.map((row) => ({ id: row.sid, sess: typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess }))
      }
      return { store, ready, list }
    }
    default:
      throw new Error('unknown store ' + JSON.stringify(kind))
  }
}

// "storeFail": {"get"|"set"|"touch"|"destroy": message}. The named store
// methods fail with Error(message); the message "ENOENT" instead gives an
// error with code ENOENT, which express-session's get treats as "not found".
function injectStoreFailures (store, failures) {
  for (const [method, message] of Object.entries(failures || {})) {
    if (!['get', 'set', 'touch', 'destroy'].includes(method)) {
      throw new Error('storeFail: unknown store method ' + method)
    }
    store[method] = function failing (...args) {
      const callback = args[args.length - 1]
      const err = new Error(message)
      if (message === 'ENOENT') err.code = 'ENOENT'
      setImmediate(callback, err)
    }
  }
}

// ---------------------------------------------------------------------------
// Session operations (the "ops" of a POST body).
// ---------------------------------------------------------------------------

class OpError extends Error {}

// Ops that act on req.session fail this way once it is gone (after destroy
// or unset, or when express-session attached no session at all).
function sessionOf (req) {
  if (!req.session) throw new OpError('no session')
  return req.session
}

// Runs a callback-style session method; resolves to its error, if any.
function callback (fn) {
  return new Promise((resolve) => fn((err) => resolve(err)))
}

// The cookie fields a scenario may assign with "setCookieField".
const COOKIE_FIELDS = ['expires', 'maxAge', 'originalMaxAge', 'domain', 'path', 'httpOnly', 'secure', 'sameSite', 'partitioned', 'priority']

// Each op returns its result (undefined -> null); throwing OpError or any
// other error yields {"error": message} as the result.
const OPS = {
  get (req, op) {
    return sessionOf(req)[op.key]
  },
  set (req, op) {
    sessionOf(req)[op.key] = op.value
  },
  remove (req, op) {
    delete sessionOf(req)[op.key]
  },
  incr (req, op) {
    const s = sessionOf(req)
    s[op.key] = typeof s[op.key] === 'number' ? s[op.key] + 1 : 1
    return s[op.key]
  },
  async regenerate (req) {
    const err = await callback((cb) => sessionOf(req).regenerate(cb))
    if (err) throw err
  },
  async destroy (req) {
    const err = await callback((cb) => sessionOf(req).destroy(cb))
    if (err) throw err
  },
  async reload (req) {
    const err = await callback((cb) => sessionOf(req).reload(cb))
    if (err) throw err
  },
  async save (req) {
    const err = await callback((cb) => sessionOf(req).save(cb))
    if (err) throw err
  },
  touch (req) {
    sessionOf(req).touch()
  },
  resetMaxAge (req) {
    sessionOf(req).resetMaxAge()
  },
  setMaxAge (req, op) {
    sessionOf(req).cookie.maxAge = op.value
  },
  setCookieField (req, op) {
    const cookie = sessionOf(req).cookie
    if (!COOKIE_FIELDS.includes(op.field)) throw new OpError('unknown cookie field')
    // An ISO string becomes a Date (an unparsable one an Invalid Date, which
    // makes express-session fail when it writes the Set-Cookie header).
    cookie[op.field] = op.field === 'expires' && typeof op.value === 'string' ? new Date(op.value) : op.value
  },
  unset (req) {
    req.session = null
  },
  status (req, op, res) {
    res.status(op.value)
  },
  async sleep (req, op) {
    // "ms" or "value", at most MAX_SLEEP_MS.
    const ms = Number.isInteger(op.ms) ? op.ms : Number.isInteger(op.value) ? op.value : 0
    await sleep(Math.min(Math.max(ms, 0), MAX_SLEEP_MS))
  },
  storeEvent (req, op) {
    if (op.event !== 'connect' && op.event !== 'disconnect') throw new OpError('unknown store event')
    req.app.locals.store.emit(op.event)
  }
}

// ---------------------------------------------------------------------------
// Owner ops (issue 16). express-session keeps no owner index: the twin
// plays them as an app on express-session would, by scanning the store
// (MemoryStore#all, connect-redis's all, a query of connect-pg-simple's
// table) for the sessions whose OWNER_KEY names the owner, and destroying
// them through the store. The answers match the Rust servers' wherever no
// request of the owner is in flight meanwhile; with one in flight,
// express-session's unconditional save brings a destroyed session back,
// which is why the races are Rust-only cases (conformance/concurrency.js).
// ---------------------------------------------------------------------------

// The data key naming a session's owner; conformance-common's OWNER_KEY.
const OWNER_KEY = 'owner'
const MAX_OWNER_BYTES = 255
// The Rust servers answer one page of an owner's sessions.
const OWNER_PAGE = 100

// The owner a session value names, as the Rust stores' owner_of reads it: a
// string of 1 to 255 bytes, or a safe integer in decimal; else null.
function ownerOf (value) {
  if (typeof value === 'string') {
    const bytes = Buffer.byteLength(value)
    return bytes >= 1 && bytes <= MAX_OWNER_BYTES ? value : null
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return null
}

// The ids of the stored, live sessions of `owner`.
async function sessionsOf (req, owner) {
  const all = await req.app.locals.listSessions()
  return all.filter(({ sess }) => sess && ownerOf(sess[OWNER_KEY]) === owner).map(({ id }) => id)
}

// The store's own destroy, not one "storeFail" replaced: the Rust servers
// inject no failures into the owner index either.
function destroyStored (req, id) {
  const store = req.sessionStore
  const destroy = Object.getPrototypeOf(store).destroy
  return new Promise((resolve, reject) => destroy.call(store, id, (err) => (err ? reject(err) : resolve())))
}

// Ends every stored session of the current session's owner but the current
// one; how many.
async function endOthers (req) {
  const owner = ownerOf(sessionOf(req)[OWNER_KEY])
  if (owner === null) return 0
  const others = (await sessionsOf(req, owner)).filter((id) => id !== req.sessionID)
  for (const id of others) await destroyStored(req, id)
  return others.length
}

Object.assign(OPS, {
  // regenerate, then name the owner, as an app does at login.
  async login (req, op) {
    if (typeof op.value !== 'string' || ownerOf(op.value) === null) throw new OpError('login needs an owner: a string of 1 to 255 bytes')
    await OPS.regenerate(req)
    sessionOf(req)[OWNER_KEY] = op.value
  },
  async sessionsOf (req) {
    const owner = ownerOf(sessionOf(req)[OWNER_KEY])
    return owner === null ? 0 : Math.min((await sessionsOf(req, owner)).length, OWNER_PAGE)
  },
  logoutOthers (req) {
    return endOthers(req)
  },
  // The others, then this session as destroy does; this one counts when it
  // was stored.
  async logoutEverywhere (req) {
    const others = await endOthers(req)
    const stored = (await req.app.locals.listSessions()).some(({ id }) => id === req.sessionID)
    await OPS.destroy(req)
    return others + (stored ? 1 : 0)
  }
})

async function runOps (req, res, next) {
  const ops = (req.body && req.body.ops) || []
  const results = []
  for (const op of ops) {
    if (op.op === 'error') {
      // The handler fails: the remaining ops do not run, and express-session
      // still saves the session when the error response ends.
      next(new Error('error op'))
      return
    }
    const fn = OPS[op.op]
    try {
      if (!fn) throw new OpError('unknown op')
      const value = await fn(req, op, res)
      results.push(value === undefined ? null : value)
    } catch (err) {
      results.push({ error: err.message })
    }
  }
  res.json({
    results,
    id: req.session ? req.sessionID : null,
    // Cookie#toJSON: the fields express-session stores, undefined ones left
    // out by JSON.stringify; expires as an ISO string (null if invalid).
    cookie: req.session ? req.session.cookie : null
  })
}

// ---------------------------------------------------------------------------

async function main () {
  const { store, ready, list } = await createStore(options.store)
  await ready()
  injectStoreFailures(store, options.storeFail)

  const app = express()
  app.locals.store = store
  app.locals.listSessions = list
  if ('trustProxy' in options) app.set('trust proxy', options.trustProxy)

  app.get('/__health', (req, res) => { res.send('ok') })
  app.use(express.json())
  app.use(session(Object.assign(sessionOptions(options), { store })))
  app.use((req, res, next) => {
    if (req.method === 'GET') {
      res.json({ id: req.session ? req.sessionID : null })
    } else if (req.method === 'POST') {
      runOps(req, res, next).catch(next)
    } else {
      next()
    }
  })
  // Every error ends as a 500. Errors that express-session reports after the
  // response has been sent (a failed store write, an unserializable cookie)
  // can only be logged.
  app.use((err, req, res, next) => {
    if (res.headersSent) {
      console.error('error after response:', err.message)
      return
    }
    res.status(500).json({ error: err.message })
  })

  const server = app.listen(port, '127.0.0.1')
  server.on('error', (err) => { console.error(err.message); process.exit(1) })
  process.on('SIGTERM', () => process.exit(0))
}

main().catch((err) => {
  console.error('twin failed to start:', err.message)
  process.exit(1)
})
