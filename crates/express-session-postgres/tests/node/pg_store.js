// The Node side of tests/interop.rs: one connect-pg-simple 10 call (through express-session 1.19's Store API)
// per run, on the table the Rust test names. Uses the conformance twin's node_modules (NODE_PATH).
//
//   node pg_store.js '{"op":"set","schema":"s","sid":"id","sess":{...}}'
//
// ops: set (sess as given, or {cookie: new Cookie({maxAge}), ...data} when "max_age" is given, as express-session
// builds it), get, touch, destroy, create_table (createTableIfMissing). Prints one JSON line: {"ok": true, ...}.
// The pg session runs with TimeZone=UTC, as the Rust store's documentation requires of Node apps.
'use strict';

const session = require('express-session');
const connectPgSimple = require('connect-pg-simple');

const PGStore = connectPgSimple(session);

async function main () {
  const cmd = JSON.parse(process.argv[2]);
  const store = new PGStore({
    conObject: {
      connectionString: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1/test',
      options: '-c TimeZone=UTC'
    },
    schemaName: cmd.schema,
    tableName: cmd.table,
    createTableIfMissing: cmd.op === 'create_table',
    pruneSessionInterval: false
  });
  const call = (method, ...args) => new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
  let sess = cmd.sess;
  if (cmd.max_age !== undefined) {
    const cookie = new session.Cookie({ maxAge: cmd.max_age });
    sess = Object.assign({ cookie }, cmd.data || {});
  }
  let out = { ok: true };
  try {
    switch (cmd.op) {
      case 'create_table':
        await call('get', 'no-such-session');
        break;
      case 'set':
        await call('set', cmd.sid, sess);
        out.json = JSON.stringify(sess);
        break;
      case 'get':
        out.session = (await call('get', cmd.sid)) || null;
        break;
      case 'touch':
        await call('touch', cmd.sid, sess);
        break;
      case 'destroy':
        await call('destroy', cmd.sid);
        break;
      default:
        throw new Error('unknown op ' + cmd.op);
    }
  } finally {
    await store.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
