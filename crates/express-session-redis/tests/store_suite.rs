//! The shared store suite (`express_session::testing`) against the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`), each case under a prefix of its own, on stores that keep an owner index
//! (`.owner_key("user")`), so that the owner cases run too. Skipped, loudly, when that Redis cannot be reached (a
//! failure under `REQUIRE_SERVICES=1`).

mod common;

mod plain {
    express_session::store_suite!(|| async { super::common::owned_store().await });
}

/// The same suite with every record sealed (`express_session::store::SealedStore`).
mod sealed {
    express_session::store_suite!(|| async {
        super::common::owned_store().await.map(express_session::testing::sealed)
    });
}
