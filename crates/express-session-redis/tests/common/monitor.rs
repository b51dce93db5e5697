//! Redis's `MONITOR`, read over a raw connection: the exact commands the store sends (and those its scripts run),
//! to compare with the ones connect-redis sent when the vectors were captured.

#![allow(unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One command seen by `MONITOR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Whether a Lua script ran it (`[0 lua]`).
    pub from_script: bool,
    pub args: Vec<String>,
}

impl Seen {
    /// Whether the command writes (what connect-redis's traces are compared on; reads may differ).
    pub fn is_write(&self) -> bool {
        let name = self.args.first().map(|s| s.to_ascii_uppercase()).unwrap_or_default();
        matches!(name.as_str(), "SET" | "DEL" | "UNLINK" | "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "SETEX")
    }
}

/// A `MONITOR` session that keeps the commands mentioning `filter`.
pub struct Monitor {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    pub async fn start(url: &str, filter: &str) -> Self {
        let client = redis::Client::open(url).unwrap();
        let (host, port) = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            other => panic!("MONITOR needs a TCP address, not {other:?}"),
        };
        let mut stream = TcpStream::connect((host.as_str(), port)).await.unwrap();
        stream.write_all(b"*1\r\n$7\r\nMONITOR\r\n").await.unwrap();
        let mut lines = BufReader::new(stream).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sink, filter) = (Arc::clone(&seen), filter.to_owned());
        let task = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.contains(&filter) {
                    continue;
                }
                if let Some(command) = parse(&line) {
                    sink.lock().unwrap().push(command);
                }
            }
        });
        Self { seen, task }
    }

    /// Everything `work` sent: the commands seen between two markers, `ECHO <filter>mark-…` sent from `url` before
    /// and after it (so that commands sent earlier, whose lines may still be on their way, are left out).
    pub async fn during<F: Future<Output = T>, T>(&self, url: &str, filter: &str, work: F) -> (T, Vec<Seen>) {
        let mut connection = crate::common::raw(url).await;
        let begin = self.mark(&mut connection, filter).await;
        let value = work.await;
        let end = self.mark(&mut connection, filter).await;
        let seen = self.seen.lock().unwrap();
        let commands = seen[begin + 1..end].iter().filter(|s| s.args[0] != "ECHO").cloned().collect();
        (value, commands)
    }

    /// Sends a marker and waits until `MONITOR` shows it; returns its position.
    async fn mark(&self, connection: &mut redis::aio::MultiplexedConnection, filter: &str) -> usize {
        let marker = format!("{filter}mark-{}", express_session::SessionId::generate().as_str());
        let _: String = redis::cmd("ECHO").arg(&marker).query_async(connection).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(at) = self.seen.lock().unwrap().iter().rposition(|s| s.args.get(1) == Some(&marker)) {
                return at;
            }
            assert!(Instant::now() < deadline, "MONITOR never showed the marker");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `MONITOR` line: `+1700000000.123456 [0 127.0.0.1:5000] "SET" "key" "va\"lue"` (`[0 lua]` from scripts).
fn parse(line: &str) -> Option<Seen> {
    let (source, rest) = line.split_once('[')?.1.split_once(']')?;
    let from_script = source.ends_with(" lua");
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = Vec::<u8>::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => arg.push(b'\n'),
                    'r' => arg.push(b'\r'),
                    't' => arg.push(b'\t'),
                    'a' => arg.push(7),
                    'b' => arg.push(8),
                    'x' => {
                        let hex: String = [chars.next()?, chars.next()?].iter().collect();
                        arg.push(u8::from_str_radix(&hex, 16).ok()?);
                    }
                    other => {
                        let mut buf = [0; 4];
                        arg.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                    }
                },
                other => {
                    let mut buf = [0; 4];
                    arg.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        args.push(String::from_utf8_lossy(&arg).into_owned());
    }
    (!args.is_empty()).then_some(Seen { from_script, args })
}

#[test]
fn monitor_lines_parse() {
    let line = r#"+1700000000.123456 [0 lua] "SET" "sess:a" "{\"cookie\":{}}" "EX" "60""#;
    let seen = parse(line).unwrap();
    assert!(seen.from_script);
    assert_eq!(seen.args, ["SET", "sess:a", r#"{"cookie":{}}"#, "EX", "60"]);
    let line = r#"+1.2 [0 127.0.0.1:5000] "GET" "a\x00b""#;
    assert_eq!(parse(line).unwrap().args, ["GET", "a\u{0}b"]);
}
