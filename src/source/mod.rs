//! Work sources: where work comes from and where solutions go (a node's block templates; later
//! Stratum pools). A source owns its threads (or its own async runtime); it talks to the mining
//! loop only through a [`Link`] (work, withdraw, outcomes, a fatal error) and the channel of
//! verified [`Solution`]s it returns from [`Source::start`]. Nothing of a source reaches the
//! backends.

pub mod jd;
pub mod node;
pub mod stratum;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::verify::Share;
use crate::work::{Roll, Work};

/// An error that ends a source (and so the run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error(transparent)]
    Solo(#[from] node::SoloError),
    #[error(transparent)]
    Node(#[from] node::NodeError),
    #[error(transparent)]
    Stratum(#[from] stratum::StratumError),
    #[error("no pool can be trusted: {0}")]
    NoTrustedPool(String),
    #[error("no pool to mine on")]
    NoPools,
    #[error("could not start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A verified solution of a source's work: the reference hash of `share.header` meets the
/// work's share target.
#[derive(Clone, Debug)]
pub struct Solution {
    pub work: Arc<Work>,
    pub roll: Roll,
    pub share: Share,
    /// When a backend reported it: a source measures its submit path from here.
    pub found_at: std::time::Instant,
}

/// What became of a solution (or of one found by an earlier run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Taken: a block on the node's active chain, a share the pool accepted.
    Accepted,
    /// Refused, with the node's or pool's reason.
    Rejected(String),
    /// Too late to count: a block on a side chain, a solution for a height already solved.
    Stale(String),
    /// Not answered yet (node or pool away): kept and retried.
    Kept(String),
    /// Sent, but never answered (a pool that timed out or went away): counted, not resent.
    Unanswered(String),
}

/// A source's report on one solution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What it was, for the log line: "block 5 00ab...".
    pub what: String,
    pub kind: OutcomeKind,
    /// True for a block (counted by `--blocks`).
    pub block: bool,
    /// Counted but not printed (e.g. the flood of extra solutions on regtest).
    pub quiet: bool,
    /// The block of a share whose own outcome is reported too (job declaration): counted as a
    /// block, not as another solution.
    pub share_also: bool,
}

/// What a source tells the mining loop.
#[derive(Debug)]
pub enum SourceEvent {
    Work(Work),
    /// No work right now (e.g. a block was found and the node's answer is awaited).
    Withdraw,
    Outcome(Outcome),
    Fatal(SourceError),
}

/// How a [`Link`] hands events to the mining loop (it waits while the loop's queue is full).
pub type Emit = Arc<dyn Fn(SourceEvent) + Send + Sync>;

/// A source's side of the mining loop.
#[derive(Clone)]
pub struct Link {
    emit: Emit,
    /// The user's stop request (signals).
    user_stop: Arc<AtomicBool>,
    /// Set by the mining loop when the run ends.
    run_stop: Arc<AtomicBool>,
    /// The end of a `--duration` run (also while the source still waits for its server).
    deadline: Option<std::time::Instant>,
    stats: Arc<crate::stats::Stats>,
}

impl Link {
    pub fn new(
        emit: Emit,
        user_stop: Arc<AtomicBool>,
        run_stop: Arc<AtomicBool>,
        deadline: Option<std::time::Instant>,
        stats: Arc<crate::stats::Stats>,
    ) -> Self {
        Link {
            emit,
            user_stop,
            run_stop,
            deadline,
            stats,
        }
    }

    /// The run's counters (a pool source registers and feeds its per-pool counters here).
    pub fn stats(&self) -> &Arc<crate::stats::Stats> {
        &self.stats
    }

    fn send(&self, event: SourceEvent) {
        (self.emit)(event);
    }

    /// Publishes work (replacing the current work).
    pub fn work(&self, work: Work) {
        self.send(SourceEvent::Work(work));
    }

    pub fn withdraw(&self) {
        self.send(SourceEvent::Withdraw);
    }

    pub fn outcome(&self, outcome: Outcome) {
        self.send(SourceEvent::Outcome(outcome));
    }

    pub fn fatal(&self, error: SourceError) {
        self.send(SourceEvent::Fatal(error));
    }

    /// True once the run is ending: threads that wait (polls, backoff) return.
    pub fn stopping(&self) -> bool {
        self.user_stop.load(Ordering::Relaxed)
            || self.run_stop.load(Ordering::Relaxed)
            || self
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
    }

    /// Sleeps for `duration`, or less when the run ends; true when it ended.
    pub fn sleep(&self, duration: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + duration;
        while std::time::Instant::now() < until {
            if self.stopping() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20).min(duration));
        }
        self.stopping()
    }
}

/// A started source: where solutions go, and the threads to join at exit (after the sink is
/// closed, each finishes what it was given: a found block is journaled and sent).
pub struct Running {
    pub solutions: SolutionSink,
    pub threads: Vec<JoinHandle<()>>,
}

/// Why a [`SolutionSink`] gave a solution back.
#[derive(Debug)]
pub enum SinkError {
    /// The source's queue is full: try again later (the mining loop keeps it meanwhile).
    Full(Box<Solution>),
    /// The source has ended.
    Closed(Box<Solution>),
}

type SendFn = Box<dyn FnMut(Solution) -> Result<(), SinkError> + Send>;
type CloseFn = Box<dyn FnOnce() + Send>;

/// Where the mining loop hands verified solutions to a source: straight into the source's
/// own (bounded) queue, no extra thread hop. It never waits: a full queue gives the solution
/// back. Dropping the sink tells the source that no more come.
pub struct SolutionSink {
    send: SendFn,
    close: Option<CloseFn>,
}

impl SolutionSink {
    /// A sink that sends into `tx` (closed by dropping it).
    pub fn channel(tx: mpsc::SyncSender<Solution>) -> Self {
        SolutionSink {
            send: Box::new(move |s| {
                tx.try_send(s).map_err(|e| match e {
                    mpsc::TrySendError::Full(s) => SinkError::Full(Box::new(s)),
                    mpsc::TrySendError::Disconnected(s) => SinkError::Closed(Box::new(s)),
                })
            }),
            close: None,
        }
    }

    /// A sink made of `send` (gives the solution back when it cannot take it now) and
    /// `close` (run once, when the sink is dropped).
    pub fn new(
        send: impl FnMut(Solution) -> Result<(), SinkError> + Send + 'static,
        close: impl FnOnce() + Send + 'static,
    ) -> Self {
        SolutionSink {
            send: Box::new(send),
            close: Some(Box::new(close)),
        }
    }

    /// Hands `solution` over, or gives it back.
    pub fn send(&mut self, solution: Solution) -> Result<(), SinkError> {
        (self.send)(solution)
    }
}

impl Drop for SolutionSink {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            close();
        }
    }
}

/// A work source.
pub trait Source: Send {
    /// For the first log line: "node http://127.0.0.1:18443".
    fn describe(&self) -> String;

    /// Checks what can only be checked against the other side (e.g. the payout address
    /// against the node's network), waiting for it while it is not up (until
    /// [`Link::stopping`]), then starts the source's threads.
    fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError>;

    /// True when the source announces the devices' hash rate (a Stratum V2 channel): the
    /// mining loop measures the backends for half a second first (`Stats::nominal`).
    fn wants_hash_rate(&self) -> bool {
        false
    }
}
