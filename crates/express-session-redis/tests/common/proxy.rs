//! A TCP proxy in front of one Redis node that can lose one reply: armed with a byte pattern, it forwards the first
//! client chunk that contains it to Redis as usual, then, when Redis answers on that connection, drops the
//! connection instead of passing the answer on. The client saw its command sent and its connection die, exactly
//! as when a connection breaks after a write: the command ran, its reply never came.

#![allow(unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxies of one test share: the armed pattern (taken by the first connection that sees it), and how
/// many replies were lost.
#[derive(Default)]
pub struct Trap {
    armed: Mutex<Option<Vec<Vec<u8>>>>,
    /// A command (its arguments) the proxy sends Redis on a connection of its own when the trap fires, after the
    /// trapped command ran and before the client's connection is dropped: a write of another client that comes
    /// between a command's first send and its resend.
    meanwhile: Mutex<Option<Vec<Vec<u8>>>>,
    fired: AtomicUsize,
}

impl Trap {
    /// Arms the trap: the next client chunk that contains every one of `needles` loses its reply (once).
    pub fn arm(&self, needles: Vec<Vec<u8>>) {
        *self.armed.lock().unwrap() = Some(needles);
    }

    /// Arms the trap as [`arm`](Self::arm), with `command` run on the same node when it fires.
    pub fn arm_with(&self, needles: Vec<Vec<u8>>, command: Vec<Vec<u8>>) {
        *self.meanwhile.lock().unwrap() = Some(command);
        self.arm(needles);
    }

    /// How many replies were lost so far.
    pub fn fired(&self) -> usize {
        self.fired.load(Ordering::SeqCst)
    }

    /// Whether `chunk` springs the trap (disarming it).
    fn springs(&self, chunk: &[u8]) -> bool {
        let mut armed = self.armed.lock().unwrap();
        let hit = armed.as_ref().is_some_and(|needles| {
            needles.iter().all(|needle| chunk.windows(needle.len()).any(|window| window == needle.as_slice()))
        });
        if hit {
            *armed = None;
        }
        hit
    }
}

/// A proxy listening on `port` (on 127.0.0.1) for the Redis at `upstream` (a port on 127.0.0.1).
pub struct Proxy {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16, trap: Arc<Trap>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let trap = trap.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        relay(client, server, upstream, &trap).await;
                    }
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways until either side closes; after a client chunk that springs the trap, the next bytes from
/// Redis end the connection (both sockets are dropped) instead of being passed on.
async fn relay(mut client: TcpStream, mut server: TcpStream, upstream: u16, trap: &Trap) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = vec![0u8; 1 << 16];
    let mut down = vec![0u8; 1 << 16];
    let mut cut = false;
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                // Marked before the chunk goes out, so the reply cannot be passed on before the mark.
                cut |= trap.springs(&up[..n]);
                if server_write.write_all(&up[..n]).await.is_err() {
                    return;
                }
            }
            read = server_read.read(&mut down) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if cut {
                    let meanwhile = trap.meanwhile.lock().unwrap().take();
                    if let Some(command) = meanwhile {
                        run(upstream, &command).await;
                    }
                    trap.fired.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if client_write.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends `command` (RESP) to the Redis at `upstream` on a connection of its own, and waits for the reply.
async fn run(upstream: u16, command: &[Vec<u8>]) {
    let mut resp = format!("*{}\r\n", command.len()).into_bytes();
    for arg in command {
        resp.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        resp.extend_from_slice(arg);
        resp.extend_from_slice(b"\r\n");
    }
    let mut stream = TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
    stream.write_all(&resp).await.unwrap();
    let mut reply = [0u8; 256];
    let n = stream.read(&mut reply).await.unwrap();
    assert!(n > 0 && reply[0] != b'-', "{}", String::from_utf8_lossy(&reply[..n]));
}
