//! Pool mining over Stratum v1 and V2: one connection per pool, failover in priority order,
//! and a return to a better pool once it is back. This file holds the source, the sessions,
//! failover and shares; the v1 protocol is `v1.rs` (wire: `protocol.rs`, `transport.rs`), the
//! V2 channel `channel.rs` (wire: `v2.rs`).
//!
//! One manager thread owns every session's state and writing half; each connection has a
//! reader thread that parses lines into events. Solutions (already verified by the mining
//! loop) come in on the same event channel, so a share goes out on the socket one channel
//! hop after verification.
//!
//! Session: `mining.configure` (BIP 310 version rolling, subscribe-extranonce) and
//! `mining.subscribe` (offering the last session id back), then `mining.authorize`
//! (after `mining.suggest_difficulty` when asked for). Jobs from `mining.notify` become
//! [`Work`]; `mining.set_difficulty` and `mining.set_extranonce` apply to the next job.

mod channel;
pub mod protocol;
pub mod transport;
mod v1;
pub mod v2;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chain::hash_meets;
use crate::source::{
    Link, Outcome, OutcomeKind, Running, Solution, SolutionSink, Source, SourceError,
};
use crate::stats::{PoolStats, Stats};
use protocol::{Incoming, Job, ProtocolError, Subscribed};
pub use transport::PoolUrl;
use transport::Writer;

/// What hashrig calls itself in `mining.subscribe` and `client.get_version`.
pub const AGENT: &str = concat!("hashrig/", env!("CARGO_PKG_VERSION"));

/// One pool to mine on.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub url: PoolUrl,
    pub user: String,
    pub password: String,
}

/// How the pool source behaves.
#[derive(Clone, Debug)]
pub struct StratumOptions {
    /// Connecting (TLS included), each handshake answer and each submit answer must come
    /// within this.
    pub answer_timeout: Duration,
    /// A pool that sends no new job for this long is left for the next one.
    pub idle_timeout: Duration,
    /// How often a better pool than the one in use is tried again.
    pub failback: Duration,
    /// Sent as `mining.suggest_difficulty` before authorizing.
    pub suggest_difficulty: Option<f64>,
    /// Follow `client.reconnect` to another host (the same host is always followed).
    pub allow_redirect: bool,
    /// TLS roots for `stratum+ssl` pools.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Stratum V2: the kind of channel to open.
    pub channel: v2::ChannelKind,
    /// Stratum V2: the nominal hash rate to announce first (H/s); measured when not given.
    pub hash_rate: Option<f64>,
    /// Stratum V2: how often the measured rate is compared with the announced one
    /// (UpdateChannel when they differ by 2x).
    pub update_every: Duration,
}

impl Default for StratumOptions {
    fn default() -> Self {
        StratumOptions {
            answer_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            failback: Duration::from_secs(60),
            suggest_difficulty: None,
            allow_redirect: false,
            tls: None,
            channel: v2::ChannelKind::Standard,
            hash_rate: None,
            update_every: Duration::from_secs(60),
        }
    }
}

/// Mines on Stratum v1 pools, in priority order.
pub struct StratumSource {
    pools: Vec<PoolConfig>,
    options: StratumOptions,
}

impl StratumSource {
    pub fn new(pools: Vec<PoolConfig>, options: StratumOptions) -> Self {
        StratumSource { pools, options }
    }
}

impl Source for StratumSource {
    fn describe(&self) -> String {
        match self.pools.as_slice() {
            [] => "no pool".into(),
            [one] => format!("pool {}", one.url),
            [first, rest @ ..] => format!("pool {} (and {} failover)", first.url, rest.len()),
        }
    }

    fn wants_hash_rate(&self) -> bool {
        self.options.hash_rate.is_none() && self.pools.iter().any(|p| p.url.v2.is_some())
    }

    fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError> {
        if self.pools.is_empty() {
            return Err("no pool to mine on".into());
        }
        if self.pools.iter().any(|p| p.url.tls) && self.options.tls.is_none() {
            return Err("a stratum+ssl pool needs a TLS configuration".into());
        }
        link.stats()
            .register_pools(self.pools.iter().map(|p| p.url.to_string()));
        let (tx, rx) = mpsc::channel::<Event>();
        // Solutions go straight into the manager's channel: one hop from the mining loop.
        let (share_tx, close_tx) = (tx.clone(), tx.clone());
        let solutions = SolutionSink::new(
            move |s| {
                share_tx
                    .send(Event::Solution(Box::new(s)))
                    .map_err(|e| match e.0 {
                        Event::Solution(s) => crate::source::SinkError::Closed(s),
                        _ => unreachable!("only solutions are sent here"),
                    })
            },
            move || {
                let _ = close_tx.send(Event::SolutionsClosed);
            },
        );
        let manager = Manager::new(self.pools, self.options, link, tx, rx);
        let manager = std::thread::Builder::new()
            .name("hashrig-pools".into())
            .spawn(move || manager.run())?;
        Ok(Running {
            solutions,
            threads: vec![manager],
        })
    }
}

/// What a solution carries back: whose job it was.
#[derive(Debug)]
struct JobContext {
    pool: usize,
    session: u64,
    job: String,
    difficulty: f64,
    extranonce1: Vec<u8>,
}

/// A session's writing half.
enum Wire {
    V1(Writer),
    V2(v2::V2Writer),
}

impl Wire {
    fn close(&mut self) {
        match self {
            Wire::V1(w) => w.close(),
            Wire::V2(w) => w.close(),
        }
    }
}

enum Event {
    Connected {
        session: u64,
        writer: Wire,
    },
    /// A decoded Stratum V2 message (or why a frame was refused).
    Frame {
        session: u64,
        message: Result<v2::V2In, String>,
    },
    /// A parsed line (or what was wrong with it).
    Line {
        session: u64,
        message: Result<Incoming, ProtocolError>,
    },
    /// The connection could not be made, or ended.
    Closed {
        session: u64,
        reason: String,
    },
    Solution(Box<Solution>),
    SolutionsClosed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connecting,
    Subscribing,
    Authorizing,
    Ready,
}

enum Request {
    Configure,
    Subscribe,
    Authorize,
    Suggest,
    Submit(Submitted),
}

struct Submitted {
    what: String,
    difficulty: f64,
    sent: Instant,
}

/// The latest job of a session, with the session settings it is mined under.
#[derive(Clone)]
struct Current {
    job: Job,
    difficulty: f64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
}

struct Session {
    id: u64,
    pool: usize,
    url: PoolUrl,
    writer: Option<Wire>,
    /// The Stratum V2 channel state (`None` for a v1 session).
    v2: Option<Box<channel::V2Session>>,
    phase: Phase,
    started: Instant,
    next_id: u64,
    requests: HashMap<u64, Request>,
    configure_sent: bool,
    resume_offered: Option<String>,
    rolling_mask: Option<u32>,
    subscribed: Option<Subscribed>,
    /// For the next job.
    difficulty: f64,
    next_extranonce: Option<(Vec<u8>, usize)>,
    /// Jobs the pool has not replaced (oldest first).
    jobs: VecDeque<String>,
    /// A job that came before the subscribe answer.
    early: Vec<Job>,
    current: Option<Current>,
    /// `current` changed since it was last published; `clean` since then.
    dirty: bool,
    clean: bool,
    last_job: Instant,
    bad_lines: u64,
}

impl Session {
    fn send(&mut self, line: &str) -> Result<(), String> {
        match self.writer.as_mut() {
            Some(Wire::V1(w)) => w
                .send(line)
                .map_err(|e| format!("writing to the pool: {e}")),
            Some(Wire::V2(_)) => Err("a v1 message on a v2 session".into()),
            None => Err("not connected".into()),
        }
    }

    /// True once the session has work to mine.
    fn has_work(&self) -> bool {
        self.current.is_some() || self.v2.as_ref().is_some_and(|v| v.active.is_some())
    }

    fn request(&mut self, make: impl FnOnce(u64) -> String, kind: Request) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&make(id))?;
        self.requests.insert(id, kind);
        Ok(())
    }

    fn pending_submits(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r, Request::Submit(_)))
            .count()
    }

    fn close(&mut self) {
        if let Some(mut w) = self.writer.take() {
            w.close();
        }
    }
}

/// What the manager remembers of a pool between sessions.
struct PoolState {
    retry_at: Instant,
    backoff: Duration,
    /// The last session id, offered back on reconnect.
    resume: Option<String>,
    /// The pool closed the connection after `mining.configure`: leave it out next time.
    skip_configure: bool,
    /// Where `client.reconnect` asked to go (used for the next connection).
    redirect: Option<PoolUrl>,
    /// Shares for a session that ended, kept until the pool's next session says whether
    /// it resumed.
    orphans: Vec<Solution>,
    /// A V2 pool whose certificate was not signed by its authority key.
    untrusted: bool,
}

const MAX_BACKOFF: Duration = Duration::from_secs(60);
const MAX_ORPHANS: usize = 10_000;
const MAX_JOBS: usize = 64;
/// How long the source waits at exit for the answers to its last submits.
const EXIT_GRACE: Duration = Duration::from_secs(5);

struct Manager {
    pools: Vec<PoolConfig>,
    options: StratumOptions,
    link: Link,
    stats: Arc<Stats>,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    state: Vec<PoolState>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    /// The session whose work is mined.
    active: Option<u64>,
    /// The next publish must be clean (the pool changed).
    switched: bool,
    last_failback: Instant,
    closing: Option<Instant>,
}

impl Manager {
    fn new(
        pools: Vec<PoolConfig>,
        options: StratumOptions,
        link: Link,
        tx: mpsc::Sender<Event>,
        rx: mpsc::Receiver<Event>,
    ) -> Self {
        let now = Instant::now();
        let state = pools
            .iter()
            .map(|_| PoolState {
                retry_at: now,
                backoff: Duration::ZERO,
                resume: None,
                skip_configure: false,
                redirect: None,
                orphans: Vec::new(),
                untrusted: false,
            })
            .collect();
        Manager {
            stats: Arc::clone(link.stats()),
            pools,
            options,
            link,
            tx,
            rx,
            state,
            sessions: HashMap::new(),
            next_session: 1,
            active: None,
            switched: true,
            last_failback: now,
            closing: None,
        }
    }

    fn pool_stats(&self, pool: usize) -> &PoolStats {
        &self.stats.pools()[pool]
    }

    fn name(&self, pool: usize) -> String {
        format!("pool {pool} {}", self.pools[pool].url)
    }

    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Everything queued first (a flood of notifies publishes only the last job).
            while let Ok(event) = self.rx.try_recv() {
                self.handle(event);
            }
            self.check_timeouts();
            if let Some(since) = self.closing {
                let waiting: usize = self.sessions.values().map(Session::pending_submits).sum();
                if waiting == 0 || since.elapsed() >= EXIT_GRACE {
                    break;
                }
                continue;
            }
            self.publish();
            if !self.link.stopping() {
                self.connect_if_needed();
                self.failback();
                self.v2_housekeeping();
            }
        }
        self.finish();
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Connected { session, writer } => self.connected(session, writer),
            Event::Line { session, message } => match message {
                Ok(m) => self.message(session, m),
                Err(e) => self.bad_line(session, e),
            },
            Event::Frame { session, message } => match message {
                Ok(m) => self.frame(session, m),
                Err(e) => self.fail(session, &e),
            },
            Event::Closed { session, reason } => self.fail(session, &reason),
            Event::Solution(s) => self.solution(*s),
            Event::SolutionsClosed => self.closing = Some(Instant::now()),
        }
    }

    // ---- connections -------------------------------------------------------------------

    /// Starts a session with the best pool that may be tried now, when none is mined or
    /// being connected.
    fn connect_if_needed(&mut self) {
        // Mining, or a session on its way to its first job.
        if self.active.is_some() || self.sessions.values().any(|s| !s.has_work()) {
            return;
        }
        let now = Instant::now();
        if let Some(pool) = (0..self.pools.len()).find(|&p| self.state[p].retry_at <= now) {
            self.open(pool);
        }
    }

    /// Tries a pool better than the one in use, every `failback`.
    fn failback(&mut self) {
        let Some(active) = self.active.and_then(|id| self.sessions.get(&id)) else {
            return;
        };
        let in_use = active.pool;
        if in_use == 0
            || self.last_failback.elapsed() < self.options.failback
            || self.sessions.values().any(|s| s.pool < in_use)
        {
            return;
        }
        self.last_failback = Instant::now();
        let now = Instant::now();
        if let Some(pool) = (0..in_use).find(|&p| self.state[p].retry_at <= now) {
            tracing::info!(
                "trying {} again (a better pool than the one in use)",
                self.name(pool)
            );
            self.open(pool);
        }
    }

    fn open(&mut self, pool: usize) {
        let id = self.next_session;
        self.next_session += 1;
        let url = self.state[pool]
            .redirect
            .take()
            .unwrap_or_else(|| self.pools[pool].url.clone());
        let session = Session {
            id,
            pool,
            url: url.clone(),
            writer: None,
            v2: url
                .v2
                .map(|_| Box::new(channel::V2Session::new(self.options.channel))),
            phase: Phase::Connecting,
            started: Instant::now(),
            next_id: 1,
            requests: HashMap::new(),
            configure_sent: false,
            resume_offered: None,
            rolling_mask: None,
            subscribed: None,
            difficulty: 1.0,
            next_extranonce: None,
            jobs: VecDeque::new(),
            early: Vec::new(),
            current: None,
            dirty: false,
            clean: false,
            last_job: Instant::now(),
            bad_lines: 0,
        };
        self.sessions.insert(id, session);
        let tx = self.tx.clone();
        let tls = self.options.tls.clone();
        let timeout = self.options.answer_timeout;
        let spawned = std::thread::Builder::new()
            .name(format!("hashrig-pool-{pool}"))
            .spawn(move || v1::read_loop(id, &url, tls.as_ref(), timeout, &tx));
        if let Err(e) = spawned {
            self.fail(id, &format!("could not start a thread: {e}"));
        }
    }

    fn connected(&mut self, id: u64, writer: Wire) {
        let Some(s) = self.sessions.get_mut(&id) else {
            let mut writer = writer;
            writer.close();
            return;
        };
        if matches!(writer, Wire::V2(_)) {
            s.writer = Some(writer);
            return self.v2_connected(id);
        }
        s.writer = Some(writer);
        self.v1_connected(id);
    }

    /// Ends session `id` (if it is still there) for `reason`.
    fn fail(&mut self, id: u64, reason: &str) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        s.close();
        let pool = s.pool;
        let name = self.name(pool);
        let was_active = self.active == Some(id);
        let state = &mut self.state[pool];
        // Closed before answering anything: some old pools do that to mining.configure (an
        // unknown method to them). Try once without it; if that dies the same way too, the
        // pool is just flaky and the next try sends it again.
        let unanswered = s.phase == Phase::Subscribing
            && s.requests.values().any(|r| matches!(r, Request::Subscribe));
        if unanswered && (reason.contains("closed") || reason.contains("reset")) {
            state.skip_configure = s.configure_sent;
        }
        state.retry_at = Instant::now() + state.backoff;
        state.backoff = (state.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        if reason.starts_with("the pool refused the login") {
            state.retry_at = state.retry_at.max(Instant::now() + Duration::from_secs(30));
        }
        // A V2 pool whose certificate does not check out: not trusted; when no pool can be
        // trusted, the run ends (a wrong key in the URL is the user's to fix).
        if reason.starts_with(v2::UNTRUSTED) {
            state.untrusted = true;
            state.retry_at = state.retry_at.max(Instant::now() + Duration::from_secs(60));
        }
        let retry = state.retry_at.saturating_duration_since(Instant::now());
        crate::elog!(
            "{name}: {reason}; {}",
            if retry.is_zero() {
                "reconnecting".to_string()
            } else {
                format!("retrying in {:.0} s", retry.as_secs_f64().ceil())
            }
        );
        for (_, request) in s.requests.drain() {
            if let Request::Submit(sub) = request {
                Stats::add(&self.stats.pools()[pool].unanswered, 1);
                self.link.outcome(Outcome {
                    what: sub.what,
                    kind: OutcomeKind::Unanswered(
                        "the connection ended before the pool answered".into(),
                    ),
                    block: false,
                    quiet: false,
                });
            }
        }
        if self.state.iter().all(|p| p.untrusted) {
            self.link
                .fatal(format!("no pool can be trusted: {name}: {reason}").into());
        }
        if was_active {
            self.active = None;
            self.switched = true;
            let p = self.pool_stats(pool);
            p.in_use.store(false, Ordering::Relaxed);
            Stats::add(&p.failovers, 1);
            self.link.withdraw();
            // Another ready session with work takes over at once.
            self.promote_best();
        }
    }

    fn check_timeouts(&mut self) {
        let now = Instant::now();
        let answer = self.options.answer_timeout;
        let idle = self.options.idle_timeout;
        let mut failed = Vec::new();
        let mut late = Vec::new();
        for s in self.sessions.values_mut() {
            if s.phase < Phase::Ready && now.duration_since(s.started) > answer {
                let what = match s.phase {
                    Phase::Connecting => "connect",
                    Phase::Subscribing => "answer mining.subscribe",
                    _ => "answer mining.authorize",
                };
                failed.push((
                    s.id,
                    format!("the pool did not {what} within {} s", answer.as_secs_f64()),
                ));
            } else if s.phase == Phase::Ready && now.duration_since(s.last_job) > idle {
                failed.push((
                    s.id,
                    format!("no new job from the pool for {} s", idle.as_secs_f64()),
                ));
            }
            // A V2 pool acknowledges shares in batches (SubmitShares.Success covers every
            // sequence number up to its last): its submits wait for the batch, or the end of
            // the connection.
            let batched = s.v2.is_some();
            let overdue: Vec<u64> = s
                .requests
                .iter()
                .filter_map(|(id, r)| match r {
                    Request::Submit(sub) if !batched && now.duration_since(sub.sent) > answer => {
                        Some(*id)
                    }
                    _ => None,
                })
                .collect();
            for id in overdue {
                if let Some(Request::Submit(sub)) = s.requests.remove(&id) {
                    late.push((s.pool, sub));
                }
            }
        }
        for (pool, sub) in late {
            Stats::add(&self.pool_stats(pool).unanswered, 1);
            self.link.outcome(Outcome {
                what: sub.what,
                kind: OutcomeKind::Unanswered(format!(
                    "the pool did not answer within {} s (not resent)",
                    answer.as_secs_f64()
                )),
                block: false,
                quiet: false,
            });
        }
        for (id, reason) in failed {
            self.fail(id, &reason);
        }
    }

    fn reconnect(&mut self, id: u64, host: Option<String>, port: Option<u16>, wait: u64) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let pool = s.pool;
        let name = self.name(pool);
        let mut url = s.url.clone();
        match host {
            Some(h) if !h.eq_ignore_ascii_case(&url.host) => {
                if !self.options.allow_redirect {
                    crate::elog!(
                        "{name}: ignored client.reconnect to another host {:?} (give --pool-redirect to follow it)",
                        protocol::clip(&h, 100)
                    );
                    return;
                }
                url.host = h;
            }
            _ => {}
        }
        if let Some(p) = port {
            url.port = p;
        }
        crate::elog!("{name}: the pool asked to reconnect to {url} in {wait} s");
        let state = &mut self.state[pool];
        state.redirect = Some(url);
        let backoff = state.backoff;
        self.fail(id, "the pool asked to reconnect");
        let state = &mut self.state[pool];
        state.retry_at = Instant::now() + Duration::from_secs(wait);
        state.backoff = backoff;
    }

    /// Makes the best ready session with work the one mined, if it is better than the one
    /// in use; the one it replaces is closed once its last submits are answered.
    fn promote_best(&mut self) {
        let best = self
            .sessions
            .values()
            .filter(|s| s.phase == Phase::Ready && s.has_work())
            .min_by_key(|s| s.pool)
            .map(|s| (s.id, s.pool));
        let Some((id, pool)) = best else {
            return;
        };
        let current_pool = self
            .active
            .and_then(|a| self.sessions.get(&a))
            .map(|s| s.pool);
        if self.active == Some(id) || current_pool.is_some_and(|p| p <= pool) {
            return;
        }
        if let Some(old) = self.active.and_then(|a| self.sessions.get(&a)) {
            let old_pool = old.pool;
            crate::elog!("leaving {} for a better pool", self.name(old_pool));
            let p = self.pool_stats(old_pool);
            p.in_use.store(false, Ordering::Relaxed);
            Stats::add(&p.failovers, 1);
        }
        // The one left: closed when its answers are in (see `publish`).
        self.active = Some(id);
        self.switched = true;
        self.pool_stats(pool).in_use.store(true, Ordering::Relaxed);
        crate::elog!("mining on {}", self.name(pool));
        if let Some(s) = self.sessions.get_mut(&id) {
            s.dirty = true;
        }
    }

    /// Publishes the active session's job when it changed; closes sessions left behind.
    fn publish(&mut self) {
        let active = self.active;
        let active_pool = active.and_then(|id| self.sessions.get(&id)).map(|s| s.pool);
        // Sessions left behind (not the better pools being tried), once answered.
        let left: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| Some(s.id) != active && active_pool.is_some_and(|p| s.pool >= p))
            .filter(|s| s.pending_submits() == 0)
            .map(|s| s.id)
            .collect();
        for id in left {
            if let Some(mut s) = self.sessions.remove(&id) {
                tracing::info!("closing the session with {}", self.name(s.pool));
                s.close();
            }
        }
        let Some(s) = active.and_then(|id| self.sessions.get_mut(&id)) else {
            return;
        };
        if !s.dirty {
            return;
        }
        let clean = s.clean || self.switched;
        let work = match &s.v2 {
            Some(v) => v.work(s.pool, s.id, clean),
            None => s.current.clone().map(|c| v1::make_work(s, &c, clean)),
        };
        let Some((work, difficulty)) = work else {
            return;
        };
        s.dirty = false;
        s.clean = false;
        self.switched = false;
        self.stats.pools()[s.pool].set_difficulty(difficulty);
        self.link.work(work);
    }

    // ---- shares ------------------------------------------------------------------------

    fn solution(&mut self, solution: Solution) {
        let Some(ctx) = context(&solution) else {
            tracing::warn!("a solution without a pool job context was dropped");
            return;
        };
        let (pool, session) = (ctx.pool, ctx.session);
        let candidate =
            hash_meets(&solution.share.digest, &solution.work.block_target()).then(|| {
                (
                    solution.share.hash_hex(),
                    ctx.job.clone(),
                    solution.share.header,
                )
            });
        let ready = self
            .sessions
            .get(&session)
            .is_some_and(|s| s.phase == Phase::Ready && s.writer.is_some());
        if ready {
            self.submit(session, solution, false);
        } else if self.state[pool].orphans.len() < MAX_ORPHANS {
            self.state[pool].orphans.push(solution);
        } else {
            self.stale(
                pool,
                &solution,
                "the pool is away and too many shares wait for it",
            );
        }
        // Logged after the share is on its way.
        if let Some((hash, job, header)) = candidate {
            Stats::add(&self.pool_stats(pool).block_candidates, 1);
            crate::elog!(
                "block candidate: share {hash} of job {job} on {} also meets the network target (the pool submits the block); header {header}",
                self.name(pool),
            );
        }
    }

    /// Sends `solution` on `session`; `resumed` for a share of the session this one
    /// resumed (its job may still be valid at the pool).
    fn submit(&mut self, session: u64, solution: Solution, resumed: bool) {
        if context(&solution).is_none() {
            return;
        }
        if self.sessions.get(&session).is_some_and(|s| s.v2.is_some()) {
            return self.v2_submit(session, solution, resumed);
        }
        self.v1_submit(session, solution, resumed);
    }

    fn stale(&self, pool: usize, solution: &Solution, reason: &str) {
        Stats::add(&self.pool_stats(pool).stale, 1);
        let job = context(solution).map(|c| c.job.clone()).unwrap_or_default();
        self.link.outcome(Outcome {
            what: format!(
                "share {} (job {job}, pool {pool})",
                &solution.share.hash_hex()[..16]
            ),
            kind: OutcomeKind::Stale(format!("not sent: {reason}")),
            block: false,
            quiet: false,
        });
    }

    /// Shares found while the pool's last session was ending: sent on the new session if
    /// it resumed the old one (same extranonce1), stale otherwise.
    fn resend_orphans(&mut self, session: u64) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let pool = s.pool;
        let orphans = std::mem::take(&mut self.state[pool].orphans);
        for o in orphans {
            self.submit(session, o, true);
        }
    }

    fn finish(&mut self) {
        for (_, mut s) in self.sessions.drain() {
            s.close();
            for (_, r) in s.requests.drain() {
                if let Request::Submit(sub) = r {
                    Stats::add(&self.stats.pools()[s.pool].unanswered, 1);
                    self.link.outcome(Outcome {
                        what: sub.what,
                        kind: OutcomeKind::Unanswered(
                            "the run ended before the pool answered".into(),
                        ),
                        block: false,
                        quiet: false,
                    });
                }
            }
        }
        for pool in 0..self.pools.len() {
            for o in std::mem::take(&mut self.state[pool].orphans) {
                self.stale(pool, &o, "the pool was away until the run ended");
            }
            self.pool_stats(pool).in_use.store(false, Ordering::Relaxed);
        }
    }
}

fn context(solution: &Solution) -> Option<&JobContext> {
    solution.work.context.as_ref()?.downcast_ref::<JobContext>()
}
