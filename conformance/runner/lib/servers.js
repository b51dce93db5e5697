'use strict'
// Starting and stopping the server of one side. The command runs under
// /bin/sh in its own process group, so a wrapper script and the server it
// starts are stopped together.

const { spawn } = require('node:child_process')
const net = require('node:net')
const { setTimeout: sleep } = require('node:timers/promises')
const { send } = require('./client')

const START_TIMEOUT_MS = 20000
const STOP_TIMEOUT_MS = 3000
const LOG_TAIL_BYTES = 4000

// Process groups still running, killed if the runner exits early.
const running = new Set()
process.on('exit', () => {
  for (const pgid of running) {
    try { process.kill(-pgid, 'SIGKILL') } catch {}
  }
})

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

class Server {
  // label: "A" or "B"; env: extra environment (store settings).
  constructor (label, command, env) {
    this.label = label
    this.command = command
    this.env = env
    this.child = null
    this.port = null
    this.log = ''
  }

  // Starts the server with these SESSION_OPTIONS and waits for /__health.
  async start (sessionOptions) {
    this.port = await freePort()
    this.log = ''
    const child = spawn('/bin/sh', ['-c', this.command], {
      env: { ...process.env, ...this.env, PORT: String(this.port), SESSION_OPTIONS: JSON.stringify(sessionOptions) },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.child = child
    running.add(child.pid)
    const keep = (chunk) => { this.log = (this.log + chunk).slice(-LOG_TAIL_BYTES) }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      running.delete(child.pid)
      child.exitStatus = signal || code
      resolve()
    }))

    const deadline = Date.now() + START_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (child.exitStatus !== undefined) {
        throw new Error(`server ${this.label} exited (${child.exitStatus}) before it was ready\n${this.logTail()}`)
      }
      try {
        const res = await send({ port: this.port, method: 'GET', path: '/__health', headers: [] })
        if (res.status === 200) return
      } catch {} // not listening yet
      await sleep(25)
    }
    await this.stop()
    throw new Error(`server ${this.label} did not answer GET /__health within ${START_TIMEOUT_MS} ms\n${this.logTail()}`)
  }

  async stop () {
    const child = this.child
    if (!child) return
    this.child = null
    if (child.exitStatus !== undefined) return
    try { process.kill(-child.pid, 'SIGTERM') } catch {}
    const stopped = await Promise.race([child.exited.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })])
    if (!stopped) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
      await child.exited
    }
  }

  // The last lines the server printed, indented, for error reports.
  logTail () {
    const text = this.log.trim()
    return text ? text.split('\n').map((l) => `      | ${l}`).join('\n') : '      | (no output)'
  }
}

module.exports = { Server }
