//! The mining loop, the same for every source: the source publishes work, the
//! [`Dispatcher`] keeps every backend on it, this thread verifies what the backends find (the
//! only place a [`Share`](crate::verify::Share) is made), drops what is stale, hands the rest
//! to the source and counts the outcomes the source reports.
//!
//! At exit (a limit reached, Ctrl-C, an error) the backends are stopped and joined first, then
//! everything they found is verified and handed over, then the source's threads are joined:
//! a block found in the last batch is journaled and sent like any other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::chain::hash_meets;
use crate::dispatch::{DispatchEvent, Dispatcher, Found, EVENT_QUEUE, MAX_SOLUTION_RATE};
use crate::source::{
    Link, Outcome, OutcomeKind, SinkError, Solution, SolutionSink, Source, SourceError, SourceEvent,
};
use crate::stats::{format_hashrate, Stats};
use crate::verify::Verifier;
use crate::work::Work;

/// Errors that end a mining run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MineError {
    #[error(transparent)]
    Source(SourceError),
    #[error("no backend is left mining (the last one failed: {0})")]
    NoBackend(String),
    #[error("no backend to mine with")]
    NoBackends,
    #[error(transparent)]
    Api(#[from] crate::ui::api::ApiError),
    #[error(transparent)]
    Cgminer(#[from] crate::ui::api::cgminer::CgminerError),
}

/// When a run ends by itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// After this many accepted blocks.
    pub blocks: Option<u64>,
    /// After this many accepted solutions (pool shares; a block counts too).
    pub shares: Option<u64>,
    /// After this long.
    pub duration: Option<Duration>,
    /// Testing aid: nonces per roll (see [`Dispatcher::with_nonces_per_roll`]).
    pub nonces_per_roll: Option<u64>,
    /// Testing aid: expected solutions per second (see
    /// [`Dispatcher::with_max_solution_rate`]); the share-rate cap follows it.
    pub solution_rate: Option<f64>,
}

/// Everything the loop hears about.
#[derive(Debug)]
pub enum Event {
    Source(SourceEvent),
    Dispatch(DispatchEvent),
}

/// How often the hash rate line is printed.
const RATE_EVERY: Duration = Duration::from_secs(10);

/// Solutions that may go at once before the cap applies.
const SOLUTION_BURST: f64 = 256.0;
/// Verified solutions waiting for room in the source's queue (the stalest go first).
const WAITING_SOLUTIONS: usize = 256;
/// At exit, how long the source may take to finish what it was given (journal, send).
const SOURCE_GRACE: Duration = Duration::from_millis(1500);

/// Mines `source`'s work on `backends` until a limit, `stop` (signals) or an error. The
/// summary line is printed either way; the counters come back on success.
pub fn run(
    source: Box<dyn Source>,
    backends: &[Backend],
    limits: Limits,
    stop: Arc<AtomicBool>,
) -> Result<Arc<Stats>, MineError> {
    run_with(source, backends, limits, stop, &Extras::default())
}

/// What runs beside the mining loop.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The monitoring API.
    pub api: Option<crate::ui::api::ApiConfig>,
    /// cgminer's API.
    pub cgminer: Option<crate::ui::api::cgminer::CgminerConfig>,
    /// The live status block (`Some(colour)`), instead of the periodic rate line.
    pub status: Option<bool>,
}

/// [`run`], with the monitoring API and the live status block when asked for.
pub fn run_with(
    source: Box<dyn Source>,
    backends: &[Backend],
    limits: Limits,
    stop: Arc<AtomicBool>,
    extras: &Extras,
) -> Result<Arc<Stats>, MineError> {
    if backends.is_empty() {
        return Err(MineError::NoBackends);
    }
    let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
    let _api = match extras.api.as_ref() {
        Some(config) => {
            let api = crate::ui::api::start(config, Arc::clone(&stats), source.describe())?;
            crate::elog!("monitoring API on http://{}/", api.addr);
            Some(api)
        }
        None => None,
    };
    let _cgminer = match extras.cgminer.as_ref() {
        Some(config) => {
            let api =
                crate::ui::api::cgminer::start(config, Arc::clone(&stats), source.describe())?;
            crate::elog!("cgminer's API on {} (JSON over TCP)", api.addr);
            Some(api)
        }
        None => None,
    };
    if source.wants_hash_rate() {
        match crate::dispatch::measure_together(backends, &Work::synthetic(), 0.5, &mut |_| {}) {
            Ok(r) => {
                crate::elog!(
                    "measured {} to announce to the pool",
                    format_hashrate(r.hashrate())
                );
                stats.set_nominal(r.hashrate());
            }
            Err(e) => crate::elog!("could not measure the hash rate to announce: {e}"),
        }
    }
    // Bounded: a source or a backend that gets ahead waits for the loop (which never waits on
    // them: it hands solutions over without blocking).
    let (tx, rx) = mpsc::sync_channel::<Event>(EVENT_QUEUE);
    let run_stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let source_tx = tx.clone();
    let link = Link::new(
        Arc::new(move |e| {
            // The loop has ended when this fails: nothing is listening any more.
            let _ = source_tx.send(Event::Source(e));
        }),
        Arc::clone(&stop),
        Arc::clone(&run_stop),
        limits.duration.map(|d| started + d),
        Arc::clone(&stats),
    );
    let status = extras
        .status
        .map(|colour| crate::ui::status::start(Arc::clone(&stats), source.describe(), colour));
    let names: Vec<String> = backends.iter().map(Backend::name).collect();
    crate::elog!("mining on {} with {}", source.describe(), names.join(", "));
    let running = match source.start(link) {
        Ok(r) => r,
        Err(e) => {
            crate::elog!("{}", stats.summary_line());
            return Err(MineError::Source(e));
        }
    };
    let mut looping = Loop {
        stats: &stats,
        verifier: Verifier::new(),
        solutions: Some(running.solutions),
        waiting: VecDeque::new(),
        limits,
        tokens: SOLUTION_BURST,
        rate_cap: 4.0 * limits.solution_rate.unwrap_or(MAX_SOLUTION_RATE),
        refilled: Instant::now(),
        solved: None,
    };
    let mut dispatcher = Dispatcher::new(Arc::clone(&stats));
    if let Some(n) = limits.nonces_per_roll {
        dispatcher = dispatcher.with_nonces_per_roll(n);
    }
    if let Some(rate) = limits.solution_rate {
        dispatcher = dispatcher.with_max_solution_rate(rate);
    }
    let emit = move |e: DispatchEvent| {
        let _ = tx.send(Event::Dispatch(e));
    };
    let result = dispatcher.run(backends, &emit, || {
        let mut last_rate = (Instant::now(), 0u64);
        let result = loop {
            if stop.load(Ordering::Relaxed)
                || limits.duration.is_some_and(|d| started.elapsed() >= d)
                || looping.limit_reached()
            {
                break Ok(());
            }
            looping.hand_over();
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Source(SourceEvent::Work(work))) => {
                    stats.set_work(&work.id);
                    stats.set_algo(work.algo);
                    stats.set_network_difficulty(crate::chain::target::target_difficulty(
                        &work.block_target(),
                    ));
                    dispatcher.publish(work)
                }
                Ok(Event::Source(SourceEvent::Withdraw)) => {
                    stats.set_work("");
                    dispatcher.withdraw()
                }
                Ok(Event::Source(SourceEvent::Outcome(o))) => looping.outcome(o),
                Ok(Event::Source(SourceEvent::Fatal(e))) => break Err(MineError::Source(e)),
                Ok(Event::Dispatch(DispatchEvent::Found(found))) => {
                    looping.found(&dispatcher, found)
                }
                Ok(Event::Dispatch(DispatchEvent::Failed { error, left, .. })) => {
                    if left == 0 {
                        break Err(MineError::NoBackend(error));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
            }
            if status.is_none() && last_rate.0.elapsed() >= RATE_EVERY {
                let hashes = stats.hashes();
                let rate = (hashes - last_rate.1) as f64 / last_rate.0.elapsed().as_secs_f64();
                rate_line(&stats, rate);
                last_rate = (Instant::now(), hashes);
            }
        };
        // The workers stop within a batch; what they found meanwhile is taken (a worker may
        // be waiting for room in the queue).
        dispatcher.stop();
        while dispatcher.running() > 0 {
            looping.drain(&dispatcher, &rx, Duration::from_millis(5));
        }
        result
    });
    run_stop.store(true, Ordering::Relaxed);
    looping.drain(&dispatcher, &rx, Duration::ZERO);
    looping.hand_over_all(&dispatcher, &rx);
    // Closing the solution sink lets the source finish (journal, send) and end; its threads
    // may wait for room in the queue meanwhile, so it is drained while they finish. A node or
    // pool that does not answer is not waited for past the grace: blocks are journaled before
    // they are sent, and are sent again at the next start.
    looping.solutions = None;
    let until = Instant::now() + SOURCE_GRACE;
    for thread in running.threads {
        while !thread.is_finished() && Instant::now() < until {
            looping.drain(&dispatcher, &rx, Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            crate::elog!(
                "the source is still waiting for its server; leaving it (found blocks stay in the journal and are sent at the next start)"
            );
        }
    }
    // Outcomes of those last solutions.
    looping.drain(&dispatcher, &rx, Duration::ZERO);
    // The last block stays on the screen; the summary goes below it.
    drop(status);
    for line in stats.human_summary(stats.pools().is_empty()) {
        crate::elog!("{line}");
    }
    crate::elog!("{}", stats.summary_line());
    for line in stats.pool_lines() {
        crate::elog!("{line}");
    }
    if let Some(jd) = stats.jd() {
        crate::elog!("{}", jd.line());
    }
    for b in &stats.backends {
        crate::elog!(
            "backend {}: hashes {} hw_errors {} max_switch_ms {:.2}",
            b.name,
            Stats::get(&b.hashes),
            Stats::get(&b.hw_errors),
            b.max_switch().as_secs_f64() * 1000.0
        );
    }
    result.map(|()| stats)
}

/// The periodic line when there is no status block.
fn rate_line(stats: &Stats, rate: f64) {
    let pool = match stats
        .pools()
        .iter()
        .position(|p| p.in_use.load(Ordering::Relaxed))
    {
        Some(i) => format!(" | pool {i} difficulty {}", stats.pools()[i].difficulty()),
        None if !stats.pools().is_empty() => " | no pool".to_string(),
        None => String::new(),
    };
    crate::elog!(
        "hash rate {} | accepted {} rejected {} stale {} | hw errors {}{pool}",
        format_hashrate(rate),
        Stats::get(&stats.accepted),
        Stats::get(&stats.rejected),
        Stats::get(&stats.stale),
        stats.hw_errors()
    );
}

/// The mining loop's own state.
struct Loop<'s> {
    stats: &'s Arc<Stats>,
    verifier: Verifier,
    /// `None` once closed at exit.
    solutions: Option<SolutionSink>,
    /// Verified solutions the source's queue had no room for yet (oldest first).
    waiting: VecDeque<Solution>,
    limits: Limits,
    /// The share-rate cap's token bucket: solutions per second handed to the source at most
    /// (sustained; blocks always pass). The dispatcher's floor keeps the expected rate at
    /// [`MAX_SOLUTION_RATE`]; the cap (4x that) catches what a wrong rate estimate lets through.
    tokens: f64,
    rate_cap: f64,
    refilled: Instant,
    /// A one-block work that found its block: the rest of its solutions are worthless.
    solved: Option<Arc<Work>>,
}

impl Loop<'_> {
    fn limit_reached(&self) -> bool {
        self.limits
            .blocks
            .is_some_and(|n| Stats::get(&self.stats.blocks) >= n)
            || self
                .limits
                .shares
                .is_some_and(|n| Stats::get(&self.stats.accepted) >= n)
    }

    /// True when one more solution may go now (the share-rate cap).
    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * self.rate_cap;
        self.tokens = (self.tokens + refill).min(SOLUTION_BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Verifies `found` and hands it to the source, unless it is stale, over the rate cap,
    /// worthless (its one-block work is solved) or wrong.
    fn found(&mut self, dispatcher: &Dispatcher, found: Found) {
        if dispatcher.is_stale(&found) {
            Stats::add(&self.stats.stale, 1);
            if let Some(pool) = found.work.pool.and_then(|i| self.stats.pools().get(i)) {
                pool.stale(found.work.difficulty_of(&found.work.share_target));
            }
            tracing::info!(
                "stale solution of work {} dropped (newer clean work)",
                found.work.id
            );
            return;
        }
        if self
            .solved
            .as_ref()
            .is_some_and(|w| Arc::ptr_eq(w, &found.work))
        {
            Stats::add(&self.stats.dropped, 1);
            return;
        }
        // A block (as the backend says; verified below) always goes; other solutions only
        // within the rate cap.
        let block = hash_meets(&found.candidate.digest, &found.work.block_target());
        if !block && !self.take_token() {
            Stats::add(&self.stats.dropped, 1);
            return;
        }
        let share = match self.verifier.verify(
            found.work.algo,
            &found.header,
            &found.work.share_target,
            found.candidate,
        ) {
            Ok(share) => share,
            Err(_) => {
                // Logged by the verifier; counted against the backend that found it.
                Stats::add(&self.stats.backends[found.backend].hw_errors, 1);
                return;
            }
        };
        self.stats.record_share(
            found
                .work
                .difficulty_of(&bitcoin::Target::from_le_bytes(share.digest)),
            found.work.pool,
        );
        if found.work.one_block && hash_meets(&share.digest, &found.work.block_target()) {
            self.solved = Some(Arc::clone(&found.work));
        }
        self.waiting.push_back(Solution {
            work: found.work,
            roll: found.roll,
            share,
            found_at: found.at,
        });
        if self.waiting.len() > WAITING_SOLUTIONS {
            self.drop_stalest();
        }
        self.hand_over();
    }

    /// The queue to the source is over its bound: the oldest solution that is not a block
    /// goes (counted as dropped).
    fn drop_stalest(&mut self) {
        let at = self
            .waiting
            .iter()
            .position(|s| !hash_meets(&s.share.digest, &s.work.block_target()))
            .unwrap_or(0);
        if let Some(s) = self.waiting.remove(at) {
            Stats::add(&self.stats.dropped, 1);
            crate::elog!(
                "a solution (hash {}) was dropped: the source is not taking them",
                s.share.hash_hex()
            );
        }
    }

    /// Hands waiting solutions to the source, oldest first, while it takes them.
    fn hand_over(&mut self) {
        while let Some(solution) = self.waiting.pop_front() {
            let result = match self.solutions.as_mut() {
                Some(sink) => sink.send(solution),
                None => Err(SinkError::Closed(Box::new(solution))),
            };
            match result {
                Ok(()) => Stats::add(&self.stats.sent, 1),
                Err(SinkError::Full(s)) => {
                    self.waiting.push_front(*s);
                    return;
                }
                Err(SinkError::Closed(s)) => {
                    Stats::add(&self.stats.dropped, 1);
                    crate::elog!(
                        "error: a verified solution (hash {}) could not be handed to the source, which has ended",
                        s.share.hash_hex()
                    );
                }
            }
        }
    }

    /// At exit: hands over everything still waiting, draining the loop's queue meanwhile (the
    /// source may be waiting for room to report an outcome).
    fn hand_over_all(&mut self, dispatcher: &Dispatcher, rx: &mpsc::Receiver<Event>) {
        let until = Instant::now() + Duration::from_secs(1);
        while !self.waiting.is_empty() && Instant::now() < until {
            self.hand_over();
            self.drain(dispatcher, rx, Duration::from_millis(5));
        }
        for s in std::mem::take(&mut self.waiting) {
            Stats::add(&self.stats.dropped, 1);
            crate::elog!(
                "error: a verified solution (hash {}) could not be handed to the source in time",
                s.share.hash_hex()
            );
        }
    }

    /// Counts (and prints) an outcome the source reported.
    fn outcome(&mut self, o: Outcome) {
        let s = self.stats;
        // A declared job's block: its share was counted as the solution already.
        let n = u64::from(!o.share_also);
        match &o.kind {
            OutcomeKind::Accepted => {
                Stats::add(&s.accepted, n);
                if o.block {
                    Stats::add(&s.blocks, 1);
                }
                crate::ui::output::line(format_args!("accepted {}", o.what));
            }
            OutcomeKind::Rejected(reason) => {
                Stats::add(&s.rejected, n);
                crate::ui::output::line(format_args!(
                    "rejected {}: {}",
                    o.what,
                    crate::ui::output::clip(reason, 200)
                ));
            }
            OutcomeKind::Stale(reason) => {
                Stats::add(&s.stale, n);
                if o.quiet {
                    tracing::info!("stale {}: {reason}", o.what);
                } else {
                    crate::ui::output::line(format_args!("stale {}: {reason}", o.what));
                }
            }
            OutcomeKind::Kept(reason) => {
                Stats::add(&s.kept, n);
                crate::elog!("could not submit {}: {reason}", o.what);
            }
            OutcomeKind::Unanswered(reason) => {
                Stats::add(&s.unanswered, n);
                crate::elog!("no answer for {}: {reason}", o.what);
            }
        }
    }

    /// Handles whatever is queued, waiting up to `wait` for the first event.
    fn drain(&mut self, dispatcher: &Dispatcher, rx: &mpsc::Receiver<Event>, wait: Duration) {
        let mut next = if wait.is_zero() {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(wait).ok()
        };
        while let Some(event) = next {
            match event {
                Event::Dispatch(DispatchEvent::Found(found)) => self.found(dispatcher, found),
                Event::Source(SourceEvent::Outcome(o)) => self.outcome(o),
                Event::Source(SourceEvent::Fatal(e)) => crate::elog!("error: {e}"),
                _ => {}
            }
            next = rx.try_recv().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::{CpuBackend, Kernel};
    use crate::source::Running;
    use crate::work::tests_support::easy_work;
    use std::sync::Mutex;

    /// Publishes its work, keeps every solution, and calls the first one an accepted block.
    struct Scripted {
        work: Vec<Work>,
        received: Arc<Mutex<Vec<Solution>>>,
    }

    use crate::work::Work;

    impl Source for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError> {
            for w in self.work {
                link.work(w);
            }
            let (tx, rx) = mpsc::sync_channel::<Solution>(16);
            let received = self.received;
            let thread = std::thread::spawn(move || {
                for s in rx {
                    let first = {
                        let mut r = received.lock().unwrap();
                        r.push(s);
                        r.len() == 1
                    };
                    if first {
                        link.outcome(Outcome {
                            what: "block 1".into(),
                            kind: OutcomeKind::Accepted,
                            block: true,
                            quiet: false,
                            share_also: false,
                        });
                    }
                }
            });
            Ok(Running {
                solutions: SolutionSink::channel(tx),
                threads: vec![thread],
            })
        }
    }

    /// Mines `work` with the scripted source on `threads` CPU threads until the first
    /// solution is accepted; returns the counters and what the source received.
    fn mine_scripted(work: Vec<Work>, threads: usize) -> (Arc<Stats>, Vec<Solution>) {
        let received = Arc::new(Mutex::new(Vec::new()));
        let backends = [Backend::Cpu(
            CpuBackend::new(Kernel::best(), threads).unwrap(),
        )];
        let stats = run(
            Box::new(Scripted {
                work,
                received: Arc::clone(&received),
            }),
            &backends,
            Limits {
                blocks: Some(1),
                duration: Some(Duration::from_secs(20)),
                // Many solutions a second: the last batches hold several.
                solution_rate: Some(1e5),
                ..Limits::default()
            },
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let received = received.lock().unwrap().clone();
        (stats, received)
    }

    /// Every candidate is sent, stale, dropped or a hardware error: none is left in a channel.
    fn assert_all_accounted(stats: &Stats) {
        assert_eq!(
            Stats::get(&stats.found),
            Stats::get(&stats.sent)
                + Stats::get(&stats.stale)
                + Stats::get(&stats.dropped)
                + stats.hw_errors()
        );
    }

    /// Defect 1: the loop used to stop reading what the backends found once a limit was
    /// reached, while they finished their batch. Everything found is verified and handed to
    /// the source before the run returns.
    #[test]
    fn what_the_last_batches_found_reaches_the_source() {
        let (stats, received) = mine_scripted(vec![easy_work(true, 0x1fff_e000)], 2);
        let sent = Stats::get(&stats.sent);
        assert!(sent > 1, "the batch in flight found more");
        assert_all_accounted(&stats);
        assert_eq!(received.len() as u64, sent);
        assert_eq!(Stats::get(&stats.blocks), 1);
    }

    /// Solutions of clean work that newer clean work replaced are dropped, never sent.
    #[test]
    fn solutions_of_replaced_work_are_not_sent() {
        let mut old = easy_work(true, 0x1fff_e000);
        old.id = "old".into();
        let mut new = easy_work(true, 0x1fff_e000);
        new.id = "new".into();
        new.time = crate::work::BlockTime::fixed(new.time.base + 1);
        let (stats, received) = mine_scripted(vec![old, new], 2);
        assert!(!received.is_empty());
        assert!(received.iter().all(|s| s.work.id == "new"));
        assert_all_accounted(&stats);
    }

    #[test]
    fn solutions_meet_the_share_target_and_name_their_roll() {
        let (_, received) = mine_scripted(vec![easy_work(true, 0x1fff_e000)], 1);
        assert!(!received.is_empty());
        for s in &received {
            assert!(crate::chain::hash_meets(
                &s.share.digest,
                &s.work.share_target
            ));
            assert_eq!(s.share.header.version(), s.roll.version);
            let expected = s.work.header(&s.roll, s.share.header.time());
            assert_eq!(expected.with_nonce(s.share.nonce()), s.share.header);
        }
    }

    /// Issue 15: solo on regtest (every other hash a block) handed millions of solutions of
    /// a solved work to the source. Once a one-block work has its block, the rest of its
    /// solutions are dropped unverified.
    #[test]
    fn a_solved_one_block_work_sends_nothing_more() {
        let mut work = easy_work(true, 0x1fff_e000);
        work.bits = crate::chain::CompactTarget::from_consensus(0x207f_ffff);
        work.share_target = work.block_target();
        work.one_block = true;
        let (stats, received) = mine_scripted(vec![work], 2);
        assert_eq!(received.len(), 1, "only the block went to the source");
        assert!(Stats::get(&stats.dropped) > 0);
        assert_all_accounted(&stats);
    }
}
