//! What the examples' server tests share: the view counter served on a free port, a whole request, idle clients.

#![allow(dead_code, unreachable_pub)]

use express_session_examples::{Limits, serve_with, view_counter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The view counter served within `limits` on a free port, and the switch that shuts it down.
pub async fn start(limits: Limits) -> (std::net::SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    // A backlog that holds every client of these tests while the server is at its connection limit.
    let listener: TcpListener = socket.listen(1024).unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let app = view_counter::app(view_counter::options()).unwrap();
    let server = tokio::spawn(serve_with(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (address, stop, server)
}

/// A whole request and its answer, on a connection of its own.
pub async fn view(address: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /foo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// `n` clients that connect and then send nothing, or (every other one) half a header.
pub async fn idle_clients(address: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut clients = Vec::new();
    for i in 0..n {
        let mut stream = TcpStream::connect(address).await.unwrap();
        if i % 2 == 1 {
            stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
        }
        clients.push(stream);
    }
    clients
}
