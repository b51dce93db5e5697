//! `touch_after` on PostgreSQL, where a touch moves only the `expire` column: the column decides
//! (`refresh_after` reads the text and the column in one statement and updates only a stale row), so untouched
//! requests write nothing within the interval, and a rolling cookie never outlives the row.

mod common;
#[path = "../../express-session-redis/tests/common/touch_after.rs"]
mod touch_after;

use std::time::Duration;

use express_session_postgres::PostgresStore;
use touch_after::{rolling_cookies_never_outlive_the_store, writes_per_thousand};

async fn store(schema: &str, owned: bool) -> PostgresStore {
    let builder = PostgresStore::builder().schema_name(schema).create_table_if_missing(true).prune_interval(None);
    let builder = if owned { builder.owner_key("user") } else { builder };
    builder.connect(&common::url()).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_requests_write_nothing_within_the_interval() {
    let Some(admin) = common::admin().await else { return };
    for owned in [false, true] {
        let schema = common::fresh_schema(&admin).await;
        let store = store(&schema, owned).await;
        let interval = Some(Duration::from_secs(10));
        for path in ["/me", "/static"] {
            let (without, slow) = writes_per_thousand(store.clone(), None, path).await;
            let (with, fast) = writes_per_thousand(store.clone(), interval, path).await;
            eprintln!(
                "PostgreSQL (owner index: {owned}) {path}: {without} writes without touch_after ({slow:?} a request), \
                 {with} with 10 s ({fast:?})"
            );
            assert_eq!(without, 1_000);
            assert_eq!(with, 0, "the login wrote less than the interval ago");
        }
        // The table's own count of updated rows agrees (a backend reports its statistics when it ends).
        store.pool().close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let updated: i64 = sqlx::query_scalar(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'session'",
        )
        .bind(&schema)
        .fetch_one(&admin)
        .await
        .unwrap();
        eprintln!("PostgreSQL (owner index: {owned}): n_tup_upd {updated}");
        assert!((2_000..=2_004).contains(&updated), "{updated} rows updated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_cookies_never_outlive_the_row() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = store(&schema, false).await;
    let sql = format!(r#"SELECT (extract(epoch FROM expire) * 1000)::bigint FROM "{schema}"."session" WHERE sid = $1"#);
    rolling_cookies_never_outlive_the_store(store, |id| {
        let (admin, sql) = (admin.clone(), sql.clone());
        async move { sqlx::query_scalar(&sql).bind(id.as_str()).fetch_one(&admin).await.unwrap() }
    })
    .await;
}
