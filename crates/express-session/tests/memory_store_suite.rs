//! The shared store suite against `MemoryStore`.

use express_session::MemoryStore;

express_session::store_suite!(|| async { Some(MemoryStore::new()) });
