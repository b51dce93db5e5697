//! The shared store suite (`express_session::testing`) against the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`), each case under a prefix of its own. Skipped, loudly, when that Redis cannot be
//! reached (a failure under `REQUIRE_SERVICES=1`).

mod common;

express_session::store_suite!(|| async { common::store().await });
