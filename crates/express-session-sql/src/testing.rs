//! The helpers and cases the SQL store crates' tests share.
