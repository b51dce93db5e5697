// The Node side of tests/interop.rs: one express-mysql-session 3 call (through express-session 1.19's Store API)
// per run, on the table the Rust test names. Dependencies: package.json / package-lock.json beside this file.
//
//   node mysql_store.js '{"op":"set","table":"t","sid":"id","sess":{...}}'
//
// ops: set (sess as given, or {cookie: new Cookie({maxAge}), ...data} when "max_age" is given, as express-session
// builds it), get, touch, destroy, create_table (createDatabaseTable). Prints one JSON line: {"ok": true, ...}.
'use strict';

const session = require('express-session');
const MySQLStore = require('express-mysql-session')(session);

async function main () {
  const cmd = JSON.parse(process.argv[2]);
  const url = new URL(process.env.MYSQL_URL || 'mysql://root@127.0.0.1:3306/test');
  const store = new MySQLStore({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
    createDatabaseTable: cmd.op === 'create_table',
    clearExpired: false,
    schema: { tableName: cmd.table }
  });
  await store.onReady();
  const call = (method, ...args) => new Promise((resolve, reject) => {
    store[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
  let sess = cmd.sess;
  if (cmd.max_age !== undefined) {
    const cookie = new session.Cookie({ maxAge: cmd.max_age });
    sess = Object.assign({ cookie }, cmd.data || {});
  }
  const out = { ok: true };
  try {
    switch (cmd.op) {
      case 'create_table':
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
