//! One pool connection's I/O: a reader thread that connects (TCP, TLS or Noise), then turns
//! what arrives into decoded [`Input`], and a writer thread with its own bounded queue and a
//! write timeout. A pool that stops reading fills only its own queue: the session is then
//! dropped (`NotReading`) without holding up any other pool or the coordinator, which never
//! touches a socket itself.

use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::error::StratumError;
use super::session::{Input, Outgoing};
use super::transport::{self, PoolUrl};
use super::v1::protocol::{self, ProtocolError};
use super::v2::wire;
use crate::source::Solution;

/// Messages that may wait to be written to one pool.
pub const WRITE_QUEUE: usize = 256;
/// Events that may wait for the coordinator (a reader that gets ahead waits: the pool's own
/// socket buffers fill, nothing else).
pub const EVENT_QUEUE: usize = 1024;

/// What the connections (and the mining loop) tell the coordinator.
pub enum Event {
    Connected { session: u64, conn: Conn },
    Input { session: u64, input: Input },
    Closed { session: u64, error: StratumError },
    Solution(Box<Solution>),
    SolutionsClosed,
}

/// The coordinator's handle on a connection: its writer's queue, and the socket to shut it.
pub struct Conn {
    queue: SyncSender<Outgoing>,
    socket: TcpStream,
}

impl Conn {
    /// Queues `message` for the writer; a full queue means the pool stopped reading.
    pub fn send(&self, message: Outgoing) -> Result<(), StratumError> {
        self.queue.try_send(message).map_err(|e| match e {
            TrySendError::Full(_) => StratumError::NotReading(WRITE_QUEUE),
            TrySendError::Disconnected(_) => StratumError::Closed,
        })
    }

    /// A handle on the writer's queue, for a message that goes later from another thread
    /// (dropped, like any message, if the queue is full or the connection has ended).
    pub fn later(&self) -> impl Fn(Outgoing) + Send + 'static {
        let queue = self.queue.clone();
        move |message| {
            let _ = queue.try_send(message);
        }
    }

    /// Ends the connection (both threads return).
    pub fn close(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

/// How to reach a pool.
pub struct Dial {
    pub session: u64,
    pub url: PoolUrl,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub timeout: Duration,
}

/// Starts a connection's threads; what happens is told through `events`.
pub fn spawn(dial: Dial, events: SyncSender<Event>) -> Result<(), StratumError> {
    std::thread::Builder::new()
        .name(format!("hashrig-pool-{}", dial.session))
        .spawn(move || run(dial, events))
        .map(|_| ())
        .map_err(StratumError::Thread)
}

enum Reader {
    V1(transport::Reader),
    V2(wire::V2Reader),
}

enum Writer {
    V1(transport::Writer),
    V2(wire::V2Writer),
}

fn run(dial: Dial, events: SyncSender<Event>) {
    let session = dial.session;
    let closed = |error| {
        let _ = events.send(Event::Closed { session, error });
    };
    let halves = match dial.url.v2 {
        Some(key) => wire::connect(&dial.url.host, dial.url.port, key, dial.timeout)
            .map(|(r, w)| (Reader::V2(r), Writer::V2(w))),
        None => transport::connect(&dial.url, dial.tls.as_ref(), dial.timeout)
            .map(|(r, w)| (Reader::V1(r), Writer::V1(w))),
    };
    let (mut reader, writer) = match halves {
        Ok(h) => h,
        Err(e) => return closed(e),
    };
    let socket = match &writer {
        Writer::V1(w) => w.socket(),
        Writer::V2(w) => w.socket(),
    };
    let socket = match socket {
        Ok(s) => s,
        Err(e) => return closed(StratumError::Socket(e)),
    };
    let (queue, pending) = mpsc::sync_channel::<Outgoing>(WRITE_QUEUE);
    let writer_events = events.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("hashrig-pool-{session}-writer"))
        .spawn(move || write_loop(session, writer, pending, writer_events));
    if let Err(e) = spawned {
        return closed(StratumError::Thread(e));
    }
    let conn = Conn { queue, socket };
    if events.send(Event::Connected { session, conn }).is_err() {
        return;
    }
    loop {
        let input = match &mut reader {
            Reader::V1(r) => r.line().map(|bytes| Input::Line(parse_line(&bytes))),
            Reader::V2(r) => r.frame().map(Input::Frame),
        };
        match input {
            Ok(input) => {
                if events.send(Event::Input { session, input }).is_err() {
                    return;
                }
            }
            Err(e) => return closed(e),
        }
    }
}

/// A v1 line, parsed (or what was wrong with it, with the line clipped).
pub fn parse_line(bytes: &[u8]) -> Result<protocol::Incoming, ProtocolError> {
    match std::str::from_utf8(bytes) {
        Ok(line) => protocol::parse(line)
            .map_err(|e| ProtocolError(format!("{e}: {}", protocol::clip(line, 120)))),
        Err(_) => Err(ProtocolError("a line that is not UTF-8".into())),
    }
}

fn write_loop(
    session: u64,
    mut writer: Writer,
    pending: Receiver<Outgoing>,
    events: SyncSender<Event>,
) {
    // Ends when the coordinator drops the connection's queue.
    for message in pending {
        let sent = match (&mut writer, message) {
            (Writer::V1(w), Outgoing::Line(line)) => w.send(&line).map_err(StratumError::Write),
            (Writer::V2(w), Outgoing::V2(m)) => w.send(*m),
            _ => Err(StratumError::Protocol(ProtocolError(
                "a message of the other protocol".into(),
            ))),
        };
        if let Err(error) = sent {
            let _ = events.send(Event::Closed { session, error });
            break;
        }
    }
    match &mut writer {
        Writer::V1(w) => w.close(),
        Writer::V2(w) => w.close(),
    }
}
