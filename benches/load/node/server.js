// express-session's first README example (the view counter), plus the benchmark's routes:
// GET /static answers "ok" under the session middleware without touching the session, GET /fill stores a
// 1 KiB string in the session once, then counts the view as /foo does.
//
// STORE=memory|redis, PORT, REDIS_URL. NODE_ENV=production is set by run.sh.
'use strict'

const express = require('express')
const parseurl = require('parseurl')
const session = require('express-session')

async function main () {
  const port = Number(process.env.PORT || 3000)
  const kind = process.env.STORE || 'memory'
  let store
  if (kind === 'redis') {
    const { createClient } = require('redis')
    const { RedisStore } = require('connect-redis')
    const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6399' })
    await client.connect()
    store = new RedisStore({ client })
  } else if (kind !== 'memory') {
    throw new Error('unknown STORE ' + kind)
  }
  // express-session prints a warning about MemoryStore in production; it is what this benchmark measures.
  const app = express()
  app.use(session({ store, secret: 'keyboard cat', resave: false, saveUninitialized: true }))
  app.get('/static', (req, res) => res.send('ok'))
  app.use(function (req, res, next) {
    if (!req.session.views) req.session.views = {}
    const pathname = parseurl(req).pathname
    req.session.views[pathname] = (req.session.views[pathname] || 0) + 1
    next()
  })
  app.get('/foo', (req, res) => res.send('you viewed this page ' + req.session.views['/foo'] + ' times'))
  app.get('/bar', (req, res) => res.send('you viewed this page ' + req.session.views['/bar'] + ' times'))
  app.get('/fill', (req, res) => {
    req.session.blob = 'x'.repeat(1024)
    res.send('you viewed this page ' + req.session.views['/fill'] + ' times')
  })
  app.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port} (express-session, ${kind})`))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
