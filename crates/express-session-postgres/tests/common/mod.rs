//! Helpers for the tests against a real PostgreSQL: the server's URL, an admin pool and a fresh schema per test.
//! The rest is `express_session_sql::testing`.

#![allow(dead_code, unreachable_pub)]

use sqlx::PgPool;

/// `DATABASE_URL`, default `postgres://postgres@127.0.0.1/test`.
pub fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into())
}

/// A small pool for the test's own statements, or `None` (skip, or panic under `REQUIRE_SERVICES=1`).
pub async fn admin() -> Option<PgPool> {
    express_session_sql::testing::admin("PostgreSQL", &url()).await
}

/// Creates a fresh schema for one test, after dropping those that earlier runs left behind.
pub async fn fresh_schema(admin: &PgPool) -> String {
    let old: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'es\\_t\\_%'")
        .fetch_all(admin)
        .await
        .unwrap();
    for name in old.into_iter().filter(|name| express_session_sql::testing::is_stale(name)) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(admin).await;
    }
    let name = express_session_sql::testing::unique_name();
    sqlx::query(&format!("CREATE SCHEMA \"{name}\"")).execute(admin).await.unwrap();
    name
}
