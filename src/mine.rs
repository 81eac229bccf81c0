//! The mining loop, the same for every source: the source publishes work, the
//! [`Dispatcher`] keeps every backend on it, this thread verifies what the backends find (the
//! only place a [`Share`](crate::verify::Share) is made), drops what is stale, hands the rest
//! to the source and counts the outcomes the source reports.
//!
//! At exit (a limit reached, Ctrl-C, an error) the backends are stopped and joined first, then
//! everything they found is verified and handed over, then the source's threads are joined:
//! a block found in the last batch is journaled and sent like any other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::dispatch::{DispatchEvent, Dispatcher, Found};
use crate::source::{
    Link, Outcome, OutcomeKind, Solution, SolutionSink, Source, SourceError, SourceEvent,
};
use crate::stats::{format_hashrate, Stats};
use crate::verify::Verifier;

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
    #[error("{0}")]
    Api(String),
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
}

/// Everything the loop hears about.
#[derive(Debug)]
pub enum Event {
    Source(SourceEvent),
    Dispatch(DispatchEvent),
}

/// How often the hash rate line is printed.
const RATE_EVERY: Duration = Duration::from_secs(10);

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
    pub api: Option<crate::api::ApiConfig>,
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
    let api = extras.api.as_ref();
    if backends.is_empty() {
        return Err(MineError::NoBackends);
    }
    let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
    let _api = match api {
        Some(config) => {
            let api = crate::api::start(config, Arc::clone(&stats), source.describe())
                .map_err(|e| MineError::Api(e.to_string()))?;
            crate::elog!("monitoring API on http://{}/", api.addr);
            Some(api)
        }
        None => None,
    };
    if source.wants_hash_rate() {
        match crate::bench::measure_together(backends, 0.5, &mut |_| {}) {
            Ok(r) => {
                crate::elog!(
                    "measured {} to announce to the pool",
                    format_hashrate(r.hashrate)
                );
                stats.set_nominal(r.hashrate);
            }
            Err(e) => crate::elog!("could not measure the hash rate to announce: {e}"),
        }
    }
    let (tx, rx) = mpsc::channel::<Event>();
    let run_stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let link = Link::new(
        tx.clone(),
        Arc::clone(&stop),
        Arc::clone(&run_stop),
        limits.duration.map(|d| started + d),
        Arc::clone(&stats),
    );
    let status = extras
        .status
        .map(|colour| crate::status::start(Arc::clone(&stats), source.describe(), colour));
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
        limits,
    };
    let mut dispatcher = Dispatcher::new(Arc::clone(&stats));
    if let Some(n) = limits.nonces_per_roll {
        dispatcher = dispatcher.with_nonces_per_roll(n);
    }
    let emit = move |e: DispatchEvent| {
        let _ = tx.send(Event::Dispatch(e));
    };
    let result = dispatcher.run(backends, &emit, || {
        let mut last_rate = (Instant::now(), 0u64);
        loop {
            if stop.load(Ordering::Relaxed)
                || limits.duration.is_some_and(|d| started.elapsed() >= d)
                || looping.limit_reached()
            {
                break Ok(());
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Source(SourceEvent::Work(work))) => {
                    stats.set_work(&work.id);
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
                last_rate = (Instant::now(), hashes);
            }
        }
    });
    // The backends are joined: what they found in their last batches is in the channel.
    run_stop.store(true, Ordering::Relaxed);
    looping.drain(&dispatcher, &rx);
    // Closing the solution channel lets the source finish (journal, send) and end.
    looping.solutions = None;
    for thread in running.threads {
        let _ = thread.join();
    }
    // Outcomes of those last solutions.
    looping.drain(&dispatcher, &rx);
    // The last block stays on the screen; the summary goes below it.
    drop(status);
    crate::elog!("{}", stats.summary_line());
    for line in stats.pool_lines() {
        crate::elog!("{line}");
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

/// The mining loop's own state.
struct Loop<'s> {
    stats: &'s Arc<Stats>,
    verifier: Verifier,
    /// `None` once closed at exit.
    solutions: Option<SolutionSink>,
    limits: Limits,
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

    /// Verifies `found` and hands it to the source, unless it is stale or wrong.
    fn found(&mut self, dispatcher: &Dispatcher, found: Found) {
        if dispatcher.is_stale(&found) {
            Stats::add(&self.stats.stale, 1);
            tracing::info!(
                "stale solution of work {} dropped (newer clean work)",
                found.work.id
            );
            return;
        }
        let share =
            match self
                .verifier
                .verify(&found.header, &found.work.share_target, found.candidate)
            {
                Ok(share) => share,
                Err(_) => {
                    // Logged by the verifier; counted against the backend that found it.
                    Stats::add(&self.stats.backends[found.backend].hw_errors, 1);
                    return;
                }
            };
        Stats::add(&self.stats.sent, 1);
        let solution = Solution {
            work: found.work,
            roll: found.roll,
            share,
            found_at: found.at,
        };
        let sent = self
            .solutions
            .as_mut()
            .is_some_and(|sink| sink.send(solution).is_ok());
        if !sent {
            crate::elog!(
                "error: a verified solution (hash {}) could not be handed to the source, which has ended",
                share.hash_hex()
            );
        }
    }

    /// Counts (and prints) an outcome the source reported.
    fn outcome(&mut self, o: Outcome) {
        let s = self.stats;
        match &o.kind {
            OutcomeKind::Accepted => {
                Stats::add(&s.accepted, 1);
                if o.block {
                    Stats::add(&s.blocks, 1);
                }
                crate::output::line(format_args!("accepted {}", o.what));
            }
            OutcomeKind::Rejected(reason) => {
                Stats::add(&s.rejected, 1);
                crate::output::line(format_args!("rejected {}: {reason}", o.what));
            }
            OutcomeKind::Stale(reason) => {
                Stats::add(&s.stale, 1);
                if o.quiet {
                    tracing::info!("stale {}: {reason}", o.what);
                } else {
                    crate::output::line(format_args!("stale {}: {reason}", o.what));
                }
            }
            OutcomeKind::Kept(reason) => {
                Stats::add(&s.kept, 1);
                crate::elog!("could not submit {}: {reason}", o.what);
            }
            OutcomeKind::Unanswered(reason) => {
                Stats::add(&s.unanswered, 1);
                crate::elog!("no answer for {}: {reason}", o.what);
            }
        }
    }

    /// Handles whatever is queued without waiting.
    fn drain(&mut self, dispatcher: &Dispatcher, rx: &mpsc::Receiver<Event>) {
        while let Ok(event) = rx.try_recv() {
            match event {
                Event::Dispatch(DispatchEvent::Found(found)) => self.found(dispatcher, found),
                Event::Source(SourceEvent::Outcome(o)) => self.outcome(o),
                Event::Source(SourceEvent::Fatal(e)) => crate::elog!("error: {e}"),
                _ => {}
            }
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
            let (tx, rx) = mpsc::channel::<Solution>();
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
                ..Limits::default()
            },
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let received = received.lock().unwrap().clone();
        (stats, received)
    }

    /// Every candidate is sent, stale or a hardware error: none is left in a channel.
    fn assert_all_accounted(stats: &Stats) {
        assert_eq!(
            Stats::get(&stats.found),
            Stats::get(&stats.sent) + Stats::get(&stats.stale) + stats.hw_errors()
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
}
