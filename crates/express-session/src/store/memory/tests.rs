use super::shard::{SWEEP_CREDIT, Ticket, short_hash};
use super::*;
use crate::cookie::SessionCookie;
use crate::record::CREATED_AT_KEY;

impl MemoryStore {
    /// Where `id` lives, without locking (for tests on a one-shard store).
    fn shard_spot(&self, id: &SessionId) -> Spot {
        let hash = self.inner.hasher.hash_one(Key::of(id));
        Spot { shard: (hash >> 32) as usize % self.inner.shards.len(), hash: hash as u32 }
    }
}

fn record_expiring(at: Option<i64>, now: Timestamp) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_expires(at.map(Timestamp::from_millis), now);
    Record::new(cookie)
}

#[tokio::test]
async fn sweeps_expired_records_as_it_is_written() {
    let clock = Clock::manual(Timestamp::from_millis(1_000_000));
    let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
    for i in 0..100 {
        let id = SessionId::new(format!("old-{i}")).unwrap();
        store.create(&id, &record_expiring(Some(1_000_500), clock.now())).await.unwrap();
    }
    clock.advance(Duration::from_secs(1));
    for i in 0..200 {
        let id = SessionId::new(format!("new-{i}")).unwrap();
        store.create(&id, &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
    }
    assert!(store.raw_len() < 300, "expired records were never swept: {}", store.raw_len());
    assert_eq!(store.len().await.unwrap(), 200);
}

#[tokio::test]
async fn browser_session_records_get_the_default_ttl() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).default_ttl(Some(Duration::from_secs(10))).build();
    let id = SessionId::generate();
    store.create(&id, &record_expiring(None, clock.now())).await.unwrap();
    clock.advance(Duration::from_secs(9));
    assert!(store.get(&id).await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert!(store.get(&id).await.unwrap().is_none());
}

fn record_with(data: serde_json::Value) -> Record {
    let mut record = Record::new(SessionCookie::default());
    if let serde_json::Value::Object(map) = data {
        *record.data_mut() = map;
    }
    record
}

fn id(name: &str, i: usize) -> SessionId {
    SessionId::new(format!("{name}-{i}")).unwrap()
}

async fn alive(store: &MemoryStore, id: &SessionId) -> bool {
    store.get(id).await.unwrap().is_some()
}

/// The eviction queues' total length and the shard's size, for one shard.
fn tickets(store: &MemoryStore) -> (usize, usize) {
    let shard = store.inner.shards[0].lock().unwrap();
    let bound = shard.bound.as_ref().unwrap();
    (bound.empty.len() + bound.held.len(), shard.table.len())
}

#[tokio::test]
async fn empty_sessions_are_evicted_before_sessions_with_data() {
    let store = MemoryStore::builder().capacity(4).shards(1).build();
    let (d0, d1) = (id("data", 0), id("data", 1));
    store.create(&d0, &record_with(serde_json::json!({ "user": "ada" }))).await.unwrap();
    for i in 0..3 {
        store.create(&id("empty", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    // The store is full; the next data session pushes out the oldest empty one, not the older data one.
    store.create(&d1, &record_with(serde_json::json!({ "user": "bob" }))).await.unwrap();
    assert_eq!(store.raw_len(), 4);
    assert!(alive(&store, &d0).await && alive(&store, &d1).await);
    assert!(!alive(&store, &id("empty", 0)).await, "the oldest empty session goes first");
    assert!(alive(&store, &id("empty", 1)).await && alive(&store, &id("empty", 2)).await);
}

#[tokio::test]
async fn the_absolute_timeout_stamp_is_not_data() {
    let store = MemoryStore::builder().capacity(2).shards(1).build();
    let data = id("data", 0);
    store.create(&data, &record_with(serde_json::json!({ "cart": [] }))).await.unwrap();
    let stamped = id("stamped", 0);
    store.create(&stamped, &record_with(serde_json::json!({ CREATED_AT_KEY: 1_000 }))).await.unwrap();
    store.create(&id("empty", 0), &record_with(serde_json::json!({}))).await.unwrap();
    assert!(!alive(&store, &stamped).await, "a session holding only its creation stamp is empty");
    assert!(alive(&store, &data).await);
}

#[tokio::test]
async fn sessions_with_data_survive_a_flood_of_ten_times_the_capacity() {
    let capacity = 1_000;
    let store = MemoryStore::builder().capacity(capacity).build();
    let logged_in: Vec<_> = (0..50).map(|i| id("user", i)).collect();
    for (i, id) in logged_in.iter().enumerate() {
        store.create(id, &record_with(serde_json::json!({ "user": i }))).await.unwrap();
    }
    for i in 0..10 * capacity {
        store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
        assert!(store.raw_len() <= capacity, "{} records after {i} creations", store.raw_len());
    }
    for id in &logged_in {
        assert!(alive(&store, id).await, "{id:?} was evicted by empty sessions");
    }
    // The newest empty sessions are the ones kept.
    assert!(alive(&store, &id("anon", 10 * capacity - 1)).await);
    assert!(!alive(&store, &id("anon", 0)).await);
}

#[tokio::test]
async fn a_session_that_gets_data_leaves_the_empty_queue() {
    let store = MemoryStore::builder().capacity(3).shards(1).build();
    let first = id("first", 0);
    let created = store.create(&first, &record_with(serde_json::json!({}))).await.unwrap();
    let CreateOutcome::Created(version) = created else { panic!("created") };
    // Logs in after arriving anonymously.
    let saved = store.save_if(&first, &record_with(serde_json::json!({ "user": "ada" })), &version).await;
    let SaveOutcome::Saved(version) = saved.unwrap() else { panic!("saved") };
    for i in 0..30 {
        store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    assert!(alive(&store, &first).await);
    // Logs out: its data emptied, it is evicted like any empty session.
    store.save_if(&first, &record_with(serde_json::json!({})), &version).await.unwrap();
    for i in 30..33 {
        store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    assert!(!alive(&store, &first).await);
}

/// Whether a record is held, without counting as a use (unlike `get`).
fn present(store: &MemoryStore, id: &SessionId) -> bool {
    store.raw_json(id).is_some()
}

#[tokio::test]
async fn among_sessions_with_data_the_least_recently_used_goes() {
    let store = MemoryStore::builder().capacity(3).shards(1).build();
    let user = |name: &str| record_with(serde_json::json!({ "user": name }));
    let [a, b, c, d, e, f, g] = ["a", "b", "c", "d", "e", "f", "g"].map(|name| id(name, 0));
    for (id, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        store.create(id, &user(name)).await.unwrap();
    }
    // A read: a is passed over, b goes.
    assert!(store.get(&a).await.unwrap().is_some());
    store.create(&d, &user("d")).await.unwrap();
    assert!(!present(&store, &b));
    assert!(present(&store, &a) && present(&store, &c) && present(&store, &d));
    // A touch: c is passed over; a, whose read was already counted, goes.
    store.touch(&c, &user("c")).await.unwrap();
    store.create(&e, &user("e")).await.unwrap();
    assert!(!present(&store, &a));
    assert!(present(&store, &c) && present(&store, &d) && present(&store, &e));
    // A write: d moves behind c and e; c goes.
    let got = store.get(&d).await.unwrap().unwrap();
    store.save_if(&d, &user("d2"), &got.version).await.unwrap();
    store.create(&f, &user("f")).await.unwrap();
    assert!(!present(&store, &c));
    assert!(present(&store, &d) && present(&store, &e) && present(&store, &f));
    // A refresh: e is passed over; d goes.
    store.refresh(&e).await.unwrap();
    store.create(&g, &user("g")).await.unwrap();
    assert!(!present(&store, &d));
    assert!(present(&store, &e) && present(&store, &f) && present(&store, &g));
}

#[tokio::test]
async fn expired_records_go_before_live_ones_and_are_never_returned() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
    let live: Vec<_> = (0..500).map(|i| id("live", i)).collect();
    for id in &live {
        store.create(id, &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
    }
    for i in 0..500 {
        store.create(&id("short", i), &record_expiring(Some(1_000), clock.now())).await.unwrap();
    }
    clock.advance(Duration::from_secs(2));
    assert!(!alive(&store, &id("short", 7)).await, "an expired record is never returned");
    for i in 0..200 {
        store.create(&id("new", i), &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
    }
    for id in &live {
        assert!(alive(&store, id).await, "{id:?} was evicted while expired records were held");
    }
    assert_eq!(store.len().await.unwrap(), 700);
}

#[tokio::test]
async fn the_capacity_is_never_exceeded_whatever_the_shards() {
    // 10,000 over 32 shards: shares of 312 and 313 that add up to 10,000 (rounding each share up would
    // allow 10,016).
    let capacity = 10_000;
    let store = MemoryStore::builder().capacity(capacity).shards(32).build();
    assert_eq!(store.inner.shards.len(), 32);
    for i in 0..40_000 {
        let data = if i % 2 == 0 { serde_json::json!({}) } else { serde_json::json!({ "n": i }) };
        store.create(&SessionId::generate(), &record_with(data)).await.unwrap();
        if i % 97 == 0 {
            assert!(store.raw_len() <= capacity, "{} records", store.raw_len());
        }
    }
    assert_eq!(store.raw_len(), capacity, "every shard is full");
    // set inserts too.
    for _ in 0..1_000 {
        store.set(&SessionId::generate(), &record_with(serde_json::json!({ "x": 1 }))).await.unwrap();
    }
    assert_eq!(store.raw_len(), capacity);
    // A small capacity is one shard, whose order is the whole store's.
    assert_eq!(MemoryStore::builder().capacity(300).build().inner.shards.len(), 1);
    assert_eq!(MemoryStore::builder().capacity(1_000).build().inner.shards.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_keep_the_bound_and_the_sessions_with_data() {
    let capacity = 2_000;
    let store = MemoryStore::builder().capacity(capacity).build();
    let logged_in: Vec<_> = (0..50).map(|_| SessionId::generate()).collect();
    for id in &logged_in {
        store.create(id, &record_with(serde_json::json!({ "user": 1 }))).await.unwrap();
    }
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..5_000 {
                    store.create(&SessionId::generate(), &record_with(serde_json::json!({}))).await.unwrap();
                    assert!(store.raw_len() <= capacity);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(store.raw_len() <= capacity);
    for id in &logged_in {
        assert!(alive(&store, id).await);
    }
}

#[tokio::test]
async fn stale_tickets_are_dropped_so_the_order_stays_proportional_to_the_records() {
    let store = MemoryStore::builder().capacity(1_000).shards(1).build();
    let ids: Vec<_> = (0..10).map(|i| id("busy", i)).collect();
    let mut versions = Vec::new();
    for id in &ids {
        let CreateOutcome::Created(v) = store.create(id, &record_with(serde_json::json!({}))).await.unwrap() else {
            panic!("created")
        };
        versions.push(v);
    }
    // Every write queues a ticket and leaves the previous one stale.
    for round in 0..2_000 {
        for (id, version) in ids.iter().zip(versions.iter_mut()) {
            let record = record_with(serde_json::json!({ "n": round }));
            let SaveOutcome::Saved(v) = store.save_if(id, &record, version).await.unwrap() else { panic!("saved") };
            *version = v;
        }
        let (queued, held) = tickets(&store);
        assert!(queued <= 2 * held + 65, "{queued} tickets for {held} records");
    }
    for i in 0..100 {
        store.destroy(&id("busy", i % 10)).await.unwrap();
        store.create(&id("other", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    let (queued, held) = tickets(&store);
    assert!(queued <= 2 * held + 65, "{queued} tickets for {held} records");
}

/// A data session with a long lifetime, created before `n` with a short one, in a one-shard store that
/// they fill.
async fn long_then_short(store: &MemoryStore, clock: &Clock, long: usize, short: usize) -> Vec<SessionId> {
    let with_data = |at: i64| {
        let mut record = record_expiring(Some(at), clock.now());
        record.data_mut().insert("user".into(), "ada".into());
        record
    };
    let keep: Vec<_> = (0..long).map(|i| id("keep", i)).collect();
    for id in &keep {
        store.create(id, &with_data(30 * 86_400_000)).await.unwrap();
    }
    for i in 0..short {
        store.create(&id("short", i), &with_data(3_600_000)).await.unwrap();
    }
    keep
}

#[tokio::test]
async fn a_live_session_is_not_evicted_while_expired_ones_fill_the_shard() {
    // Sessions with data only (`save_uninitialized(false)`): 100 "remember me" sessions of 30 days, then
    // 900 of an hour, filling the store.
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
    let keep = long_then_short(&store, &clock, 100, 900).await;
    // One more login while all are live: the least recently used goes, as it must.
    store.create(&id("new", 0), &record_with(serde_json::json!({ "user": "new" }))).await.unwrap();
    assert!(!present(&store, &keep[0]));
    // Two hours later the 900 short sessions have expired; ten logins must take their room, not log out
    // the remember-me sessions.
    clock.advance(Duration::from_secs(7_200));
    for i in 1..11 {
        store.create(&id("new", i), &record_with(serde_json::json!({ "user": "new" }))).await.unwrap();
    }
    for id in &keep[1..] {
        assert!(present(&store, id), "{id:?} was evicted while 900 expired sessions were held");
    }
}

#[tokio::test]
async fn expired_sessions_with_data_do_not_keep_taking_room_from_a_flood() {
    // A full store: 500 sessions with data, all expired, and 500 empty ones. A flood of empty sessions
    // evicts the live empty ones while the expired ones keep half the store.
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
    long_then_short(&store, &clock, 0, 500).await;
    for i in 0..500 {
        store.create(&id("empty", i), &record_expiring(Some(30 * 86_400_000), clock.now())).await.unwrap();
    }
    // A metrics probe sweeps, when nothing had expired yet; two hours later, the 500 have.
    assert_eq!(store.len().await.unwrap(), 1_000);
    clock.advance(Duration::from_secs(7_200));
    let mut evicted_live = 0;
    for i in 0..100 {
        store.create(&id("flood", i), &record_expiring(Some(30 * 86_400_000), clock.now())).await.unwrap();
        if !present(&store, &id("empty", i)) {
            evicted_live += 1;
        }
    }
    assert_eq!(evicted_live, 0, "live sessions were evicted while 500 expired ones were held");
}

#[tokio::test]
async fn a_ticket_whose_version_wrapped_does_not_evict_a_session_with_data() {
    let store = MemoryStore::builder().capacity(4).shards(1).build();
    let user = id("user", 0);
    let CreateOutcome::Created(v) = store.create(&user, &record_with(serde_json::json!({}))).await.unwrap() else {
        panic!("created")
    };
    // 2^32 writes later (elsewhere in the store) the session logs in: its new version has the low half of
    // the old one, whose ticket still waits in the queue of empty sessions.
    store.inner.versions.store(v.as_u64().unwrap() + (1 << 32), Ordering::Relaxed);
    let saved = store.save_if(&user, &record_with(serde_json::json!({ "user": "ada" })), &v).await.unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    for i in 0..10 {
        store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    assert!(present(&store, &user), "a session with data was evicted before empty ones");
}

/// Checks a bounded store's bookkeeping: each shard within its share, and each record named by exactly
/// one ticket, in the queue of its kind.
fn check_order(store: &MemoryStore) -> usize {
    let mut total = 0;
    for shard in store.inner.shards.iter() {
        let shard = shard.lock().unwrap();
        let bound = shard.bound.as_ref().unwrap();
        assert!(shard.table.len() <= bound.capacity, "{} records in a share of {}", shard.table.len(), bound.capacity);
        total += bound.capacity;
        let earliest = shard.table.iter().map(|s| s.entry.expires_at).min().unwrap_or(i64::MAX);
        assert!(
            shard.next_expiry <= earliest,
            "no sweep until {}, but a record expires at {earliest}",
            shard.next_expiry
        );
        for slot in &shard.table {
            let hash = short_hash(&store.inner.hasher, &slot.key);
            let names = |t: &Ticket| t.hash == hash && t.version == slot.entry.stamp.version() as u32;
            let (empty, held) =
                (bound.empty.iter().filter(|t| names(t)).count(), bound.held.iter().filter(|t| names(t)).count());
            let data = slot.entry.data().unwrap();
            assert_eq!(slot.entry.stamp.holds_data(), data.keys().any(|key| key != CREATED_AT_KEY), "{data:?}");
            let want = if slot.entry.stamp.holds_data() { (0, 1) } else { (1, 0) };
            assert_eq!((empty, held), want, "tickets of {:?}", slot.key);
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_verb_at_once_on_one_shard_keeps_the_bound_and_one_ticket_per_record() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    for (capacity, shards) in [(1, 1), (2, 1), (255, 1), (256, 1), (511, 1), (512, 2)] {
        let store = MemoryStore::builder().clock(clock.clone()).capacity(capacity).shards(32).build();
        assert_eq!(store.inner.shards.len(), shards, "capacity {capacity}");
        // Few ids, so that the tasks keep meeting on the same records; some sessions expire as the clock moves.
        let pool = 2 * capacity + 3;
        let tasks: Vec<_> = (0..4u64)
            .map(|task| {
                let (store, clock) = (store.clone(), clock.clone());
                tokio::spawn(async move {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (task + 1);
                    let mut next = move || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    };
                    for _ in 0..3_000 {
                        let r = next();
                        let sid = id("s", (r % pool as u64) as usize);
                        let expires = Some(clock.now().as_millis() + 1 + (r >> 40) as i64 % 5_000);
                        let mut record = record_expiring(expires, clock.now());
                        if r >> 20 & 1 == 1 {
                            record.data_mut().insert("user".into(), (r % 7).into());
                        }
                        match (r >> 8) % 8 {
                            0 | 1 => drop(store.create(&sid, &record).await.unwrap()),
                            2 => {
                                if let Some(got) = store.get(&sid).await.unwrap() {
                                    tokio::task::yield_now().await;
                                    store.save_if(&sid, &record, &got.version).await.unwrap();
                                }
                            }
                            3 => drop(store.touch(&sid, &record).await.unwrap()),
                            4 => drop(store.refresh(&sid).await.unwrap()),
                            5 => store.destroy(&sid).await.unwrap(),
                            6 => store.set(&sid, &record).await.unwrap(),
                            _ => clock.advance(Duration::from_millis(r % 50)),
                        }
                        assert!(store.raw_len() <= capacity);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(check_order(&store), capacity, "the shares add up to the capacity");
    }
}

#[tokio::test]
async fn extreme_capacities_neither_panic_nor_exceed_their_bound() {
    // 0 is taken as 1 (documented: "at least 1").
    let store = MemoryStore::builder().capacity(0).build();
    for i in 0..3 {
        store.create(&id("z", i), &record_with(serde_json::json!({ "n": i }))).await.unwrap();
    }
    assert_eq!(store.raw_len(), 1);
    assert!(present(&store, &id("z", 2)));
    let store = MemoryStore::builder().capacity(usize::MAX).build();
    assert_eq!(store.inner.shards.len(), 32);
    for i in 0..1_000 {
        store.create(&id("m", i), &record_with(serde_json::json!({}))).await.unwrap();
    }
    assert_eq!(store.raw_len(), 1_000);
    assert_eq!(check_order(&store), usize::MAX);
    // So many shards that allocating them would abort: capped.
    let store = MemoryStore::builder().shards(usize::MAX).build();
    assert_eq!(store.inner.shards.len(), MAX_SHARDS);
    store.create(&id("s", 0), &record_with(serde_json::json!({}))).await.unwrap();
    assert!(present(&store, &id("s", 0)));
}

#[tokio::test]
async fn a_record_set_as_its_shard_sweeps_is_swept_once_it_expires() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
    store.create(&id("old", 0), &record_expiring(Some(10), clock.now())).await.unwrap();
    for i in 0..62 {
        store.create(&id("long", i), &record_expiring(Some(1_000_000), clock.now())).await.unwrap();
    }
    clock.advance(Duration::from_millis(20));
    // The 64th new id: the shard sweeps "old" out just before `set` puts this one in.
    let short = id("short", 0);
    store.set(&short, &record_expiring(Some(30), clock.now())).await.unwrap();
    assert!(!present(&store, &id("old", 0)));
    clock.advance(Duration::from_millis(20));
    for i in 0..200 {
        store.create(&id("new", i), &record_expiring(Some(1_000_000), clock.now())).await.unwrap();
    }
    assert!(!present(&store, &short), "an expired record was never swept");
}

#[tokio::test]
async fn sweeping_costs_o1_per_insert_even_when_a_record_expires_at_every_insert() {
    // A full shard whose oldest records live for years while every other new one lives 2,000 inserts (a
    // millisecond apart): from then on a record expires at almost every insert, and the one to evict is
    // live. A sweep at each would look at the whole shard per insert.
    let capacity = 4_096;
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).capacity(capacity).shards(1).build();
    let record = |i: usize| {
        let lifetime = if i.is_multiple_of(2) { 10 * 365 * 86_400_000 } else { 2_000 };
        let mut record = record_expiring(Some(clock.now().as_millis() + lifetime), clock.now());
        record.data_mut().insert("user".into(), i.into());
        clock.advance(Duration::from_millis(1));
        record
    };
    for i in 0..4 * capacity {
        store.create(&id("warm", i), &record(i)).await.unwrap();
    }
    let before = store.inner.shards[0].lock().unwrap().swept;
    let inserts = 8 * capacity;
    for i in 0..inserts {
        store.create(&id("steady", i), &record(i)).await.unwrap();
    }
    let per_insert = (store.inner.shards[0].lock().unwrap().swept - before) as f64 / inserts as f64;
    assert!(per_insert <= SWEEP_CREDIT as f64 + 1.0, "{per_insert:.1} records looked at per insert");
    assert!(store.raw_len() <= capacity);
}

#[tokio::test]
async fn stores_express_json_text() {
    let store = MemoryStore::new();
    let id = SessionId::generate();
    let mut record = Record::new(SessionCookie::default());
    record.data_mut().insert("views".into(), 2.into());
    store.create(&id, &record).await.unwrap();
    assert_eq!(
        store.raw_json(&id).unwrap(),
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":2}"#
    );
}

#[tokio::test]
async fn records_whose_cookies_differ_only_in_expiry_share_one_cookie() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
    let (a, b) = (SessionId::generate(), SessionId::generate());
    let ten_seconds = |now| {
        let mut record = Record::new(SessionCookie::default());
        record.cookie_mut().set_max_age(Some(Duration::from_secs(10)), now);
        record
    };
    store.create(&a, &ten_seconds(clock.now())).await.unwrap();
    clock.advance(Duration::from_secs(1));
    store.create(&b, &ten_seconds(clock.now())).await.unwrap();
    {
        let (shard, spot) = store.shard(&Key::of(&a));
        let ea = shard.find(&Key::of(&a), spot).unwrap();
        let eb = shard.find(&Key::of(&b), store.shard_spot(&b)).unwrap();
        assert!(Arc::ptr_eq(&ea.cookie, &eb.cookie), "alike cookies are stored once");
        assert_eq!((ea.expires_at, eb.expires_at), (10_000, 11_000));
    }
    // Each record still reads back with its own expiry.
    let got = store.get(&b).await.unwrap().unwrap().record;
    assert_eq!(got.expires(), Some(Timestamp::from_millis(11_000)));
    assert_eq!(got.cookie().original_max_age(), Some(10_000));
    // A different cookie gets its own copy.
    let c = SessionId::generate();
    store.create(&c, &record_expiring(Some(5_000), clock.now())).await.unwrap();
    let (shard, spot) = store.shard(&Key::of(&a));
    let ea = shard.find(&Key::of(&a), spot).unwrap();
    assert!(!Arc::ptr_eq(&ea.cookie, &shard.find(&Key::of(&c), store.shard_spot(&c)).unwrap().cookie));
}

#[tokio::test]
async fn refresh_moves_a_max_age_records_expiry_and_keeps_its_data() {
    let clock = Clock::manual(Timestamp::from_millis(0));
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let id = SessionId::generate();
    let mut record = Record::new(SessionCookie::default());
    record.cookie_mut().set_max_age(Some(Duration::from_secs(10)), clock.now());
    record.data_mut().insert("user".into(), "ada".into());
    store.create(&id, &record).await.unwrap();
    clock.advance(Duration::from_secs(8));
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
    clock.advance(Duration::from_secs(8));
    let got = store.get(&id).await.unwrap().expect("refreshed at 8 s, so alive at 16 s");
    assert_eq!(got.record.expires(), Some(Timestamp::from_millis(18_000)));
    assert_eq!(got.record.data()["user"], "ada");
    clock.advance(Duration::from_secs(3));
    assert!(store.get(&id).await.unwrap().is_none());
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Gone);
}

#[tokio::test]
async fn ids_of_every_format_come_back_from_all() {
    let store = MemoryStore::new();
    let ids = [SessionId::generate(), SessionId::new("custom:id/1").unwrap(), SessionId::new("a".repeat(32)).unwrap()];
    for id in &ids {
        store.create(id, &Record::new(SessionCookie::default())).await.unwrap();
    }
    let mut got: Vec<String> = store.all().await.unwrap().into_iter().map(|(id, _)| id.as_str().to_owned()).collect();
    let mut want: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_cookie_reads_back_as_its_json_does_from_every_other_store() {
    let store = MemoryStore::new();
    let mut cookie = SessionCookie::default();
    cookie.set_path(None);
    cookie.set_domain(Some(String::new()));
    let record = Record::new(cookie);
    let id = SessionId::generate();
    store.create(&id, &record).await.unwrap();
    let got = store.get(&id).await.unwrap().unwrap().record;
    assert_eq!(got.cookie(), Record::from_json(&record.to_json()).unwrap().cookie());
    assert_eq!(got.cookie().path(), Some("/"));
}
