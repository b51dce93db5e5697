//! The session contract on PostgresStore (`DATABASE_URL`, default `postgres://postgres@127.0.0.1/test`), in a
//! schema of its own, in real time: PostgreSQL's `now()` decides expiry (see `checker/README.md`).

use std::sync::Arc;

use express_session_postgres::PostgresStore;
use tokio::sync::OnceCell;

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into())
}

/// One store for the whole run (the database's clock is real time; ids never repeat).
async fn store() -> Option<Arc<PostgresStore>> {
    static STORE: OnceCell<Option<Arc<PostgresStore>>> = OnceCell::const_new();
    STORE
        .get_or_init(|| async {
            let admin: sqlx::PgPool = express_session_sql::testing::admin("PostgreSQL", &url()).await?;
            let old: Vec<String> =
                sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'es\\_t\\_%'")
                    .fetch_all(&admin)
                    .await
                    .expect("list schemas");
            for name in old.into_iter().filter(|name| express_session_sql::testing::is_stale(name)) {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(&admin).await;
            }
            let schema = express_session_sql::testing::unique_name();
            sqlx::query(&format!("CREATE SCHEMA \"{schema}\"")).execute(&admin).await.expect("create schema");
            admin.close().await;
            let store = PostgresStore::builder()
                .schema_name(schema)
                .create_table_if_missing(true)
                .owner_key(checker::exec::OWNER_KEY)
                .max_connections(8)
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
    checker::check(checker::Backend::new("postgres", false, |_clock| store())).await;
}
