//! Helpers for the tests against a real MySQL / MariaDB: the server's URL, an admin pool and a fresh table name
//! per test. The rest is `express_session_sql::testing`.

#![allow(dead_code, unreachable_pub)]

use sqlx::MySqlPool;

/// `MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
pub fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A small pool for the test's own statements, or `None` (skip, or panic under `REQUIRE_SERVICES=1`).
pub async fn admin() -> Option<MySqlPool> {
    express_session_sql::testing::admin("MySQL", &url()).await
}

/// A fresh table name for one test (not created), after dropping the tables that earlier runs left behind.
pub async fn fresh_table(admin: &MySqlPool) -> String {
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE 'es\\_t\\_%'",
    )
    .fetch_all(admin)
    .await
    .unwrap();
    for name in old.into_iter().filter(|name| express_session_sql::testing::is_stale(name)) {
        let _ = sqlx::query(&format!("DROP TABLE IF EXISTS `{name}`")).execute(admin).await;
    }
    express_session_sql::testing::unique_name()
}
