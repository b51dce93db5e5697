//! The examples' server against slow and failing clients: a header or a body trickled a byte at a time, a
//! shutdown while clients hold half a header, connections that end in errors (each in a process of its own
//! from `serve.rs`, whose test counts open files).

mod common;

use std::time::{Duration, Instant};

use express_session_examples::{Limits, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use common::{idle_clients, start, view};

/// The login example within `limits` (its `POST /login` reads a form body).
async fn start_login(limits: Limits) -> (std::net::SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let app = express_session_examples::login::app(express_session_examples::login::options()).unwrap();
    let server = tokio::spawn(serve_with(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (address, stop, server)
}

/// Sends `bytes` one at a time every `every` until the server closes the connection or `for_at_most` passes;
/// returns how long the connection stayed open.
async fn trickle(stream: TcpStream, bytes: &[u8], every: Duration, for_at_most: Duration) -> Duration {
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 256];
        while !matches!(read.read(&mut buf).await, Ok(0) | Err(_)) {}
    });
    for byte in bytes.iter().cycle() {
        if reader.is_finished() || started.elapsed() > for_at_most {
            break;
        }
        if write.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let _ = tokio::time::timeout(for_at_most.saturating_sub(started.elapsed()), reader).await;
    started.elapsed()
}

#[tokio::test]
async fn a_client_trickling_its_header_is_closed_at_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let (address, stop, server) = start(Limits { header_read_timeout: timeout, ..Limits::default() }).await;
    let stream = TcpStream::connect(address).await.unwrap();
    let header = b"GET /foo HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let open = trickle(stream, header, Duration::from_millis(50), Duration::from_secs(4)).await;
    assert!(open < timeout + Duration::from_secs(1), "a trickled header kept the connection open {open:?}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}

#[tokio::test]
async fn a_client_trickling_its_body_is_closed_too() {
    let timeout = Duration::from_millis(500);
    let limits = Limits { header_read_timeout: timeout, request_timeout: Duration::from_secs(1), ..Limits::default() };
    let (address, stop, server) = start_login(limits).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nuser=")
        .await
        .unwrap();
    let open = trickle(stream, b"a", Duration::from_millis(50), Duration::from_secs(6)).await;
    assert!(open < Duration::from_secs(5), "a trickled body kept the connection open {open:?}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}

#[tokio::test]
async fn shutdown_finishes_while_clients_hold_half_a_header() {
    let timeout = Duration::from_millis(500);
    let (address, stop, server) =
        start(Limits { header_read_timeout: timeout, max_connections: 8, ..Limits::default() }).await;
    // 8 hold every slot with half a header, 8 more wait in the backlog.
    let _idle = idle_clients(address, 16).await;
    let mut half = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: local").await.unwrap();
        half.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(timeout + Duration::from_secs(2), server).await.expect("graceful shutdown").unwrap();
    println!("shut down in {:?} with clients holding half a header", started.elapsed());
}

#[tokio::test]
async fn connections_that_fail_give_their_slot_back() {
    let (address, stop, server) =
        start(Limits { header_read_timeout: Duration::from_secs(5), max_connections: 4, ..Limits::default() }).await;
    // Garbage, an end of stream mid-header and a client that leaves at once: each connection ends in an error.
    for i in 0..40 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        match i % 3 {
            0 => {
                stream.write_all(b"\x00\x01 not http\r\n\r\n").await.unwrap();
                let mut buf = Vec::new();
                let _ = stream.read_to_end(&mut buf).await;
            }
            1 => {
                stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
                stream.shutdown().await.unwrap();
            }
            _ => drop(stream),
        }
    }
    // Were a slot leaked per failure, the four would be gone and this would wait for ever.
    let answer = tokio::time::timeout(Duration::from_secs(3), view(address)).await.expect("a slot was leaked");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}

#[tokio::test]
async fn shutdown_finishes_while_a_client_trickles_its_body() {
    let limits = Limits { request_timeout: Duration::from_secs(1), ..Limits::default() };
    let (address, stop, server) = start_login(limits).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nuser=").await.unwrap();
    let client = tokio::spawn(trickle(stream, b"a", Duration::from_millis(50), Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server).await.expect("graceful shutdown waited for the body").unwrap();
    println!("shut down in {:?} while a client trickled its body", started.elapsed());
    client.abort();
}

#[tokio::test]
async fn any_connection_limit_is_accepted() {
    let (address, stop, server) = start(Limits { max_connections: usize::MAX, ..Limits::default() }).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), view(address)).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("graceful shutdown").unwrap();
}
