// The Node side of the SQL stores' interop tests: one call of a real Node store (through express-session 1.19's
// Store API) per run, on the table the Rust test names. express_session_sql::testing::NodeStore runs it, with
// NODE_PATH pointing at the node_modules that hold the store's package.
//
//   node node_store.js '{"store":"pg","op":"set","schema":"s","sid":"id","sess":{...}}'
//
// stores: "pg" (connect-pg-simple 10, DATABASE_URL, on `schema`; the pg session runs with TimeZone=UTC, as the
// Rust store's documentation requires of Node apps) and "mysql" (express-mysql-session 3, MYSQL_URL, on `table`).
// ops: set (sess as given, or {cookie: new Cookie({maxAge, ...cookie}), ...data} when "max_age" is given, as
// express-session builds it; "data_json" is data as JSON text, for what only JavaScript holds: lone surrogates),
// get, get_json (the session as JSON.stringify writes it, in "json"), touch, destroy, create_table (the store's
// own table creation). Prints one JSON line: {"ok": true, ...}.
'use strict';

const session = require('express-session');

function open (cmd) {
  const create = cmd.op === 'create_table';
  if (cmd.store === 'pg') {
    const PGStore = require('connect-pg-simple')(session);
    return new PGStore({
      conObject: {
        connectionString: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1/test',
        options: '-c TimeZone=UTC'
      },
      schemaName: cmd.schema,
      tableName: cmd.table,
      createTableIfMissing: create,
      pruneSessionInterval: false
    });
  }
  if (cmd.store === 'mysql') {
    const MySQLStore = require('express-mysql-session')(session);
    const url = new URL(process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test');
    return new MySQLStore({
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1),
      createDatabaseTable: create,
      clearExpired: false,
      schema: { tableName: cmd.table }
    });
  }
  throw new Error('unknown store ' + cmd.store);
}

async function main () {
  const cmd = JSON.parse(process.argv[2]);
  const store = open(cmd);
  if (store.onReady) await store.onReady();
  const call = (method, ...args) => new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
  let sess = cmd.sess;
  if (cmd.max_age !== undefined) {
    const cookie = new session.Cookie(Object.assign({ maxAge: cmd.max_age }, cmd.cookie || {}));
    const data = cmd.data_json !== undefined ? JSON.parse(cmd.data_json) : cmd.data
    sess = Object.assign({ cookie }, data || {});
  }
  const out = { ok: true };
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
      case 'get_json':
        out.json = JSON.stringify((await call('get', cmd.sid)) || null);
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
