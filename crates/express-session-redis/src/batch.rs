//! Automatic pipelining of the store's commands over one server connection (one server, or the master Sentinel
//! names).
//!
//! Every store call is one command. Sent one by one, each costs a `write` on this side and a wake-up, a `read` and
//! a `write` on the server's, and those, not the commands, are most of what Redis spends per request: on a Tokio
//! multi-thread runtime the connection's driver task runs right after each command is queued (it is woken last, so
//! it runs next), so commands go out one per `write` even when many requests are in flight. Here the commands
//! go through a queue instead: a flusher task takes the first, lets the other ready tasks run once (so that the
//! requests in flight queue theirs), then sends everything queued as one pipeline, in one `write`, which Redis
//! reads in one go and answers in one `write`. Commands keep their order; each still runs on its own (a pipeline
//! is not a transaction), so the scripts are exactly as atomic as before.
//!
//! While no other command of the store is in flight, a command is sent straight away, as before: the queue
//! only pays off when there is something to batch, and a lone request should not pay for its hops.
//!
//! Each call keeps its own time limit (`connection::bounded`); a command whose caller has given up before it was
//! sent is not sent. A batch that gets no reply within the limit is abandoned (its commands are in doubt, as any
//! command is whose reply never came).

use std::future::Future as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

use crate::connection::RedisConnection;

/// The most commands one pipeline carries.
const MAX_BATCH: usize = 256;

/// A command and where its reply goes.
struct Job {
    command: Cmd,
    reply: oneshot::Sender<RedisResult<Value>>,
}

/// The queue in front of one server connection, and its flusher task (started by the first queued call, on the
/// runtime the store was connected on, where the connection's own driver task runs too).
pub(crate) struct Batcher {
    connection: RedisConnection,
    limit: Duration,
    /// The runtime the store was connected on; `None` if it was built outside one (every call is then sent by
    /// itself).
    runtime: Option<tokio::runtime::Handle>,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    /// The store's commands sent and not answered (or given up on) yet.
    in_flight: AtomicUsize,
}

/// Counts a command in flight until dropped (answered, failed, or its caller gave up).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Batcher {
    pub(crate) fn new(connection: RedisConnection, limit: Duration) -> Self {
        let runtime = tokio::runtime::Handle::try_current().ok();
        Self { connection, limit, runtime, queue: OnceLock::new(), in_flight: AtomicUsize::new(0) }
    }

    /// Sends `command` with the others queued now, and returns its reply (a server error as an `Err`, as
    /// `Cmd::query_async` does).
    pub(crate) async fn query(&self, command: Cmd) -> RedisResult<Value> {
        let alone = self.in_flight.fetch_add(1, Ordering::Relaxed) == 0;
        let _in_flight = InFlight(&self.in_flight);
        let queue = if alone { None } else { self.queue() };
        let value = match queue {
            Some(queue) => {
                let (reply, receiver) = oneshot::channel();
                match queue.send(Job { command, reply }) {
                    Ok(()) => receiver.await.unwrap_or_else(|_| Err(abandoned()))?,
                    // The flusher is gone (its runtime has shut down): send the command by itself.
                    Err(mpsc::error::SendError(job)) => {
                        self.connection.clone().req_packed_command(&job.command).await?
                    }
                }
            }
            None => self.connection.clone().req_packed_command(&command).await?,
        };
        value.extract_error()
    }

    /// The queue, with its flusher started if it is not running yet; `None` when the store was built outside a
    /// Tokio runtime, or the caller runs on another runtime (the command is then sent by itself: a flusher on a
    /// runtime that is not being driven must not hold up the callers of a runtime that is).
    fn queue(&self) -> Option<&mpsc::UnboundedSender<Job>> {
        let runtime = self.runtime.as_ref()?;
        if tokio::runtime::Handle::try_current().ok()?.id() != runtime.id() {
            return None;
        }
        Some(self.queue.get_or_init(|| {
            let (queue, jobs) = mpsc::unbounded_channel();
            runtime.spawn(flush(jobs, self.connection.clone(), self.limit));
            queue
        }))
    }
}

/// The flusher: batches what is queued, and sends each batch from a task of its own, so that batches do not wait
/// for each other's replies. Ends when the store (the queue's sender) is dropped.
async fn flush(mut jobs: mpsc::UnboundedReceiver<Job>, connection: RedisConnection, limit: Duration) {
    while let Some(first) = jobs.recv().await {
        // Let the tasks that are ready now run first: the requests in flight queue their commands meanwhile.
        tokio::task::yield_now().await;
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Callers that gave up (their time limit passed) wait for nothing: their commands are not sent.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        tokio::spawn(send(batch, connection.clone(), limit));
    }
}

/// Sends one batch (a lone command as itself, more as one pipeline) and hands out the replies.
async fn send(batch: Vec<Job>, mut connection: RedisConnection, limit: Duration) {
    if batch.len() == 1 {
        let Some(Job { command, mut reply }) = batch.into_iter().next() else { return };
        // No timer for one command: the wait ends when its caller gives up.
        let mut request = std::pin::pin!(connection.req_packed_command(&command));
        let result = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = request.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            reply.poll_closed(cx).map(|()| None)
        })
        .await;
        if let Some(result) = result {
            let _ = reply.send(result);
        }
        return;
    }
    let mut pipeline = Pipeline::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for Job { command, reply } in batch {
        pipeline.add_command(command);
        replies.push(reply);
    }
    let count = replies.len();
    let result = tokio::time::timeout(limit, connection.req_packed_commands(&pipeline, 0, count)).await;
    match result.unwrap_or_else(|_| Err(abandoned())) {
        Ok(values) if values.len() == count => {
            for (reply, value) in replies.into_iter().zip(values) {
                let _ = reply.send(Ok(value));
            }
        }
        Ok(_) => {
            let error = RedisError::from((redis::ErrorKind::Client, "pipeline reply of the wrong length"));
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// The reply of an abandoned batch: as for a lost connection, the caller's call is `Unavailable`.
fn abandoned() -> RedisError {
    RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply from Redis to a pipelined command"))
}
