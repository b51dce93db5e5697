//! The shared store suite, twice: on a database file (each case its own file) and in memory.

mod common;

mod file {
    use express_session_sqlite::SqliteStore;

    express_session::store_suite!(|| async {
        Some(
            SqliteStore::builder()
                .owner_key("user")
                .prune_interval(None)
                .open(super::common::fresh_file())
                .await
                .expect("open"),
        )
    });
}

mod memory {
    use express_session_sqlite::SqliteStore;

    express_session::store_suite!(|| async {
        Some(SqliteStore::builder().owner_key("user").prune_interval(None).open_in_memory().await.expect("open"))
    });
}

/// The file store's suite with every record sealed (`express_session::store::SealedStore`).
mod sealed {
    use express_session_sqlite::SqliteStore;

    express_session::store_suite!(|| async {
        let store = SqliteStore::builder()
            .owner_key("user")
            .prune_interval(None)
            .open(super::common::fresh_file())
            .await
            .expect("open");
        Some(express_session::testing::sealed(store))
    });
}
