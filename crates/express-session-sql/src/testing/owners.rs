//! The owner-index cases the SQL stores share (the generated `owner` column): sessions a Node store writes are
//! found with no reindex, `reindex` adds the column to a table made without it, expired rows leave nothing, and
//! the figures of ending 1,000 sessions of one owner.

use std::future::Future;
use std::time::{Duration, Instant};

use express_session::store::{CreateOutcome, OWNER_BATCH, OwnerPage, SessionHandle, Store};
use express_session::testing::record;
use express_session::{SessionId, StoreError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::NodeStore;

/// A fresh owner name.
fn fresh(name: &str) -> String {
    format!("{name}-{}", &SessionId::generate().as_str()[..10])
}

/// A safe integer no other run uses.
fn fresh_number() -> i64 {
    let id = SessionId::generate();
    let bytes = id.as_str().as_bytes();
    4_000_000_000 + i64::from(u16::from_le_bytes([bytes[0], bytes[1]])) * 1_000 + i64::from(bytes[2])
}

async fn live<S: Store>(store: &S, owner: &str) -> OwnerPage {
    store.sessions_of(owner, OwnerPage::DEFAULT_LIMIT).await.expect("sessions_of")
}

/// Node (connect-pg-simple, express-mysql-session) writes sessions naming an owner under the store's owner key,
/// a string and an integer: the Rust store finds them at once (the database derives the column on Node's own
/// upsert; no reindex), by handle. Node still reads, writes, touches and destroys rows of the table with the
/// column, including a record the column cannot read (a lone surrogate, which names no owner there), and a
/// row Rust wrote for the owner; ending the owner's sessions ends Node's rows too, and Node sees them gone.
pub async fn node_rows_name_their_owner<S: Store>(store: &S, node: &NodeStore) {
    let key = store.owner_key().expect("a store with an owner key").to_owned();
    let (alice, number) = (fresh("alice"), fresh_number());
    let [a, b, c, d] = std::array::from_fn(|_| SessionId::generate());
    let set = |id: &SessionId, data: Value| {
        node.call(json!({"op": "set", "sid": id.as_str(), "max_age": 60_000, "data": data}))
    };
    set(&a, json!({ key.as_str(): alice, "views": 1 })).await;
    set(&b, json!({ key.as_str(): number })).await;
    // A value PostgreSQL's json operators refuse (a lone surrogate) elsewhere in the record: the write still
    // succeeds (the column is guarded) and Node reads the row back.
    node.call(json!({
        "op": "set", "sid": c.as_str(), "max_age": 60_000,
        "data_json": format!(r#"{{"{key}":"{alice}","odd":"\ud800"}}"#),
    }))
    .await;
    // (as JSON text: serde_json holds no lone surrogate)
    let back = node.call(json!({"op": "get_json", "sid": c.as_str()})).await;
    let back = back["json"].as_str().expect("Node reads the row back").to_owned();
    assert!(back.contains(&format!(r#""{key}":"{alice}""#)) && back.contains(r#""\ud800""#), "{back}");

    let page = live(store, &alice).await;
    let handles: Vec<&SessionHandle> = page.sessions.iter().map(|s| &s.handle).collect();
    assert!(handles.contains(&&SessionHandle::of(&a)), "Node's row is found with no reindex: {page:?}");
    let page = live(store, &number.to_string()).await;
    assert_eq!(page.sessions.len(), 1, "an integer owner, as Node writes it, is found by its decimal text");
    assert_eq!(page.sessions[0].handle, SessionHandle::of(&b));
    assert!(page.sessions[0].expires.is_some() && page.sessions[0].last_seen.is_some());

    // Rust writes a row of the owner; Node reads it, then writes over it with another owner: the column follows.
    let rec = record(store, Some(60_000), json!({ key.as_str(): alice, "from": "rust" }));
    assert!(matches!(store.create(&d, &rec).await.expect("create"), CreateOutcome::Created(_)));
    assert_eq!(node.call(json!({"op": "get", "sid": d.as_str()})).await["session"]["from"], "rust");
    let bob = fresh("bob");
    set(&d, json!({ key.as_str(): bob })).await;
    assert_eq!(live(store, &bob).await.sessions.len(), 1, "Node's upsert moved the row to its new owner");
    assert!(live(store, &alice).await.sessions.iter().all(|s| s.handle != SessionHandle::of(&d)));

    // Node's touch keeps the row (and its owner); ending the owner's sessions ends Node's rows.
    node.call(json!({"op": "touch", "sid": a.as_str(), "max_age": 120_000})).await;
    assert!(live(store, &alice).await.sessions.iter().any(|s| s.handle == SessionHandle::of(&a)));
    let ended = store.end_sessions_of(&alice, None).await.expect("end_sessions_of");
    assert!(ended >= 1, "{ended}");
    assert_eq!(node.call(json!({"op": "get", "sid": a.as_str()})).await["session"], Value::Null);
    assert!(store.end_session_of(&number.to_string(), &SessionHandle::of(&b)).await.expect("end_session_of"));
    assert_eq!(node.call(json!({"op": "get", "sid": b.as_str()})).await["session"], Value::Null);
    assert_eq!(node.call(json!({"op": "get", "sid": d.as_str()})).await["session"][key.as_str()], json!(bob));
}

/// A table made without the column (by the Node store's own table creation, or by a store without an owner
/// key), holding owned rows: the owner calls fail with an error that says to call `reindex`; `reindex` adds the
/// column and its index, counts the owned rows, and finds them; a second `reindex` changes nothing.
/// `write_owned` writes a live row naming the owner under the key (as Node would) on the table as it is.
pub async fn reindex_adds_the_column<S, W, WF>(store: &S, write_owned: W)
where
    S: Store,
    W: Fn(SessionId, String) -> WF,
    WF: Future<Output = ()>,
{
    let owner = fresh("legacy");
    let ids: Vec<SessionId> = (0..3).map(|_| SessionId::generate()).collect();
    for id in &ids {
        write_owned(id.clone(), owner.clone()).await;
    }
    let error = store.sessions_of(&owner, 10).await.expect_err("no column yet");
    assert!(!error.is_unavailable());
    let message = format!("{error}: {:?}", std::error::Error::source(&error).map(ToString::to_string));
    assert!(message.contains("reindex"), "{message}");
    assert!(matches!(store.end_sessions_of(&owner, None).await, Err(StoreError::Backend { .. })));

    assert_eq!(store.reindex().await.expect("reindex"), 3);
    assert_eq!(live(store, &owner).await.sessions.len(), 3);
    assert_eq!(store.reindex().await.expect("reindex again"), 3);
    assert!(store.end_session_of(&owner, &SessionHandle::of(&ids[0])).await.expect("end_session_of"));
    assert_eq!(store.end_sessions_of(&owner, Some(&ids[1])).await.expect("end_sessions_of"), 1);
    assert!(store.get(&ids[1]).await.expect("get").is_some());
}

/// Expired sessions of an owner leave no residue: the row is the index entry, so pruning removes both;
/// `count_owner_rows` counts every row of the table whose `owner` column names the owner, expired or not.
pub async fn expired_owned_rows_leave_nothing<S, P, PF, C, CF>(store: &S, prune: P, count_owner_rows: C)
where
    S: Store,
    P: Fn() -> PF,
    PF: Future<Output = u64>,
    C: Fn(String) -> CF,
    CF: Future<Output = i64>,
{
    let key = store.owner_key().expect("a store with an owner key").to_owned();
    let owner = fresh("expiring");
    for _ in 0..5 {
        let rec = record(store, Some(1_000), json!({ key.as_str(): owner }));
        store.create(&SessionId::generate(), &rec).await.expect("create");
    }
    let kept = SessionId::generate();
    store.create(&kept, &record(store, Some(60_000), json!({ key.as_str(): owner }))).await.expect("create");
    assert_eq!(count_owner_rows(owner.clone()).await, 6);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    assert_eq!(live(store, &owner).await.sessions.len(), 1, "expired sessions are not listed");
    assert!(prune().await >= 5);
    assert_eq!(count_owner_rows(owner.clone()).await, 1, "pruning removed the expired rows and their entries");
    assert_eq!(live(store, &owner).await.sessions[0].handle, SessionHandle::of(&kept));
}

/// Ends 1,000 sessions of one owner (but one) and prints how long it took and in how many statements, then how
/// long 500 sequential creates take on this store: the figures for the closing note.
pub async fn time_ending_a_thousand_sessions<S: Store + Clone + 'static>(label: &str, store: S) {
    let key = store.owner_key().expect("a store with an owner key").to_owned();
    let owner = fresh("many");
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let (store, key, owner) = (store.clone(), key.clone(), owner.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..125 {
                let id = SessionId::generate();
                let rec = record(&store, Some(600_000), json!({ key.as_str(): owner }));
                store.create(&id, &rec).await.expect("create");
                ids.push(id);
            }
            ids
        });
    }
    let mut ids = Vec::new();
    while let Some(batch) = tasks.join_next().await {
        ids.extend(batch.expect("task"));
    }
    let started = Instant::now();
    let ended = store.end_sessions_of(&owner, Some(&ids[0])).await.expect("end_sessions_of");
    let took = started.elapsed();
    assert_eq!(ended, 999);
    let statements = ended / OWNER_BATCH as u64 + 1;
    println!(
        "{label}: ended {ended} sessions of one owner in {:.1} ms, {statements} DELETE statements \
         (at most {OWNER_BATCH} rows each)",
        took.as_secs_f64() * 1_000.0
    );
    assert_eq!(live(&store, &owner).await.sessions.len(), 1);
}

/// Prints the mean time of `n` sequential creates of an owned record on `store`: run it on a store with the
/// owner column and one without, for the per-write cost of the generated column and its index.
pub async fn time_sequential_creates<S: Store>(label: &str, store: &S, n: usize) -> Duration {
    let key = store.owner_key().unwrap_or("user").to_owned();
    let owner = fresh("writes");
    let started = Instant::now();
    for _ in 0..n {
        let rec = record(store, Some(600_000), json!({ key.as_str(): owner, "n": 1 }));
        store.create(&SessionId::generate(), &rec).await.expect("create");
    }
    let mean = started.elapsed() / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    println!("{label}: {n} sequential creates, {:.3} ms each", mean.as_secs_f64() * 1_000.0);
    mean
}

/// The values a record may hold under the owner key, as JSON text, for [`the_column_agrees_with_owner_of`].
pub const OWNER_VALUES: &[&str] = &[
    r#""alice""#,
    r#""été""#,
    r#""\u00e9t\u00e9""#,
    r#""a\"b\\c""#,
    r#""\\u0041""#,
    "42",
    "-7",
    "0",
    "-0",
    "42.0",
    "1e3",
    "1.5",
    "9007199254740991",
    "-9007199254740991",
    "9007199254740992",
    "123456789012345678901234567890",
    "true",
    "null",
    r#""""#,
    r#"{"id":1}"#,
    "[1]",
    r#""x\u0000y""#,
    r#""\ud83d\ude00""#,
];

/// Writes a record holding each of [`OWNER_VALUES`] under the owner key (as its text) and checks that the
/// `owner` column (`column_of` reads it for an id) is what [`owner_of`](express_session::store::owner_of) says
/// the record's owner is, and that `sessions_of` finds it by that name; except for the values in
/// `unindexed`, which this store's column deliberately leaves without an owner (its documented limits).
pub async fn the_column_agrees_with_owner_of<S, C, CF>(store: &S, column_of: C, unindexed: &[&str])
where
    S: Store,
    C: Fn(SessionId) -> CF,
    CF: Future<Output = Option<String>>,
{
    let key = store.owner_key().expect("a store with an owner key").to_owned();
    let base = record(store, Some(60_000), json!({})).to_json();
    let long = [format!(r#""{}""#, "é".repeat(127) + "x"), format!(r#""{}""#, "x".repeat(256))];
    let values = OWNER_VALUES.iter().map(|v| (*v).to_owned()).chain(long);
    for value in values {
        let text = format!(r#"{},"{key}":{value}}}"#, &base[..base.len() - 1]);
        let rec = express_session::Record::from_json(&text).expect("a record");
        let id = SessionId::generate();
        store.set(&id, &rec).await.expect("set");
        let expected = express_session::store::owner_of(&rec, &key);
        let column = column_of(id.clone()).await;
        if unindexed.contains(&value.as_str()) {
            assert_eq!(column, None, "{value}: a value this store leaves unindexed");
            continue;
        }
        assert_eq!(column, expected, "the column of {value} is what owner_of says");
        if let Some(owner) = expected {
            let page = store.sessions_of(&owner, 10).await.expect("sessions_of");
            assert!(page.sessions.iter().any(|s| s.handle == SessionHandle::of(&id)), "{value}");
        }
        store.destroy(&id).await.expect("destroy");
    }
}

/// `store` is built with an owner key other than the one its table's `owner` column was made for: `reindex`
/// refuses (saying to drop the column) rather than answer for the wrong key.
pub async fn reindex_refuses_a_column_made_for_another_key<S: Store>(store: &S) {
    let error = store.reindex().await.expect_err("a column made for another key");
    assert!(!error.is_unavailable());
    let message = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(message.contains("was not made for the owner key"), "{message}");
}
