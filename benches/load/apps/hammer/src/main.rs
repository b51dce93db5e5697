//! The lost-update check: `CONNECTIONS` keep-alive connections send exactly `TOTAL` requests (split evenly), all
//! with ONE session cookie, as fast as the server answers. Prints one JSON line: how many were answered 200, and
//! the highest "you viewed this page N times" seen.
//!
//! Usage: `bench-hammer PORT PATH COOKIE CONNECTIONS TOTAL`. `COOKIE` may be `@FILE`, a file of cookies one a line:
//! connection `c` then sends line `c % lines` (each connection its own session when there are enough lines).

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Default)]
struct Tally {
    ok: u64,
    other: u64,
    max_seen: u64,
}

async fn connection(port: u16, request: Vec<u8>, count: u64) -> std::io::Result<Tally> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let mut tally = Tally::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    for _ in 0..count {
        stream.write_all(&request).await?;
        // Read the head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed mid-response"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other("response without content-length"))?;
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed mid-body"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
        buf.drain(..head_end + length);
        if status == 200 {
            tally.ok += 1;
        } else {
            tally.other += 1;
        }
        if let Some(n) = body.strip_prefix("you viewed this page ").and_then(|r| r.split(' ').next()) {
            tally.max_seen = tally.max_seen.max(n.parse().unwrap_or(0));
        }
    }
    Ok(tally)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, path, cookie, connections, total] = args.as_slice() else {
        return Err("usage: bench-hammer PORT PATH COOKIE CONNECTIONS TOTAL".into());
    };
    let port: u16 = port.parse()?;
    let connections: u64 = connections.parse()?;
    let total: u64 = total.parse()?;
    let cookies: Vec<String> = match cookie.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)?.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        None => vec![cookie.clone()],
    };
    if cookies.is_empty() {
        return Err("no cookie in the cookie file".into());
    }
    let request = |c: u64| {
        let cookie = &cookies[(c % cookies.len() as u64) as usize];
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").into_bytes()
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let count = total / connections + u64::from(c < total % connections);
            tokio::spawn(connection(port, request(c), count))
        })
        .collect();
    let mut sum = Tally::default();
    let mut failed = 0u64;
    for task in tasks {
        match task.await? {
            Ok(t) => {
                sum.ok += t.ok;
                sum.other += t.other;
                sum.max_seen = sum.max_seen.max(t.max_seen);
            }
            Err(e) => {
                eprintln!("connection failed: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "{{\"sent\":{total},\"ok\":{},\"non_200\":{},\"failed_connections\":{failed},\"max_seen\":{},\"seconds\":{:.3}}}",
        sum.ok,
        sum.other,
        sum.max_seen,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
