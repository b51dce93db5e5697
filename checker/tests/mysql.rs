//! The session contract on MySqlStore (`MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`), on a table of
//! its own, in real time: the database's clock decides expiry (see `checker/README.md`).

use std::sync::Arc;

use express_session_mysql::MySqlStore;
use tokio::sync::OnceCell;

fn url() -> String {
    std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// One store for the whole run (the database's clock is real time; ids never repeat).
async fn store() -> Option<Arc<MySqlStore>> {
    static STORE: OnceCell<Option<Arc<MySqlStore>>> = OnceCell::const_new();
    STORE
        .get_or_init(|| async {
            let admin: sqlx::MySqlPool = express_session_sql::testing::admin("MySQL", &url()).await?;
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name LIKE 'es\\_t\\_%'",
            )
            .fetch_all(&admin)
            .await
            .expect("list tables");
            for name in old.into_iter().filter(|name| express_session_sql::testing::is_stale(name)) {
                let _ = sqlx::query(&format!("DROP TABLE IF EXISTS `{name}`")).execute(&admin).await;
            }
            admin.close().await;
            let store = MySqlStore::builder()
                .table_name(express_session_sql::testing::unique_name())
                .create_table_if_missing(true)
                .owner_key(checker::exec::OWNER_KEY)
                .max_connections(4)
                .prune_interval(None)
                .connect(&url())
                .await
                .expect("connect");
            Some(Arc::new(store))
        })
        .await
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_contract() {
    checker::check(checker::Backend::new("mysql", false, |_clock| store())).await;
}
