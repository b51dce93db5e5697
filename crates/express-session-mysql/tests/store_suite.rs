//! The shared store suite against a real MySQL / MariaDB (`MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`),
//! each case on its own fresh table with express-mysql-session's layout.

mod common;

use express_session_mysql::MySqlStore;

async fn store() -> Option<MySqlStore> {
    let admin = common::admin().await?;
    let table = common::fresh_table(&admin).await;
    admin.close().await;
    let store = MySqlStore::builder()
        .table_name(table)
        .create_table_if_missing(true)
        .owner_key("user")
        .max_connections(4)
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
