'use strict'
// The Node side of the interop test (../node_interop.rs): express 5 + express-session 1.19 + connect-redis 9,
// the real packages pinned by conformance/twin/package-lock.json (run `npm ci` there first).
//
// Environment: REDIS_URL, STORE_PREFIX, SECRET. Listens on a free port of 127.0.0.1 and prints
// "listening <port>"; exits when its standard input closes.
//
//   GET /login?user=U        regenerate, then req.session.user = U
//   GET /set?key=K&value=V   req.session[K] = V
//   GET /whoami              {"id": req.sessionID, "data": the session's keys but cookie}
//   GET /logout              req.session.destroy()
//   GET /import?json=J[&sameSite=S]   Object.assign(req.session, JSON.parse(J)) (values Rust cannot hold: lone
//                            surrogates, deep nesting), and req.session.cookie.sameSite = S when given
//   GET /raw                 JSON.stringify(req.session), as text
//   GET /all                 connect-redis's all(): {"ids": the ids of the sessions it returns}
//   GET /length              connect-redis's length(): {"length": n}

process.noDeprecation = true

const path = require('node:path')
const { createRequire } = require('node:module')

const twin = createRequire(path.resolve(__dirname, '../../../../conformance/twin/package.json'))
const express = twin('express')
const session = twin('express-session')
const { RedisStore } = twin('connect-redis')
const { createClient } = twin('redis')

async function main () {
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' })
  client.on('error', (err) => console.error('redis:', err.message))
  await client.connect()

  const app = express()
  app.use(session({
    store: new RedisStore({ client, prefix: process.env.STORE_PREFIX }),
    secret: process.env.SECRET,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 600000 }
  }))
  app.get('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.user = req.query.user
      req.session.save((err) => err ? next(err) : res.send('ok'))
    })
  })
  app.get('/set', (req, res) => {
    req.session[req.query.key] = req.query.value
    res.send('ok')
  })
  app.get('/import', (req, res) => {
    Object.assign(req.session, JSON.parse(req.query.json))
    if (req.query.sameSite !== undefined) req.session.cookie.sameSite = req.query.sameSite
    res.send('ok')
  })
  app.get('/raw', (req, res) => {
    res.type('text/plain').send(JSON.stringify(req.session))
  })
  app.get('/all', (req, res, next) => {
    req.sessionStore.all((err, sessions) => err ? next(err) : res.json({ ids: sessions.map((s) => s.id).sort() }))
  })
  app.get('/length', (req, res, next) => {
    req.sessionStore.length((err, length) => err ? next(err) : res.json({ length }))
  })
  app.get('/whoami', (req, res) => {
    const data = {}
    for (const key of Object.keys(req.session)) {
      if (key !== 'cookie') data[key] = req.session[key]
    }
    res.json({ id: req.sessionID, data })
  })
  app.get('/logout', (req, res, next) => {
    req.session.destroy((err) => err ? next(err) : res.send('bye'))
  })

  const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`))
  process.stdin.on('end', () => {
    server.close()
    client.quit().finally(() => process.exit(0))
  })
  process.stdin.resume()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
