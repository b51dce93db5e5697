'use strict'
// Isolation of the Redis and PostgreSQL stores: each side of a run gets its
// own key prefix / table, named after a unique run id, and everything is
// removed when the run ends. The clients come from the twin's pinned
// dependencies (conformance/twin/node_modules).

const path = require('node:path')
const { createRequire } = require('node:module')

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1/test'

function twinRequire (name) {
  const req = createRequire(path.join(__dirname, '..', '..', 'twin', 'package.json'))
  try {
    return req(name)
  } catch (err) {
    throw new Error(`cannot load ${name} from conformance/twin/node_modules (run npm ci there): ${err.message}`)
  }
}

class StoreIsolation {
  constructor (store, runId) {
    this.store = store
    this.names = {
      A: { prefix: `conformance:${runId}:a:`, table: `conformance_${runId}_a` },
      B: { prefix: `conformance:${runId}:b:`, table: `conformance_${runId}_b` }
    }
  }

  // Environment for the server of `side` ("A" or "B").
  env (side) {
    const n = this.names[side]
    return { REDIS_URL, DATABASE_URL, STORE_PREFIX: n.prefix, PG_TABLE: n.table }
  }

  // connect-pg-simple's createTableIfMissing runs its table.sql, whose
  // constraint and index names ("session_pkey", "IDX_session_expire") are
  // fixed, so it cannot create two tables in one schema. The runner creates
  // both tables itself, same columns, names made unique; the servers then
  // find them present.
  async prepare () {
    if (this.store !== 'postgres') return
    await this.withPg(async (client) => {
      for (const { table } of Object.values(this.names)) {
        await client.query(`CREATE TABLE "${table}" ("sid" varchar NOT NULL COLLATE "default", "sess" json NOT NULL, "expire" timestamp(6) NOT NULL)`)
        await client.query(`ALTER TABLE "${table}" ADD CONSTRAINT "${table}_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE`)
        await client.query(`CREATE INDEX "IDX_${table}_expire" ON "${table}" ("expire")`)
      }
    })
  }

  async cleanup () {
    if (this.store === 'postgres') {
      await this.withPg(async (client) => {
        for (const { table } of Object.values(this.names)) await client.query(`DROP TABLE IF EXISTS "${table}"`)
      })
    } else if (this.store === 'redis') {
      const { createClient } = twinRequire('redis')
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      try {
        // The sessions, and the Rust RedisStore's owner index: one set per
        // owner under "owner:" + the prefix (its default).
        const patterns = Object.values(this.names).flatMap(({ prefix }) => [prefix + '*', 'owner:' + prefix + '*'])
        for (const pattern of patterns) {
          for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 100 })) {
            const keys = Array.isArray(batch) ? batch : [batch]
            if (keys.length) await client.del(keys)
          }
        }
      } finally {
        await client.quit()
      }
    }
  }

  // Whether the store of `side` holds a record under session id `id`; null
  // for the memory store, which lives inside the server process.
  async hasRecord (side, id) {
    const { prefix, table } = this.names[side]
    if (this.store === 'postgres') {
      return this.withPg(async (client) => (await client.query(`SELECT 1 FROM "${table}" WHERE sid = $1`, [id])).rowCount > 0)
    }
    if (this.store === 'redis') {
      const { createClient } = twinRequire('redis')
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      try {
        return (await client.exists(prefix + id)) > 0
      } finally {
        await client.quit()
      }
    }
    return null
  }

  // The stored text of the record under `id` in the store of `side`, byte
  // for byte (null when there is none); undefined for the memory store,
  // which lives inside the server process.
  async readRecord (side, id) {
    const { prefix, table } = this.names[side]
    if (this.store === 'postgres') {
      return this.withPg(async (client) => {
        const { rows } = await client.query(`SELECT sess::text AS text FROM "${table}" WHERE sid = $1`, [id])
        return rows.length ? rows[0].text : null
      })
    }
    if (this.store === 'redis') return this.withRedis((client) => client.get(prefix + id))
    return undefined
  }

  // Writes `text` as the record under `id` in the store of `side`, as
  // another app sharing the store could (connect-pg-simple's json column
  // keeps the text as it is), expiring in a day. Not for the memory store.
  async writeRecord (side, id, text) {
    const { prefix, table } = this.names[side]
    if (this.store === 'postgres') {
      return this.withPg((client) => client.query(
        `INSERT INTO "${table}" (sid, sess, expire) VALUES ($1, $2::json, (now() AT TIME ZONE 'UTC') + interval '1 day')
         ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire`, [id, text]))
    }
    if (this.store === 'redis') return this.withRedis((client) => client.set(prefix + id, text, { EX: 86400 }))
    throw new Error('a record cannot be written into the memory store from outside the server')
  }

  async withRedis (fn) {
    const { createClient } = twinRequire('redis')
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.quit()
    }
  }

  async withPg (fn) {
    const { Client } = twinRequire('pg')
    const client = new Client({ connectionString: DATABASE_URL })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }
}

module.exports = { StoreIsolation }
