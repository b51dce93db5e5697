//! The outage load client (`benches/load/outage.sh`): `CONNECTIONS` keep-alive connections, each its own
//! client with its own session cookie (taken from the first `Set-Cookie` it gets), send `GET PATH` as fast as the
//! server answers for `SECONDS`. The store goes down `FAULT_AT` seconds after the start for `FAULT_FOR` seconds
//! (the script does that); requests are counted by the phase in which they complete. Prints one JSON object:
//! for each phase, requests/s, 200s and 503s, p50 and p99 latency, and the time from the end of the fault to
//! the first 200.
//!
//! Usage: `bench-outage PORT PATH CONNECTIONS SECONDS FAULT_AT FAULT_FOR`

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answered request: when it completed (since the start), how long it took, its status.
struct Answer {
    done: Duration,
    took: Duration,
    status: u16,
}

async fn client(port: u16, path: String, start: Instant, until: Duration) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut cookie: Option<String> = None;
    'reconnect: while start.elapsed() < until {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        while start.elapsed() < until {
            let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
            if let Some(cookie) = &cookie {
                request.push_str(&format!("Cookie: {cookie}\r\n"));
            }
            request.push_str("\r\n");
            let sent = Instant::now();
            if stream.write_all(request.as_bytes()).await.is_err() {
                continue 'reconnect;
            }
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => continue 'reconnect,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let lower = head.to_ascii_lowercase();
            let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length: usize = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if cookie.is_none()
                && let Some(line) = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            {
                cookie = line.split_once(':').and_then(|(_, v)| v.trim().split(';').next()).map(str::to_owned);
            }
            while buf.len() < head_end + length {
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => continue 'reconnect,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..head_end + length);
            answers.push(Answer { done: start.elapsed(), took: sent.elapsed(), status });
        }
    }
    answers
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn phase(answers: &[&Answer], from: Duration, to: Duration) -> String {
    let mine: Vec<&&Answer> = answers.iter().filter(|a| a.done >= from && a.done < to).collect();
    let mut took: Vec<Duration> = mine.iter().map(|a| a.took).collect();
    took.sort();
    let ok = mine.iter().filter(|a| a.status == 200).count();
    let unavailable = mine.iter().filter(|a| a.status == 503).count();
    let seconds = (to - from).as_secs_f64();
    format!(
        "{{\"seconds\":{seconds:.2},\"requests\":{},\"rps\":{:.0},\"ok\":{ok},\"503\":{unavailable},\"other\":{},\
         \"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        mine.len(),
        mine.len() as f64 / seconds,
        mine.len() - ok - unavailable,
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        percentile(&took, 1.0)
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, path, connections, seconds, fault_at, fault_for] = args.as_slice() else {
        return Err("usage: bench-outage PORT PATH CONNECTIONS SECONDS FAULT_AT FAULT_FOR".into());
    };
    let port: u16 = port.parse()?;
    let connections: usize = connections.parse()?;
    let until = Duration::from_secs_f64(seconds.parse()?);
    let fault_at = Duration::from_secs_f64(fault_at.parse()?);
    let fault_end = fault_at + Duration::from_secs_f64(fault_for.parse()?);
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections).map(|_| tokio::spawn(client(port, path.clone(), start, until))).collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let answers: Vec<&Answer> = all.iter().collect();
    let back = answers
        .iter()
        .filter(|a| a.done >= fault_end && a.status == 200)
        .map(|a| a.done - fault_end)
        .min()
        .map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
    // The first second of the run is warm-up (sessions being created), left out of "before".
    let warm = Duration::from_secs(1).min(fault_at);
    println!(
        "{{\"before\":{},\"during\":{},\"after\":{},\"first_200_after_ms\":{back:.1}}}",
        phase(&answers, warm, fault_at),
        phase(&answers, fault_at, fault_end),
        phase(&answers, fault_end, until)
    );
    Ok(())
}
