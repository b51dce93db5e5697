//! The examples' server within its limits: idle clients neither starve others nor hold sockets for ever
//! (issue 19: 300 idle sockets used to exhaust the server's file descriptors).

mod common;

use std::time::{Duration, Instant};

use express_session_examples::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{idle_clients, start, view};

/// Whether the server closed `stream` within `within` (end of stream or reset), rather than leaving it open.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // hyper may answer a half-sent header with an error status before closing.
            Ok(Ok(_)) => continue,
        }
    }
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One test, its two cases in turn: the second counts this process's open files, which another test's runtime
/// starting in parallel would change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_cannot_starve_the_server() {
    three_hundred_idle_clients_neither_block_a_request_nor_stay_connected().await;
    the_server_holds_at_most_its_connection_limit_and_still_answers().await;
}

async fn three_hundred_idle_clients_neither_block_a_request_nor_stay_connected() {
    let timeout = Duration::from_millis(800);
    let (address, stop, server) =
        start(Limits { header_read_timeout: timeout, max_connections: 512, ..Limits::default() }).await;
    let opened = Instant::now();
    let mut idle = idle_clients(address, 300).await;

    let answer = view(address).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("you viewed this page 1 times"), "{answer}");
    // A kept-alive connection that goes idle after its request counts as idle too.
    let mut kept_alive = TcpStream::connect(address).await.unwrap();
    kept_alive.write_all(b"GET /foo HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = kept_alive.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    idle.push(kept_alive);
    // Still connected before the timeout (the request above was not answered by dropping them)...
    if opened.elapsed() < timeout / 2 {
        assert!(!closed_within(&mut idle[0], timeout / 4).await, "closed before the header timeout");
    }
    // ...and every one of them closed by the server soon after it.
    for (i, client) in idle.iter_mut().enumerate() {
        assert!(closed_within(client, timeout + Duration::from_secs(2)).await, "idle client {i} is still connected");
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}

async fn the_server_holds_at_most_its_connection_limit_and_still_answers() {
    let timeout = Duration::from_millis(300);
    let (address, stop, server) =
        start(Limits { header_read_timeout: timeout, max_connections: 20, ..Limits::default() }).await;
    let before = open_files();
    let _idle = idle_clients(address, 100).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // This process holds the 100 client ends, and the server's ends of those it accepted.
    let accepted = open_files() - before - 100;
    assert!((1..=20).contains(&accepted), "the server holds {accepted} connections, over its limit of 20");
    // A real client waits behind the idle ones only until their header timeout frees the slots.
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), view(address)).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    println!("answered after {:?} behind 100 idle clients", started.elapsed());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}
