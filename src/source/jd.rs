//! Job declaration mining (Stratum V2 spec, section 6): the node's own templates, declared to
//! the pool's Job Declaration Server (JDS), mined on a custom-work channel with the pool, so the
//! miner picks the transactions and the pool pays for the shares. No proxy and no Template
//! Provider: the templates come from the node's getblocktemplate (the solo source's template
//! thread), so any node works.
//!
//! One coordinator thread owns two sans-IO sessions, each with its connection's driver: the
//! JD session (`v2::jd`) and the pool channel (`v2::Channel`, `ChannelKind::Custom`). Every new
//! template is declared; the JDS's token goes into SetCustomMiningJob; once the pool takes the
//! job, its work is mined. A share that also meets the network target is a block: it goes to
//! the node's submit thread first (journaled, never lost), then the share to the pool and
//! PushSolution to the JDS.
//!
//! What is mined at any moment:
//! - `declared`: the pool's custom job on the newest template's previous block;
//! - `pending`: a new previous block's template is being declared: it is mined solo meanwhile;
//! - `fallback`: the pool or the JDS is away, or refused our job: solo on the node with the
//!   fallback payout, one line saying why, and back to `declared` once both take a job again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::node::solo::{self, BuiltBlock, Shared, ToSubmit};
use super::node::{Journal, Node, Payout};
use super::stratum::driver::{self, Conn, Dial, Event};
use super::stratum::session::{Action, Input, Outgoing, Phase, ShareResult};
use super::stratum::v2::declare::Declared;
use super::stratum::v2::jd::{JdAction, JdConfig, JdCounts, JdPhase, JdSession};
use super::stratum::v2::{self, wire};
use super::stratum::{context, PoolConfig, PoolUrl, StratumError, StratumOptions};
use super::SourceError;
use super::{Link, Outcome, OutcomeKind, Running, SinkError, Solution, SolutionSink, Source};
use crate::chain::block::check_block;
use crate::chain::hash_meets;
use crate::stats::{JdStatus, Stats};
use crate::ui::output::clip;

/// The longest wait between tries of the pool or the JDS.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// SetCustomMiningJob refused for its token (pool_sv2 expires a token 10 s after the JDS gave
/// it): declared again at once, this many times in a row at most.
const TOKEN_RETRIES: u32 = 3;
/// A `stale-chain-tip` refusal (the JDS's node is behind or ahead of ours): declared again
/// after this.
const STALE_RETRY: Duration = Duration::from_secs(1);
/// How long mining waits for the pool's job on a new template before mining the template solo
/// meanwhile (a declaration takes a few round trips: milliseconds on a healthy pool).
const PENDING_IDLE: Duration = Duration::from_secs(1);
/// Solo solutions kept while the submit thread's queue is full.
const MAX_WAITING: usize = 1024;
/// How long the coordinator waits at exit for the pool's answers to its last shares.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Mining the node's templates through a pool's Job Declaration Server.
pub struct JdSource {
    pub node: Node,
    /// The solo fallback's payout.
    pub payout: Payout,
    pub journal: Journal,
    pub poll: Duration,
    pub pool: PoolConfig,
    pub jds: PoolUrl,
    pub options: StratumOptions,
}

impl Source for JdSource {
    fn describe(&self) -> String {
        format!(
            "node {} declared to {} for pool {} (journal {})",
            self.node.url(),
            self.jds,
            self.pool.url,
            self.journal.path().display()
        )
    }

    fn wants_hash_rate(&self) -> bool {
        self.options.hash_rate.is_none()
    }

    fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError> {
        let JdSource {
            node,
            payout,
            journal,
            poll,
            pool,
            jds,
            options,
        } = *self;
        let (tx, rx) = mpsc::sync_channel::<Event>(driver::EVENT_QUEUE);
        let closed = Arc::new(AtomicBool::new(false));
        let solutions = sink(tx.clone(), Arc::clone(&closed));
        let Some((node, payout, genesis)) =
            solo::node_chain(node, payout, crate::algo::Algo::Sha256d, &link)?
        else {
            return Ok(Running {
                solutions,
                threads: vec![],
            });
        };
        link.stats().register_pools([pool.url.to_string()]);
        // Solo work waits until the first template shows whether the pool is there.
        let shared = Arc::new(Shared::new(node, link.clone(), payout, None, false));
        let (submit_tx, submit_rx) = mpsc::sync_channel::<ToSubmit>(solo::SOLUTION_QUEUE);
        let submitter = solo::start_threads(&shared, journal, genesis, poll, submit_rx)?;
        let coordinator = Coordinator::new(shared, link, pool, jds, options, tx, rx, closed);
        let thread = std::thread::Builder::new()
            .name("hashrig-jd".into())
            .spawn(move || coordinator.run(submit_tx))?;
        Ok(Running {
            solutions,
            threads: vec![thread, submitter],
        })
    }
}

/// Solutions go straight into the coordinator's queue (as for pools).
fn sink(tx: SyncSender<Event>, closed: Arc<AtomicBool>) -> SolutionSink {
    let close_tx = tx.clone();
    SolutionSink::new(
        move |s| {
            tx.try_send(Event::Solution(Box::new(s)))
                .map_err(|e| match e {
                    mpsc::TrySendError::Full(Event::Solution(s)) => SinkError::Full(s),
                    mpsc::TrySendError::Disconnected(Event::Solution(s)) => SinkError::Closed(s),
                    _ => unreachable!("only solutions are sent here"),
                })
        },
        move || {
            closed.store(true, Ordering::Release);
            let _ = close_tx.try_send(Event::SolutionsClosed);
        },
    )
}

/// What is mined (see the module's doc).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing yet (no template).
    Starting,
    Declared,
    Pending,
    Fallback(String),
}

/// A connection's retry schedule.
#[derive(Default)]
struct Retry {
    at: Option<Instant>,
    backoff: Duration,
}

impl Retry {
    fn due(&self, now: Instant) -> bool {
        self.at.is_none_or(|t| now >= t)
    }

    /// After a failure: the next try waits longer (1 s doubling to 30 s).
    fn failed(&mut self, now: Instant) -> Duration {
        self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        self.at = Some(now + self.backoff);
        self.backoff
    }

    fn reset(&mut self) {
        self.backoff = Duration::ZERO;
    }
}

struct PoolLive {
    id: u64,
    channel: v2::Channel,
    conn: Option<Conn>,
}

struct JdLive {
    id: u64,
    session: JdSession,
    conn: Option<Conn>,
}

struct Coordinator {
    shared: Arc<Shared>,
    link: Link,
    stats: Arc<Stats>,
    pool_cfg: PoolConfig,
    jds_url: PoolUrl,
    options: StratumOptions,
    events: SyncSender<Event>,
    rx: Receiver<Event>,
    solutions_closed: Arc<AtomicBool>,
    next_id: u64,
    pool: Option<PoolLive>,
    pool_retry: Retry,
    jd: Option<JdLive>,
    jd_retry: Retry,
    /// The template count last given to the JD session.
    declared_seq: u64,
    /// The template count of the last declaration (a refusal holds until a newer one).
    refused_seq: u64,
    /// The last job was refused for good (why): no declaration until a new template comes.
    refusal: Option<String>,
    /// Why the pool, or the JDS, is not usable (set when a connection fails, cleared when a
    /// new one is set up; `None` while the first one is being made).
    pool_reason: Option<String>,
    jd_reason: Option<String>,
    /// Declare the newest template again at this time (after a `stale-chain-tip`).
    redeclare_at: Option<Instant>,
    /// `stale-chain-tip` refusals in a row (the retry waits longer each time).
    stale_retries: u32,
    token_retries: u32,
    /// The pool's work changed since it was last published.
    dirty: bool,
    mode: Mode,
    /// Counts of the JD sessions (and custom jobs of pool channels) that ended.
    past: JdCounts,
    past_custom: u64,
    /// The next publish of the pool's work is clean (solo work was mined before it).
    switched: bool,
    /// A job of ours was mined on the pool (the first declaration may take longer).
    ever_declared: bool,
    /// Fallback was announced since the pool's job was last mined.
    fell_back: bool,
    /// When the newest template's declaration started to be awaited, and whether the template
    /// is mined solo meanwhile.
    pending_since: Instant,
    pending_solo: bool,
    status: JdStatus,
    /// Blocks the submit thread could not take yet (its queue was full): sent first.
    to_submit: std::collections::VecDeque<ToSubmit>,
    closing: Option<Instant>,
}

impl Coordinator {
    #[allow(clippy::too_many_arguments)]
    fn new(
        shared: Arc<Shared>,
        link: Link,
        pool_cfg: PoolConfig,
        jds_url: PoolUrl,
        options: StratumOptions,
        events: SyncSender<Event>,
        rx: Receiver<Event>,
        solutions_closed: Arc<AtomicBool>,
    ) -> Self {
        let status = JdStatus {
            jds: jds_url.to_string(),
            state: "pending",
            ..JdStatus::default()
        };
        Coordinator {
            stats: Arc::clone(link.stats()),
            shared,
            link,
            pool_cfg,
            jds_url,
            options,
            events,
            rx,
            solutions_closed,
            next_id: 1,
            pool: None,
            pool_retry: Retry::default(),
            jd: None,
            jd_retry: Retry::default(),
            declared_seq: 0,
            refused_seq: 0,
            refusal: None,
            pool_reason: None,
            jd_reason: None,
            redeclare_at: None,
            stale_retries: 0,
            token_retries: 0,
            dirty: false,
            mode: Mode::Starting,
            past: JdCounts::default(),
            past_custom: 0,
            switched: false,
            ever_declared: false,
            fell_back: false,
            pending_since: Instant::now(),
            pending_solo: false,
            status,
            to_submit: Default::default(),
            closing: None,
        }
    }

    fn pool_name(&self) -> String {
        format!("pool {}", self.pool_cfg.url)
    }

    fn run(mut self, submit: SyncSender<ToSubmit>) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => self.guarded(event, &submit),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for _ in 0..256 {
                match self.rx.try_recv() {
                    Ok(event) => self.guarded(event, &submit),
                    Err(_) => break,
                }
            }
            self.flush_blocks(&submit);
            let now = Instant::now();
            self.tick(now);
            if self.closing.is_none() && self.solutions_closed.load(Ordering::Acquire) {
                self.closing = Some(now);
            }
            if let Some(since) = self.closing {
                let waiting = self.pool.as_ref().map_or(0, |p| p.channel.pending());
                if (waiting == 0 && self.to_submit.is_empty()) || since.elapsed() >= EXIT_GRACE {
                    break;
                }
                continue;
            }
            if !self.link.stopping() {
                self.connect(now);
            }
            self.declare_if_new(now);
            self.choose();
            self.publish_status();
        }
        self.finish(&submit);
    }
}

fn add_counts(total: &mut JdCounts, more: &JdCounts) {
    total.declared += more.declared;
    total.accepted += more.accepted;
    total.provided += more.provided;
    for (code, n) in &more.refused {
        *total.refused.entry(code.clone()).or_default() += n;
    }
}

#[cfg(test)]
mod tests;

mod connections;
mod declaring;
mod events;
mod solutions;
