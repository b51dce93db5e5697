//! Helpers for the unit tests.

use std::path::PathBuf;

/// The path of a file in the Node-generated vectors committed under `tests/vectors/`.
pub(crate) fn vector_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(file)
}
