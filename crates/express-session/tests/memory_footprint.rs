//! MemoryStore's memory per idle session, counted in heap bytes: the target is at most twice the size of the
//! session's JSON record (what express's MemoryStore keeps per session).
//!
//! This test binary counts every allocation (dhat's global allocator), so it holds this one test only. The count
//! is of the bytes the store asks the allocator for, hash-table capacity included; the load benchmark's RSS
//! figure adds the allocator's own overhead on top (see BENCHMARKS.md).

use express_session::store::Store;
use express_session::{MemoryStore, Record, SessionCookie, SessionId};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Heap bytes per session held after `n` view-counter sessions are created in a new store that then holds `held`.
fn bytes_per_session(
    runtime: &tokio::runtime::Runtime,
    store: MemoryStore,
    record: &Record,
    n: usize,
    held: usize,
) -> usize {
    let ids: Vec<SessionId> = (0..n).map(|_| SessionId::generate()).collect();
    let before = dhat::HeapStats::get().curr_bytes;
    runtime.block_on(async {
        for id in &ids {
            store.create(id, record).await.expect("the memory store never fails");
        }
    });
    let after = dhat::HeapStats::get().curr_bytes;
    assert_eq!(store.raw_len(), held);
    (after - before) / held
}

#[test]
fn an_idle_view_counter_session_takes_less_than_twice_its_json_record() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // express's first README example after one view of /foo.
    let mut record = Record::new(SessionCookie::default());
    record.data_mut().insert("views".into(), serde_json::json!({ "/foo": 1 }));
    let json = record.to_json();
    assert_eq!(
        json,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":{"/foo":1}}"#
    );
    // The hash tables double as they fill: 15,000 sessions is just past a doubling (the worst case, tables
    // less than half full), 28,000 just before the next one (the best).
    // A bounded store also keeps each session's place in its eviction order (8 bytes in a queue that doubles
    // as it fills); a full one, after twice its capacity in creations, holds exactly its capacity.
    for (kind, n, held, store) in [
        ("unbounded", 15_000, 15_000, MemoryStore::new()),
        ("unbounded", 28_000, 28_000, MemoryStore::new()),
        ("bounded", 15_000, 15_000, MemoryStore::builder().capacity(1_000_000).build()),
        ("bounded", 28_000, 28_000, MemoryStore::builder().capacity(1_000_000).build()),
        ("bounded and full", 30_000, 15_000, MemoryStore::builder().capacity(15_000).build()),
    ] {
        let per_session = bytes_per_session(&runtime, store, &record, n, held);
        println!(
            "{kind}, {held} sessions: {per_session} heap bytes each, {:.2}x the {}-byte record",
            per_session as f64 / json.len() as f64,
            json.len()
        );
        assert!(
            per_session <= 2 * json.len(),
            "{kind}, {held} sessions: {per_session} bytes per session, more than twice the {}-byte record",
            json.len()
        );
    }
}
