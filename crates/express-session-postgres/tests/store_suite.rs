//! The shared store suite against a real PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1/test`),
//! each case in its own fresh schema with connect-pg-simple's default table `"session"`.

mod common;

use express_session_postgres::PostgresStore;

async fn store() -> Option<PostgresStore> {
    let admin = common::admin().await?;
    let schema = common::fresh_schema(&admin).await;
    admin.close().await;
    let store = PostgresStore::builder()
        .schema_name(schema)
        .create_table_if_missing(true)
        .owner_key("user")
        .max_connections(16)
        .prune_interval(None)
        .connect(&common::url())
        .await
        .expect("connect");
    Some(store)
}

mod plain {
    express_session::store_suite!(|| super::store());
}

/// The same suite with every record sealed (`express_session::store::SealedStore`).
mod sealed {
    express_session::store_suite!(|| async { super::store().await.map(express_session::testing::sealed) });
}
