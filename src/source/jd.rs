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

    // ---- events ------------------------------------------------------------------------

    /// Handles `event`; a panic while doing so (a bug hostile input found) ends the pool and
    /// JDS sessions (mining falls back to solo and reconnects), never the miner.
    fn guarded(&mut self, event: Event, submit: &SyncSender<ToSubmit>) {
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(event, submit)));
        if handled.is_err() {
            crate::elog!("error: an internal error while handling the pool's or the JDS's input (a bug: please report it); both sessions are dropped");
            let now = Instant::now();
            self.pool_down("internal error".into(), now);
            self.jd_down("internal error".into(), now);
        }
    }

    fn handle(&mut self, event: Event, submit: &SyncSender<ToSubmit>) {
        let now = Instant::now();
        match event {
            Event::Connected { session, conn } => {
                if let Some(p) = self.pool.as_mut().filter(|p| p.id == session) {
                    p.conn = Some(conn);
                    p.channel.connected(now);
                    self.apply_pool(now);
                } else if let Some(j) = self.jd.as_mut().filter(|j| j.id == session) {
                    j.conn = Some(conn);
                    j.session.connected(now);
                    self.apply_jd(now);
                } else {
                    conn.close();
                }
            }
            Event::Input { session, input } => {
                if let Some(p) = self.pool.as_mut().filter(|p| p.id == session) {
                    match input {
                        Input::Frame(f) => p.channel.frame(f, now),
                        Input::Line(_) => p
                            .channel
                            .frame(Err(v2::FrameError("a Stratum v1 line".into())), now),
                    }
                    self.apply_pool(now);
                } else if let Some(j) = self.jd.as_mut().filter(|j| j.id == session) {
                    match input {
                        Input::Frame(f) => j.session.frame(f, now),
                        Input::Line(_) => j
                            .session
                            .frame(Err(v2::FrameError("a Stratum v1 line".into())), now),
                    }
                    self.apply_jd(now);
                }
            }
            Event::Closed { session, error } => {
                if self.pool.as_ref().is_some_and(|p| p.id == session) {
                    self.pool_down(error.to_string(), now);
                } else if self.jd.as_ref().is_some_and(|j| j.id == session) {
                    self.jd_down(error.to_string(), now);
                }
            }
            Event::Solution(s) => self.solution(*s, submit),
            Event::SolutionsClosed => self.closing = Some(now),
        }
    }

    /// Carries out the pool channel's actions.
    fn apply_pool(&mut self, now: Instant) {
        loop {
            let Some(p) = self.pool.as_mut() else {
                return;
            };
            let actions = p.channel.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                if !self.pool_action(action, now) {
                    return;
                }
            }
        }
    }

    /// One action of the pool channel; false once the channel has ended.
    fn pool_action(&mut self, action: Action, now: Instant) -> bool {
        let Some(p) = self.pool.as_mut() else {
            return false;
        };
        match action {
            Action::Send(m) => {
                let sent = match &p.conn {
                    Some(c) => c.send(m),
                    None => Err(StratumError::Closed),
                };
                if let Err(e) = sent {
                    self.pool_down(e.to_string(), now);
                    return false;
                }
            }
            Action::Work => self.dirty = true,
            Action::Ready => {
                self.pool_retry.reset();
                self.pool_reason = None;
                let ps = &self.stats.pools()[0];
                Stats::add(&ps.connects, 1);
                ps.connected.store(true, Ordering::Relaxed);
                crate::elog!("{}: custom-work channel open", self.pool_name());
                // The channel's extranonce size is known now: declare.
                self.declared_seq = 0;
            }
            Action::Subscribed { .. } => {}
            Action::Share {
                what,
                difficulty,
                result,
            } => self.share(what, difficulty, result),
            Action::Log { warn, text } => {
                if warn {
                    crate::elog!("{}: {text}", self.pool_name());
                } else {
                    tracing::info!("{}: {text}", self.pool_name());
                }
            }
            Action::CustomJobRefused { code } => {
                self.status.custom_refused += 1;
                if code == "invalid-mining-job-token" && self.token_retries < TOKEN_RETRIES {
                    // The token expired before the pool saw it: a new declaration, a new token.
                    self.token_retries += 1;
                    crate::elog!(
                        "{}: the pool refused the custom job's token ({code}); declaring again",
                        self.pool_name()
                    );
                    self.declared_seq = 0;
                } else {
                    self.refusal = Some(format!("the pool refused our custom job: {code}"));
                }
            }
            Action::Reconnect { after, .. } => {
                self.pool_down("the pool asked to reconnect".into(), now);
                self.pool_retry.at = Some(now + after);
                return false;
            }
            Action::Close(e) => {
                self.pool_down(e.to_string(), now);
                return false;
            }
        }
        true
    }

    fn share(&self, what: String, difficulty: f64, result: ShareResult) {
        result.report(&self.stats.pools()[0], &self.link, what, difficulty);
    }

    /// Carries out the JD session's actions.
    fn apply_jd(&mut self, now: Instant) {
        loop {
            let Some(j) = self.jd.as_mut() else {
                return;
            };
            let actions = j.session.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                if !self.jd_action(action, now) {
                    return;
                }
            }
        }
    }

    fn jd_action(&mut self, action: JdAction, now: Instant) -> bool {
        let Some(j) = self.jd.as_mut() else {
            return false;
        };
        match action {
            JdAction::Send(m) => {
                let sent = match &j.conn {
                    Some(c) => c.send(Outgoing::V2(m)),
                    None => Err(StratumError::Closed),
                };
                if let Err(e) = sent {
                    self.jd_down(e.to_string(), now);
                    return false;
                }
            }
            JdAction::Accepted { declared, token } => {
                self.refusal = None;
                self.stale_retries = 0;
                // A declaration overtaken by a new block is not set (its work is stale).
                let newest = self.shared.latest().1;
                if newest.is_some_and(|t| t.prev_hash != declared.template.prev_hash) {
                    tracing::info!(
                        "the JDS accepted the job for block {}, which a newer block replaced",
                        declared.template.height
                    );
                    return true;
                }
                match self
                    .pool
                    .as_mut()
                    .filter(|p| p.channel.phase() == Phase::Ready)
                {
                    Some(p) => {
                        p.channel.set_custom_job(declared, &token, now);
                        self.apply_pool(now);
                    }
                    None => tracing::info!(
                        "the JDS accepted the job for block {}, but the pool is not connected",
                        declared.template.height
                    ),
                }
            }
            JdAction::Refused {
                declared,
                code,
                retry,
            } => {
                if retry {
                    let wait =
                        (STALE_RETRY * 2u32.saturating_pow(self.stale_retries)).min(MAX_BACKOFF);
                    self.stale_retries = (self.stale_retries + 1).min(16);
                    self.redeclare_at = Some(now + wait);
                } else {
                    self.refusal = Some(format!(
                        "the JDS refused the job for block {}: {code}",
                        declared.template.height
                    ));
                }
            }
            JdAction::Log { warn, text } => {
                if warn {
                    crate::elog!("JDS {}: {text}", self.jds_url);
                } else {
                    tracing::info!("JDS {}: {text}", self.jds_url);
                }
            }
            JdAction::Down(reason) => {
                self.jd_down(reason, now);
                return false;
            }
        }
        true
    }

    // ---- connections -------------------------------------------------------------------

    fn connect(&mut self, now: Instant) {
        if self.pool.is_none() && self.pool_retry.due(now) {
            let id = self.next_id;
            self.next_id += 1;
            let url = self.pool_cfg.url.clone();
            let channel = v2::Channel::new(
                v2::channel::Config {
                    session: id,
                    pool: 0,
                    user: self.pool_cfg.user.clone(),
                    kind: v2::ChannelKind::Custom,
                    host: url.host.clone(),
                    port: url.port,
                    hash_rate: self.nominal_rate(),
                    answer_timeout: self.options.answer_timeout,
                    idle_timeout: self.options.idle_timeout,
                    update_every: self.options.update_every,
                },
                now,
            );
            self.pool = Some(PoolLive {
                id,
                channel,
                conn: None,
            });
            self.dial(id, url, now);
        }
        if self.jd.is_none() && self.jd_retry.due(now) {
            let id = self.next_id;
            self.next_id += 1;
            let url = self.jds_url.clone();
            let session = JdSession::new(JdConfig {
                host: url.host.clone(),
                port: url.port,
                user: self.pool_cfg.user.clone(),
                answer_timeout: self.options.answer_timeout,
            });
            self.jd = Some(JdLive {
                id,
                session,
                conn: None,
            });
            self.dial(id, url, now);
        }
    }

    fn dial(&mut self, session: u64, url: PoolUrl, now: Instant) {
        let dial = Dial {
            session,
            url,
            tls: None,
            timeout: self.options.answer_timeout,
        };
        if let Err(e) = driver::spawn(dial, self.events.clone()) {
            if self.pool.as_ref().is_some_and(|p| p.id == session) {
                self.pool_down(e.to_string(), now);
            } else {
                self.jd_down(e.to_string(), now);
            }
        }
    }

    /// The hash rate to announce to the pool (as the pool source does).
    fn nominal_rate(&self) -> f64 {
        if let Some(h) = self.options.hash_rate {
            return h;
        }
        let up = self.stats.uptime().as_secs_f64();
        let measured = self.stats.hashes() as f64 / up.max(1e-9);
        if up > 5.0 && measured > 0.0 {
            measured
        } else if self.stats.nominal() > 0.0 {
            self.stats.nominal()
        } else {
            1e8 * self.stats.backends.len().max(1) as f64
        }
    }

    fn pool_down(&mut self, reason: String, now: Instant) {
        let Some(mut p) = self.pool.take() else {
            return;
        };
        if let Some(c) = p.conn.take() {
            c.close();
        }
        p.channel
            .close("the pool connection ended before it answered");
        for action in p.channel.take_actions() {
            if let Action::Share {
                what,
                difficulty,
                result,
            } = action
            {
                self.share(what, difficulty, result);
            }
        }
        let ps = &self.stats.pools()[0];
        ps.connected.store(false, Ordering::Relaxed);
        let wait = self.pool_retry.failed(now);
        crate::elog!(
            "{}: {}; retrying in {} s",
            self.pool_name(),
            clip(&reason, 200),
            wait.as_secs()
        );
        self.pool_reason = Some(format!("the pool is away: {}", clip(&reason, 120)));
        self.dirty = false;
        self.declared_seq = 0;
        self.past_custom += p.channel.custom_jobs_taken();
    }

    fn jd_down(&mut self, reason: String, now: Instant) {
        let Some(mut j) = self.jd.take() else {
            return;
        };
        if let Some(c) = j.conn.take() {
            c.close();
        }
        add_counts(&mut self.past, j.session.counts());
        let wait = self.jd_retry.failed(now);
        crate::elog!(
            "JDS {}: {}; retrying in {} s",
            self.jds_url,
            clip(&reason, 200),
            wait.as_secs()
        );
        self.jd_reason = Some(format!("the JDS is away: {}", clip(&reason, 120)));
        self.declared_seq = 0;
    }

    // ---- declaring ---------------------------------------------------------------------

    /// Gives the JD session the newest template when it is new (or must be declared again).
    fn declare_if_new(&mut self, now: Instant) {
        let (seq, latest) = self.shared.latest();
        let Some(template) = latest else {
            return;
        };
        let again = self.redeclare_at.is_some_and(|t| now >= t);
        if seq == self.declared_seq && !again {
            return;
        }
        if self.refusal.is_some() && seq == self.refused_seq && !again {
            return;
        }
        let Some(size) = self
            .pool
            .as_ref()
            .filter(|p| p.channel.phase() == Phase::Ready)
            .and_then(|p| p.channel.full_extranonce_size())
        else {
            return;
        };
        let Some(j) = self
            .jd
            .as_mut()
            .filter(|j| j.session.phase() == JdPhase::Ready)
        else {
            return;
        };
        if seq != self.refused_seq {
            // A new template: whatever was refused before does not hold for it.
            self.refusal = None;
        }
        self.declared_seq = seq;
        self.refused_seq = seq;
        self.redeclare_at = None;
        j.session.template(template, size, now);
        self.apply_jd(now);
    }

    /// The pool's current job, when it is on the newest template's previous block.
    fn pool_job_current(&self) -> bool {
        let Some(p) = &self.pool else {
            return false;
        };
        if p.channel.phase() != Phase::Ready || !p.channel.has_work() {
            return false;
        }
        let Some(template) = self.shared.latest().1 else {
            return false;
        };
        p.channel
            .work(false)
            .is_some_and(|(w, _)| w.prev_hash == template.prev_hash)
    }

    /// Why the pool's job cannot be mined now, if anything but a declaration in flight.
    fn trouble(&self) -> Option<String> {
        self.pool_reason
            .clone()
            .or_else(|| self.jd_reason.clone())
            .or_else(|| self.refusal.clone())
    }

    /// Decides what is mined, publishes it when it changed, and says so in one line.
    fn choose(&mut self) {
        if self
            .jd
            .as_ref()
            .is_some_and(|j| j.session.phase() == JdPhase::Ready)
            && self.jd_reason.is_some()
        {
            self.jd_reason = None;
            self.jd_retry.reset();
        }
        let now = Instant::now();
        let trouble = self.trouble();
        let next = match trouble {
            None if self.pool_job_current() => Mode::Declared,
            _ if self.shared.latest().1.is_none() => Mode::Starting,
            None => Mode::Pending,
            Some(why) => Mode::Fallback(why),
        };
        if next != self.mode {
            self.announce(&next);
            let was_declared = self.mode == Mode::Declared;
            self.mode = next.clone();
            match next {
                Mode::Declared => {
                    self.token_retries = 0;
                    self.ever_declared = true;
                    if let Err(e) = self.shared.set_solo(false, false) {
                        crate::elog!("error: {e}");
                    }
                    self.dirty = true;
                    self.switched = true;
                }
                Mode::Pending => {
                    // The work mined so far is on an older block (or nothing is mined yet):
                    // wait a moment for the pool's job rather than mine our template solo.
                    self.pending_since = now;
                    self.pending_solo = false;
                    if let Err(e) = self.shared.set_solo(false, false) {
                        crate::elog!("error: {e}");
                    }
                    if was_declared {
                        self.link.withdraw();
                    }
                }
                Mode::Fallback(_) => {
                    if let Err(e) = self.shared.set_solo(true, true) {
                        crate::elog!("error: {e}");
                    }
                }
                Mode::Starting => {}
            }
            self.stats.pools()[0]
                .in_use
                .store(self.mode == Mode::Declared, Ordering::Relaxed);
        }
        // A declaration that takes long: our template is mined solo until the pool's job comes
        // (the first one may take the whole answer timeout: connections, token, transactions).
        let grace = if self.ever_declared {
            PENDING_IDLE
        } else {
            self.options.answer_timeout
        };
        if self.mode == Mode::Pending
            && !self.pending_solo
            && now.saturating_duration_since(self.pending_since) >= grace
        {
            self.pending_solo = true;
            tracing::info!(
                "job declaration: no job of ours on the pool after {:.1} s; mining our template solo meanwhile",
                grace.as_secs_f64()
            );
            if let Err(e) = self.shared.set_solo(true, true) {
                crate::elog!("error: {e}");
            }
        }
        if self.mode == Mode::Declared && self.dirty {
            if let Some(p) = self.pool.as_mut() {
                let clean = p.channel.take_clean() || self.switched;
                if let Some((work, difficulty)) = p.channel.work(clean) {
                    self.dirty = false;
                    self.switched = false;
                    self.stats.pools()[0].set_difficulty(difficulty);
                    self.link.work(work);
                }
            }
        }
    }

    fn announce(&mut self, next: &Mode) {
        match (next, &self.mode) {
            (Mode::Declared, _) if !self.ever_declared || self.fell_back => {
                self.fell_back = false;
                crate::elog!(
                    "job declaration: mining our own template on {} (the pool pays; JDS {})",
                    self.pool_name(),
                    self.jds_url
                );
            }
            (Mode::Fallback(why), Mode::Fallback(_)) => {
                tracing::info!("job declaration: still solo: {why}");
            }
            (Mode::Fallback(why), _) => {
                self.status.fallbacks += 1;
                self.fell_back = true;
                crate::elog!(
                    "job declaration: mining solo on the node with the fallback payout: {why}"
                );
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: Instant) {
        let hashes = self.stats.hashes();
        if let Some(p) = self.pool.as_mut() {
            p.channel.tick(now, hashes);
            self.apply_pool(now);
        }
        if let Some(j) = self.jd.as_mut() {
            j.session.tick(now);
            self.apply_jd(now);
        }
    }

    fn publish_status(&mut self) {
        let mut counts = self.past.clone();
        if let Some(j) = &self.jd {
            add_counts(&mut counts, j.session.counts());
        }
        let s = &mut self.status;
        s.declared = counts.declared;
        s.accepted = counts.accepted;
        s.refused = counts.refused;
        s.provided = counts.provided;
        let (state, reason) = match &self.mode {
            Mode::Declared => ("declared", String::new()),
            Mode::Pending | Mode::Starting => ("pending", String::new()),
            Mode::Fallback(why) => ("fallback", why.clone()),
        };
        s.state = state;
        s.reason = reason;
        s.custom_jobs = self.past_custom
            + self
                .pool
                .as_ref()
                .map_or(0, |p| p.channel.custom_jobs_taken());
        s.height = match self.mode {
            Mode::Declared => self.shared.latest().1.map_or(0, |t| t.height),
            _ => 0,
        };
        self.stats.set_jd(self.status.clone());
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

mod solutions;
