'use strict'
// express-session's login example (its README's second example), on connect-redis: the Node half of the mixed
// deployment test. The same routes, HTML, secret and options as examples/src/login.rs with
// examples/stores/redis-login.rs, so the two apps share a login through the cookie and Redis.
//
// Environment: PORT (default 3000), REDIS_URL (default redis://127.0.0.1:6379), STORE_PREFIX (default "sess:",
// connect-redis's and the Rust example's). Prints "listening on http://127.0.0.1:<port>" once it listens.

process.noDeprecation = true

const express = require('express')
const session = require('express-session')
const escapeHtml = require('escape-html')
const { RedisStore } = require('connect-redis')
const { createClient } = require('redis')

async function main () {
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' })
  client.on('error', (err) => console.error('redis:', err.message))
  await client.connect()

  const app = express()

  app.use(session({
    store: new RedisStore({ client, prefix: process.env.STORE_PREFIX || 'sess:' }),
    secret: 'keyboard cat',
    resave: false,
    saveUninitialized: true
  }))

  // middleware to test if authenticated
  function isAuthenticated (req, res, next) {
    if (req.session.user) next()
    else next('route')
  }

  app.get('/', isAuthenticated, function (req, res) {
    // this is only called when there is an authentication user due to isAuthenticated
    res.send('hello, ' + escapeHtml(req.session.user) + '!' +
      ' <a href="/logout">Logout</a>')
  })

  app.get('/', function (req, res) {
    res.send('<form action="/login" method="post">' +
      'Username: <input name="user"><br>' +
      'Password: <input name="pass" type="password"><br>' +
      '<input type="submit" text="Login"></form>')
  })

  app.post('/login', express.urlencoded({ extended: false }), function (req, res, next) {
    // login logic to validate req.body.user and req.body.pass
    // would be implemented here. for this example any combo works

    // regenerate the session, which is good practice to help
    // guard against forms of session fixation
    req.session.regenerate(function (err) {
      if (err) return next(err)

      // store user information in session, typically a user id
      req.session.user = req.body.user

      // save the session before redirection to ensure page
      // load does not happen before session is saved
      req.session.save(function (err) {
        if (err) return next(err)
        res.redirect('/')
      })
    })
  })

  app.get('/logout', function (req, res, next) {
    // logout logic

    // clear the user from the session object and save.
    // this will ensure that re-using the old session id
    // does not have a logged in user
    req.session.user = null
    req.session.save(function (err) {
      if (err) return next(err)

      // regenerate the session, which is good practice to help
      // guard against forms of session fixation
      req.session.regenerate(function (err) {
        if (err) return next(err)
        res.redirect('/')
      })
    })
  })

  const port = Number(process.env.PORT || 3000)
  const server = app.listen(port, '127.0.0.1', (err) => {
    if (err) throw err
    console.log(`listening on http://127.0.0.1:${server.address().port}`)
  })
  const shutdown = () => {
    server.close()
    client.quit().catch(() => {}).finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
