//! The coordinator over pool sessions: failover in priority order, failback to a better pool,
//! reconnects with a floor and a backoff, shares routed to the session of their job, and
//! every session's [`Action`]s carried out. One thread; it never touches a socket (each
//! connection's driver does) and never waits on a pool.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::{self, Conn, Dial, Event};
use super::error::StratumError;
use super::session::{Action, Phase, Session, ShareResult};
use super::transport::PoolUrl;
use super::{context, v1, v2, PoolConfig, StratumOptions};
use crate::chain::hash_meets;
use crate::source::{Link, Solution};
use crate::stats::{PoolStats, Stats};
use crate::ui::output::clip;

/// The longest wait between tries of a pool.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Connection attempts to one pool are at least this far apart, whatever the pool asks
/// (`client.reconnect` with wait 0, a close right after login).
const MIN_RECONNECT: Duration = Duration::from_secs(1);
/// A session that was logged in this long ended normally: its pool's backoff starts afresh.
/// (A login alone does not reset it: a pool that drops every session right after login is
/// retried ever more slowly.)
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Shares kept for a pool that is away (sent if its next session resumes the old one).
const MAX_ORPHANS: usize = 256;
/// How long the source waits at exit for the answers to its last submits (the mining loop
/// gives it 1.5 s in all).
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// Events handled in a row before the housekeeping (publish, timers) runs.
const BATCH: usize = 256;

/// What the coordinator remembers of a pool between sessions.
struct PoolState {
    retry_at: Instant,
    backoff: Duration,
    /// When a connection to it was last started.
    last_attempt: Option<Instant>,
    /// The last session id (v1), offered back on reconnect.
    resume: Option<String>,
    /// The pool closed the connection after `mining.configure`: leave it out next time.
    skip_configure: bool,
    /// Where `client.reconnect` asked to go (used for the next connection).
    redirect: Option<PoolUrl>,
    /// Shares for a session that ended (oldest first), until the next session says whether
    /// it resumed the old one.
    orphans: VecDeque<Solution>,
    /// A V2 pool whose certificate was not signed by its authority key.
    untrusted: bool,
}

/// A session and its connection.
struct Live {
    session: Session,
    conn: Option<Conn>,
    pool: usize,
    url: PoolUrl,
    /// When it logged in.
    ready_at: Option<Instant>,
    /// Its work changed since it was last published.
    dirty: bool,
}

/// The coordinator.
pub(super) struct Pools {
    pools: Vec<PoolConfig>,
    options: StratumOptions,
    link: Link,
    stats: Arc<Stats>,
    events: SyncSender<Event>,
    rx: Receiver<Event>,
    state: Vec<PoolState>,
    sessions: HashMap<u64, Live>,
    next_session: u64,
    /// The session whose work is mined.
    active: Option<u64>,
    /// The next publish must be clean (the pool changed).
    switched: bool,
    last_failback: Instant,
    closing: Option<Instant>,
    /// Set when the mining loop hands over no more solutions (the run is ending).
    solutions_closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Pools {
    pub(super) fn new(
        pools: Vec<PoolConfig>,
        options: StratumOptions,
        link: Link,
        events: SyncSender<Event>,
        rx: Receiver<Event>,
        solutions_closed: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let now = Instant::now();
        let state = pools
            .iter()
            .map(|_| PoolState {
                retry_at: now,
                backoff: Duration::ZERO,
                last_attempt: None,
                resume: None,
                skip_configure: false,
                redirect: None,
                orphans: VecDeque::new(),
                untrusted: false,
            })
            .collect();
        Pools {
            stats: Arc::clone(link.stats()),
            pools,
            options,
            link,
            events,
            rx,
            state,
            sessions: HashMap::new(),
            next_session: 1,
            active: None,
            switched: true,
            last_failback: now,
            closing: None,
            solutions_closed,
        }
    }

    fn pool_stats(&self, pool: usize) -> &PoolStats {
        &self.stats.pools()[pool]
    }

    fn name(&self, pool: usize) -> String {
        format!("pool {pool} {}", self.pools[pool].url)
    }

    pub(super) fn run(mut self) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => self.guarded(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // What is queued first (a flood of notifies publishes only the last job), a
            // batch at a time so that the timers still run under a flood.
            for _ in 0..BATCH {
                match self.rx.try_recv() {
                    Ok(event) => self.guarded(event),
                    Err(_) => break,
                }
            }
            self.tick();
            if self.closing.is_none() && self.solutions_closed.load(Ordering::Acquire) {
                self.closing = Some(Instant::now());
            }
            if let Some(since) = self.closing {
                let waiting: usize = self.sessions.values().map(|l| l.session.pending()).sum();
                if waiting == 0 || since.elapsed() >= EXIT_GRACE {
                    break;
                }
                continue;
            }
            self.publish();
            if !self.link.stopping() {
                self.connect_if_needed();
                self.failback();
            }
        }
        self.finish();
    }

    /// Handles `event`; a panic while doing so (a bug hostile input found) ends only the
    /// session it came from, never the miner.
    fn guarded(&mut self, event: Event) {
        let session = match &event {
            Event::Connected { session, .. }
            | Event::Input { session, .. }
            | Event::Closed { session, .. } => Some(*session),
            _ => None,
        };
        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(event)));
        if handled.is_err() {
            crate::elog!("error: an internal error while handling a pool's input (a bug: please report it); the session is dropped");
            if let Some(id) = session {
                self.fail(
                    id,
                    StratumError::Protocol(super::v1::protocol::ProtocolError(
                        "internal error".into(),
                    )),
                );
            }
        }
    }

    fn handle(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Connected { session, conn } => {
                let Some(live) = self.sessions.get_mut(&session) else {
                    return conn.close();
                };
                live.conn = Some(conn);
                live.session.connected(now);
                self.apply(session);
            }
            Event::Input { session, input } => {
                let Some(live) = self.sessions.get_mut(&session) else {
                    return;
                };
                live.session.input(input, now);
                self.apply(session);
            }
            Event::Closed { session, error } => self.fail(session, error),
            Event::Solution(s) => self.solution(*s),
            Event::SolutionsClosed => self.closing = Some(now),
        }
    }

    /// Carries out what session `id` asked for.
    fn apply(&mut self, id: u64) {
        loop {
            let Some(live) = self.sessions.get_mut(&id) else {
                return;
            };
            let actions = live.session.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                if !self.act(id, action) {
                    return;
                }
            }
        }
    }

    /// One action of session `id`; false once the session has ended.
    fn act(&mut self, id: u64, action: Action) -> bool {
        let Some(live) = self.sessions.get_mut(&id) else {
            return false;
        };
        let pool = live.pool;
        match action {
            Action::Send(message) => {
                let sent = match &live.conn {
                    Some(conn) => conn.send(message),
                    None => Err(StratumError::Closed),
                };
                if let Err(e) = sent {
                    self.fail(id, e);
                    return false;
                }
            }
            Action::Work => {
                live.dirty = true;
                // A better pool's first job (failback) takes over.
                if self.active != Some(id) && live.session.phase() == Phase::Ready {
                    self.promote_best();
                }
            }
            Action::Ready => {
                live.ready_at = Some(Instant::now());
                Stats::add(&self.pool_stats(pool).connects, 1);
                self.pool_stats(pool)
                    .connected
                    .store(true, Ordering::Relaxed);
                self.state[pool].untrusted = false;
                self.resend_orphans(id);
                self.promote_best();
            }
            Action::Subscribed { resume } => self.state[pool].resume = resume,
            Action::Share {
                what,
                difficulty,
                result,
            } => self.share(pool, what, difficulty, result),
            Action::Log { warn, text } => {
                if warn {
                    crate::elog!("{}: {text}", self.name(pool));
                } else {
                    tracing::info!("{}: {text}", self.name(pool));
                }
            }
            // Pools here send their own jobs; only a job declaration client sets custom ones.
            Action::CustomJobRefused { code } => {
                crate::elog!("{}: the pool refused a custom job: {code}", self.name(pool));
            }
            Action::Reconnect { to, after } => {
                self.reconnect(id, to, after);
                return false;
            }
            Action::Close(e) => {
                self.fail(id, e);
                return false;
            }
        }
        true
    }

    /// A share's fate: the pool's counters and the mining loop.
    fn share(&self, pool: usize, what: String, difficulty: f64, result: ShareResult) {
        result.report(self.pool_stats(pool), &self.link, what, difficulty);
    }

    // ---- connections -------------------------------------------------------------------

    /// Starts a session with the best pool that may be tried now, when none is mined or
    /// being connected.
    fn connect_if_needed(&mut self) {
        if self.active.is_some() || self.sessions.values().any(|l| !l.session.has_work()) {
            return;
        }
        let now = Instant::now();
        if let Some(pool) = (0..self.pools.len()).find(|&p| self.state[p].retry_at <= now) {
            self.open(pool);
        }
    }

    /// Tries a pool better than the one in use, every `failback`.
    fn failback(&mut self) {
        let Some(in_use) = self
            .active
            .and_then(|id| self.sessions.get(&id))
            .map(|l| l.pool)
        else {
            return;
        };
        if in_use == 0
            || self.last_failback.elapsed() < self.options.failback
            || self.sessions.values().any(|l| l.pool < in_use)
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

    /// The hash rate to announce to a V2 pool: the flag, the rate measured so far, or a guess.
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
            // A guess; UpdateChannel corrects it.
            1e8 * self.stats.backends.len().max(1) as f64
        }
    }

    fn open(&mut self, pool: usize) {
        let id = self.next_session;
        self.next_session += 1;
        let now = Instant::now();
        let state = &mut self.state[pool];
        state.last_attempt = Some(now);
        // Until this session says otherwise, the next try waits at least the floor.
        state.retry_at = now + MIN_RECONNECT;
        let url = state
            .redirect
            .take()
            .unwrap_or_else(|| self.pools[pool].url.clone());
        let config = &self.pools[pool];
        let o = &self.options;
        let session = match url.v2 {
            None => Session::V1(Box::new(v1::Session::new(
                v1::session::Config {
                    session: id,
                    pool,
                    user: config.user.clone(),
                    password: config.password.clone(),
                    suggest_difficulty: o.suggest_difficulty,
                    configure: !state.skip_configure,
                    resume: state.resume.clone(),
                    answer_timeout: o.answer_timeout,
                    idle_timeout: o.idle_timeout,
                    algo: o.algo,
                },
                now,
            ))),
            Some(_) => Session::V2(Box::new(v2::Channel::new(
                v2::channel::Config {
                    session: id,
                    pool,
                    user: config.user.clone(),
                    kind: o.channel,
                    host: url.host.clone(),
                    port: url.port,
                    hash_rate: self.nominal_rate(),
                    answer_timeout: o.answer_timeout,
                    idle_timeout: o.idle_timeout,
                    update_every: o.update_every,
                },
                now,
            ))),
        };
        let dial = Dial {
            session: id,
            url: url.clone(),
            tls: self.options.tls.clone(),
            timeout: self.options.answer_timeout,
        };
        self.sessions.insert(
            id,
            Live {
                session,
                conn: None,
                pool,
                url,
                ready_at: None,
                dirty: false,
            },
        );
        if let Err(e) = driver::spawn(dial, self.events.clone()) {
            self.fail(id, e);
        }
    }

    /// Ends session `id` (if it is still there) for `error`, and schedules the next try of
    /// its pool.
    fn fail(&mut self, id: u64, error: StratumError) {
        self.end(id, &error, None);
    }

    /// Ends session `id`; the next try of its pool comes no sooner than `wait` (if given).
    fn end(&mut self, id: u64, error: &StratumError, wait: Option<Duration>) {
        let Some(mut live) = self.sessions.remove(&id) else {
            return;
        };
        if let Some(conn) = live.conn.take() {
            conn.close();
        }
        let pool = live.pool;
        let name = self.name(pool);
        let was_active = self.active == Some(id);
        let now = Instant::now();
        let state = &mut self.state[pool];
        // Closed before answering anything: some old pools do that to mining.configure (an
        // unknown method to them). Try once without it; if that dies the same way too, the
        // pool is just flaky and the next try sends it again.
        if live.session.phase() == Phase::Subscribing && error.is_disconnect() {
            state.skip_configure = live.session.closed_at_configure();
        }
        let stable = live
            .ready_at
            .is_some_and(|t| now.duration_since(t) >= STABLE_AFTER);
        if stable {
            state.backoff = Duration::ZERO;
        }
        let floor = state.last_attempt.map_or(now, |t| t + MIN_RECONNECT);
        let mut retry = (now + state.backoff).max(floor);
        if let Some(wait) = wait {
            retry = retry.max(now + wait);
        }
        if error.is_login_refused() {
            retry = retry.max(now + Duration::from_secs(30));
        }
        // A V2 pool whose certificate does not check out: not trusted; when no pool can be
        // trusted, the run ends (a wrong key in the URL is the user's to fix).
        if error.is_untrusted() {
            state.untrusted = true;
            retry = retry.max(now + Duration::from_secs(60));
        }
        state.retry_at = retry;
        state.backoff = (state.backoff * 2).clamp(MIN_RECONNECT, MAX_BACKOFF);
        let wait = retry.saturating_duration_since(now);
        crate::elog!(
            "{name}: {error}; {}",
            if wait < Duration::from_millis(100) {
                "reconnecting".to_string()
            } else {
                format!("retrying in {:.0} s", wait.as_secs_f64().ceil())
            }
        );
        self.close_session(&mut live, "the connection ended before the pool answered");
        if self.state.iter().all(|p| p.untrusted) {
            self.link
                .fatal(crate::source::SourceError::NoTrustedPool(format!(
                    "{name}: {error}"
                )));
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

    /// `pool` is connected while one of its sessions (still in the map) has logged in.
    fn update_connected(&self, pool: usize) {
        let up = self
            .sessions
            .values()
            .any(|l| l.pool == pool && l.ready_at.is_some());
        self.pool_stats(pool).connected.store(up, Ordering::Relaxed);
    }

    /// Ends a session that was taken out of the map: the shares it still waited for are
    /// reported (`why` they have no answer); nothing more is sent.
    fn close_session(&self, live: &mut Live, why: &str) {
        self.update_connected(live.pool);
        live.session.close(why);
        for action in live.session.take_actions() {
            if let Action::Share {
                what,
                difficulty,
                result,
            } = action
            {
                self.share(live.pool, what, difficulty, result);
            }
        }
    }

    /// The pool asked to reconnect (`client.reconnect`, V2 Reconnect): to the same host
    /// always, to another only when the user allowed it; rate-limited like any other
    /// reconnect (the backoff grows unless the session had lived a while).
    fn reconnect(&mut self, id: u64, to: Option<(Option<String>, Option<u16>)>, after: Duration) {
        let Some(live) = self.sessions.get(&id) else {
            return;
        };
        let pool = live.pool;
        let name = self.name(pool);
        let mut url = live.url.clone();
        if let Some((host, port)) = to {
            match host {
                Some(h) if !h.eq_ignore_ascii_case(&url.host) => {
                    if !self.options.allow_redirect {
                        crate::elog!(
                            "{name}: ignored client.reconnect to another host {:?} (give --pool-redirect to follow it)",
                            clip(&h, 100)
                        );
                        return;
                    }
                    if h.len() > 253 || h.contains(['/', ' ', '@']) {
                        crate::elog!(
                            "{name}: ignored a reconnect to {:?}: not a host name",
                            clip(&h, 100)
                        );
                        return;
                    }
                    url = url.moved(Some(&h), port);
                }
                _ => url = url.moved(None, port),
            }
        }
        crate::elog!(
            "{name}: the pool asked to reconnect to {url} in {} s",
            after.as_secs()
        );
        self.state[pool].redirect = Some(url);
        self.end(id, &StratumError::Reconnect, Some(after));
    }

    /// Makes the best ready session with work the one mined, if it is better than the one
    /// in use; the one it replaces is closed once its last submits are answered.
    fn promote_best(&mut self) {
        let best = self
            .sessions
            .iter()
            .filter(|(_, l)| l.session.phase() == Phase::Ready && l.session.has_work())
            .min_by_key(|(_, l)| l.pool)
            .map(|(id, l)| (*id, l.pool));
        let Some((id, pool)) = best else {
            return;
        };
        let current_pool = self
            .active
            .and_then(|a| self.sessions.get(&a))
            .map(|l| l.pool);
        if self.active == Some(id) || current_pool.is_some_and(|p| p <= pool) {
            return;
        }
        if let Some(old) = current_pool {
            crate::elog!("leaving {} for a better pool", self.name(old));
            let p = self.pool_stats(old);
            p.in_use.store(false, Ordering::Relaxed);
            Stats::add(&p.failovers, 1);
        }
        self.active = Some(id);
        self.switched = true;
        self.pool_stats(pool).in_use.store(true, Ordering::Relaxed);
        crate::elog!("mining on {}", self.name(pool));
        if let Some(l) = self.sessions.get_mut(&id) {
            l.dirty = true;
        }
    }

    /// Publishes the active session's work when it changed; closes sessions left behind.
    fn publish(&mut self) {
        let active = self.active;
        let active_pool = active.and_then(|id| self.sessions.get(&id)).map(|l| l.pool);
        // Sessions left behind (not the better pools being tried), once answered.
        let left: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(id, l)| Some(**id) != active && active_pool.is_some_and(|p| l.pool >= p))
            .filter(|(_, l)| l.session.pending() == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in left {
            if let Some(l) = self.sessions.remove(&id) {
                tracing::info!("closing the session with {}", self.name(l.pool));
                if let Some(conn) = &l.conn {
                    conn.close();
                }
                self.update_connected(l.pool);
            }
        }
        let Some(l) = active.and_then(|id| self.sessions.get_mut(&id)) else {
            return;
        };
        if !l.dirty {
            return;
        }
        let clean = l.session.take_clean() || self.switched;
        let Some((work, difficulty)) = l.session.work(clean) else {
            return;
        };
        l.dirty = false;
        self.switched = false;
        self.stats.pools()[l.pool].set_difficulty(difficulty);
        self.link.work(work);
    }

    /// Timers of every session.
    fn tick(&mut self) {
        let now = Instant::now();
        let hashes = self.stats.hashes();
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(l) = self.sessions.get_mut(&id) {
                l.session.tick(now, hashes);
                self.apply(id);
            }
        }
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
            .is_some_and(|l| l.session.phase() == Phase::Ready && l.conn.is_some());
        if ready {
            self.submit(session, &solution, false);
        } else {
            self.orphan(pool, solution);
        }
        // Logged after the share is on its way.
        if let Some((hash, job, header)) = candidate {
            Stats::add(&self.pool_stats(pool).block_candidates, 1);
            crate::elog!(
                "block candidate: share {hash} of job {} on {} also meets the network target (the pool submits the block); header {header}",
                clip(&job, 64),
                self.name(pool),
            );
        }
    }

    /// Keeps a share for a pool that is away; the oldest goes when too many wait.
    fn orphan(&mut self, pool: usize, solution: Solution) {
        let orphans = &mut self.state[pool].orphans;
        orphans.push_back(solution);
        if orphans.len() > MAX_ORPHANS {
            if let Some(old) = orphans.pop_front() {
                self.stale(
                    pool,
                    &old,
                    "the pool is away and too many shares wait for it",
                );
            }
        }
    }

    /// Sends `solution` on `session` (`resumed`: a share of the session this one resumed).
    fn submit(&mut self, session: u64, solution: &Solution, resumed: bool) {
        let Some(live) = self.sessions.get_mut(&session) else {
            return;
        };
        let pool = live.pool;
        live.session.submit(solution, resumed, Instant::now());
        if !resumed {
            self.pool_stats(pool)
                .record_submit(solution.found_at.elapsed());
        }
        self.apply(session);
    }

    fn stale(&self, pool: usize, solution: &Solution, reason: &str) {
        let (job, difficulty) = context(solution)
            .map(|c| (c.job.clone(), c.difficulty))
            .unwrap_or_default();
        self.share(
            pool,
            v1::session::share_name(solution, &job, difficulty, pool),
            difficulty,
            ShareResult::Stale(format!("not sent: {reason}")),
        );
    }

    /// Shares found while the pool's last session was ending: sent on the new session, which
    /// sends them if it resumed the old one and calls them stale otherwise.
    fn resend_orphans(&mut self, session: u64) {
        let Some(pool) = self.sessions.get(&session).map(|l| l.pool) else {
            return;
        };
        let orphans = std::mem::take(&mut self.state[pool].orphans);
        for o in orphans {
            self.submit(session, &o, true);
        }
    }

    fn finish(&mut self) {
        let ids: Vec<u64> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(mut live) = self.sessions.remove(&id) {
                if let Some(conn) = live.conn.take() {
                    conn.close();
                }
                self.close_session(&mut live, "the run ended before the pool answered");
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
