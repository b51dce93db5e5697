//! The unit tests of `sentinel.rs`.

use super::*;

#[test]
fn reads_go_without_wait_and_everything_else_waits() {
    for read in ["GET", "get", "MGET", "SCAN", "SSCAN", "PTTL", "SCRIPT"] {
        assert!(!is_write(&redis::cmd(read)), "{read}");
    }
    for write in ["SET", "DEL", "EXPIRE", "EVALSHA", "EVAL", "SADD", "UNLINK"] {
        assert!(is_write(&redis::cmd(write)), "{write}");
    }
}

#[test]
fn too_few_replicas_is_unavailable() {
    assert!(replicated(&Value::Int(2), 2, 50).is_ok());
    let short = replicated(&Value::Int(1), 2, 50).unwrap_err();
    assert_eq!(short.code(), Some("NOREPLICAS"));
    assert!(crate::connection::classify(short).is_unavailable());
    assert!(replicated(&Value::Nil, 2, 50).is_err());
    assert!(crate::connection::classify(not_a_master()).is_unavailable());
}

#[test]
fn a_masters_role_counts_its_replicas() {
    let text = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    let replica = Value::Array(vec![text("127.0.0.1"), text("6380"), text("100")]);
    let master = Value::Array(vec![text("master"), Value::Int(100), Value::Array(vec![replica])]);
    assert_eq!(connected_replicas(master), Some(1));
    let alone = Value::Array(vec![text("master"), Value::Int(100), Value::Array(vec![])]);
    assert_eq!(connected_replicas(alone), Some(0));
    let demoted =
        Value::Array(vec![text("slave"), text("127.0.0.1"), Value::Int(6379), text("connected"), Value::Int(100)]);
    assert_eq!(connected_replicas(demoted), None);
}

#[test]
fn broken_connections_and_demoted_masters_are_dropped() {
    let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    assert!(is_broken(&reset));
    let read_only = RedisError::from((ErrorKind::Server(ServerErrorKind::ReadOnly), "READONLY"));
    assert!(is_broken(&read_only));
    let wrong_type = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "WRONGTYPE"));
    assert!(!is_broken(&wrong_type));
}

#[test]
fn the_password_is_not_shown() {
    let config = SentinelConfig::new(["redis://:pw@127.0.0.1:26379"], "m").master_password("hunter2");
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("pw@"), "{shown}");
    assert!(SentinelConfig::new(["x"], "m").wait_for_replicas(0, Duration::from_secs(1)).wait.is_none());
}
