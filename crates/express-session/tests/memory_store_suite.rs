//! The shared store suite against `MemoryStore`, unbounded and bounded (whose eviction must keep the contract), and
//! unbounded behind a `SealedStore` (feature `sealed`).

use express_session::MemoryStore;

mod unbounded {
    use super::MemoryStore;

    express_session::store_suite!(|| async { Some(MemoryStore::builder().owner_key("user").build()) });
}

mod bounded {
    use super::MemoryStore;

    express_session::store_suite!(|| async { Some(MemoryStore::builder().capacity(10_000).owner_key("user").build()) });
}

#[cfg(feature = "sealed")]
mod sealed {
    use super::MemoryStore;

    express_session::store_suite!(|| async {
        Some(express_session::testing::sealed(MemoryStore::builder().owner_key("user").build()))
    });
}
