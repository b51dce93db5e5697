//! Helpers: a fresh database file per test, under Cargo's temporary directory for integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path for a new database file, unique in this run; files of earlier runs are deleted on first use.
pub fn fresh_file() -> PathBuf {
    static CLEAN: Once = Once::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("express-session-sqlite");
    let prefix = format!("{}-", std::process::id());
    CLEAN.call_once(|| {
        let _ = std::fs::create_dir_all(&dir);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    dir.join(format!("{prefix}{}.db", NEXT.fetch_add(1, Ordering::Relaxed)))
}
