//! The shared part of every mining run: the current [`Work`], one worker thread per backend,
//! rolling, and stale drops. `hashrig mine` (any source) and bench's all-backends row use it.
//!
//! Every backend takes its own [`Roll`] of the current work from one counter (so no two
//! backends ever hash the same header) and scans that header's nonces in batches sized to the
//! backend. Publishing work or withdrawing it bumps the [`Generation`]: every backend leaves
//! the old work within one batch (the CPU within a millisecond piece). Clean work also starts
//! a new *epoch*: a solution found on work of an older epoch is stale and is dropped, never
//! sent.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{Backend, ScanReport};
use crate::chain::{difficulty_target, Header, Target};
use crate::job::{Generation, Job, NonceRange, NONCE_SPACE};
use crate::stats::Stats;
use crate::verify::Candidate;
use crate::work::{Roll, Work};

/// Solutions per second all devices together are expected to find at most. A share target
/// easier than that (a pool's difficulty 1e-300, a regtest node's target) is clamped to it for
/// the backends, with a line: a harder hash still meets the source's target, so nothing valid
/// is lost but the flood of worthless solutions (and the time spent checking them).
pub const MAX_SOLUTION_RATE: f64 = 32.0;

/// Hashes per solution at difficulty 1 (`2^256 / (0xffff * 2^208)`, about 2^32).
const HASHES_PER_DIFFICULTY_1: f64 = 4_295_032_833.0;

/// Something a backend found, not verified yet.
#[derive(Clone, Debug)]
pub struct Found {
    pub work: Arc<Work>,
    pub roll: Roll,
    /// The header it was found in (nonce 0).
    pub header: Header,
    /// The clean-work epoch of `work`.
    pub epoch: u64,
    /// Index of the backend (in the order given to [`Dispatcher::run`]).
    pub backend: usize,
    pub candidate: Candidate,
    /// When the backend reported it (the start of the submit path).
    pub at: Instant,
}

/// What the workers tell the mining loop.
#[derive(Debug)]
pub enum DispatchEvent {
    Found(Found),
    /// A backend stopped for good; `left` backends are still mining.
    Failed {
        backend: usize,
        error: String,
        left: usize,
    },
}

/// The work being mined, as published.
struct Current {
    work: Arc<Work>,
    generation: u64,
    epoch: u64,
    next_roll: AtomicU64,
    exhausted: AtomicBool,
}

impl Current {
    fn new(work: Work, generation: u64, epoch: u64) -> Self {
        Current {
            work: Arc::new(work),
            generation,
            epoch,
            next_roll: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        }
    }
}

/// A backend's share of the current work: one header and the next nonce to scan.
struct Assigned {
    current: Arc<Current>,
    roll: Roll,
    job: Job,
    next: u64,
}

/// Current work, generation and epoch, shared by the mining loop and the backend workers.
pub struct Dispatcher {
    stats: Arc<Stats>,
    generation: Generation,
    epoch: AtomicU64,
    current: Mutex<Option<Arc<Current>>>,
    stop: AtomicBool,
    /// When the last switch (publish, withdraw, stop) began.
    switch_began: Mutex<Option<Instant>>,
    live: AtomicUsize,
    /// Nonces a backend scans of one roll before it takes the next (2^32: all of them).
    nonces_per_roll: u64,
    /// Workers still running (the mining loop drains their events until none is left).
    running: AtomicUsize,
    /// Each backend's hash rate (f64 bits): a guess at first, then measured batch by batch.
    rates: Vec<AtomicU64>,
    /// The source difficulty last clamped (f64 bits; 0 = none), so the line is printed once.
    clamped: AtomicU64,
    /// Expected solutions per second at most (see [`MAX_SOLUTION_RATE`]).
    max_solution_rate: f64,
}

impl Dispatcher {
    /// A dispatcher counting into `stats` (one entry per backend, in the order of `run`).
    pub fn new(stats: Arc<Stats>) -> Self {
        Dispatcher {
            generation: Generation::new(),
            epoch: AtomicU64::new(0),
            current: Mutex::new(None),
            stop: AtomicBool::new(false),
            switch_began: Mutex::new(None),
            live: AtomicUsize::new(0),
            nonces_per_roll: NONCE_SPACE,
            running: AtomicUsize::new(0),
            rates: (0..stats.backends.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            clamped: AtomicU64::new(0),
            max_solution_rate: MAX_SOLUTION_RATE,
            stats,
        }
    }

    /// Testing aid: move to the next roll (version bits, extranonce2) after `n` nonces
    /// instead of 2^32, so that a CPU rolls within a short test.
    pub fn with_nonces_per_roll(mut self, n: u64) -> Self {
        self.nonces_per_roll = n.clamp(1, NONCE_SPACE);
        self
    }

    /// Testing aid: another expected-solution rate for the share floor (tests that need many
    /// solutions a second).
    pub fn with_max_solution_rate(mut self, rate: f64) -> Self {
        self.max_solution_rate = rate.max(1.0);
        self
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    fn current(&self) -> Option<Arc<Current>> {
        self.current.lock().expect("no panic while held").clone()
    }

    /// Replaces the current work; every backend moves to it within one batch. Clean work makes
    /// the solutions of every older work stale.
    pub fn publish(&self, work: Work) {
        let mut current = self.current.lock().expect("no panic while held");
        let epoch = if work.clean {
            self.epoch.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.epoch.load(Ordering::Acquire)
        };
        let generation = self.begin_switch();
        *current = Some(Arc::new(Current::new(work, generation, epoch)));
    }

    /// The hash rate of every backend together: measured (or guessed before the first batch),
    /// or the rate measured before mining when that is higher.
    pub fn hash_rate(&self) -> f64 {
        let sum: f64 = self
            .rates
            .iter()
            .map(|r| f64::from_bits(r.load(Ordering::Relaxed)))
            .sum();
        sum.max(self.stats.nominal())
    }

    /// The easiest target worth searching at the current hash rate (see
    /// [`MAX_SOLUTION_RATE`]); `None` before any rate is known.
    pub fn share_floor(&self) -> Option<Target> {
        let rate = self.hash_rate();
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        difficulty_target(rate / (self.max_solution_rate * HASHES_PER_DIFFICULTY_1))
    }

    /// The target the backends search for `work`: its share target, clamped to the floor.
    fn job_target(&self, work: &Work) -> Target {
        let Some(floor) = self.share_floor() else {
            return work.share_target;
        };
        if work.share_target <= floor {
            return work.share_target;
        }
        let asked = work.difficulty_of(&work.share_target);
        if self.clamped.swap(asked.to_bits(), Ordering::Relaxed) != asked.to_bits() {
            crate::elog!(
                "work {}: difficulty {asked:.3e} would make {} find over {} solutions a second; searching at difficulty {:.3e} instead (harder hashes still count)",
                crate::ui::output::clip(&work.id, 80),
                crate::stats::format_hashrate(self.hash_rate()),
                self.max_solution_rate,
                work.difficulty_of(&floor),
            );
        }
        floor
    }

    /// Records a batch's rate for `backend` (smoothed).
    fn measured(&self, backend: usize, hashes: u64, took: Duration) {
        if hashes == 0 || took.is_zero() {
            return;
        }
        let rate = hashes as f64 / took.as_secs_f64();
        let slot = &self.rates[backend];
        let old = f64::from_bits(slot.load(Ordering::Relaxed));
        let new = if old > 0.0 { 0.5 * (old + rate) } else { rate };
        slot.store(new.to_bits(), Ordering::Relaxed);
    }

    /// Tells every worker to stop (within one batch); [`Dispatcher::running`] says when they
    /// have. What they found meanwhile still goes to `emit`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.begin_switch();
    }

    /// Workers that have not returned yet.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// No work for now: every backend stops within one batch and waits. Solutions already
    /// found are not stale by this (the source decides what they are worth).
    pub fn withdraw(&self) {
        let mut current = self.current.lock().expect("no panic while held");
        self.begin_switch();
        *current = None;
    }

    /// True when `found` belongs to work that clean work has replaced since.
    pub fn is_stale(&self, found: &Found) -> bool {
        found.epoch < self.epoch.load(Ordering::Acquire)
    }

    fn begin_switch(&self) -> u64 {
        *self.switch_began.lock().expect("no panic while held") = Some(Instant::now());
        Stats::add(&self.stats.switches, 1);
        self.generation.bump()
    }

    fn left_old_work(&self, backend: usize) {
        if let Some(at) = *self.switch_began.lock().expect("no panic while held") {
            self.stats.record_switch(backend, at.elapsed());
        }
    }

    /// Runs one worker per backend while `body` runs, then stops them (within one batch) and
    /// joins them. Everything the workers found goes to `emit` before this returns.
    pub fn run<'b, R>(
        &self,
        backends: impl IntoIterator<Item = &'b Backend>,
        emit: &(dyn Fn(DispatchEvent) + Sync),
        body: impl FnOnce() -> R,
    ) -> R {
        let backends: Vec<&Backend> = backends.into_iter().collect();
        assert_eq!(
            backends.len(),
            self.stats.backends.len(),
            "one stats entry per backend"
        );
        self.stop.store(false, Ordering::Release);
        self.live.store(backends.len(), Ordering::Release);
        for (rate, backend) in self.rates.iter().zip(&backends) {
            rate.store(backend.expected_rate().to_bits(), Ordering::Relaxed);
        }
        std::thread::scope(|s| {
            for (index, backend) in backends.into_iter().enumerate() {
                self.running.fetch_add(1, Ordering::AcqRel);
                let spawned = std::thread::Builder::new()
                    .name(format!("hashrig-backend-{index}"))
                    .spawn_scoped(s, move || {
                        self.work_loop(index, backend, emit);
                        self.running.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    self.running.fetch_sub(1, Ordering::AcqRel);
                    let left = self.live.fetch_sub(1, Ordering::AcqRel) - 1;
                    emit(DispatchEvent::Failed {
                        backend: index,
                        error: format!("cannot start its worker thread: {e}"),
                        left,
                    });
                }
            }
            let result = body();
            self.stop();
            result
        })
    }

    /// One backend's loop: take a roll of the current work, scan its nonces batch by batch,
    /// report what was found.
    fn work_loop(&self, index: usize, backend: &Backend, emit: &(dyn Fn(DispatchEvent) + Sync)) {
        let mut assigned: Option<Assigned> = None;
        let mut last: Option<(u64, Duration)> = None;
        while !self.stop.load(Ordering::Acquire) {
            let Some(current) = self.current() else {
                assigned = None;
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let keep = assigned.as_ref().is_some_and(|a| {
                Arc::ptr_eq(&a.current, &current) && a.next < self.nonces_per_roll
            });
            if !keep {
                assigned = self.assign(&current);
                if assigned.is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            }
            let a = assigned.as_mut().expect("assigned above");
            // The floor follows the measured rate batch by batch.
            a.job.target = self.job_target(&a.current.work);
            let range = NonceRange::from_start(a.next as u32, backend.next_batch(last));
            a.next = range.end();
            let started = Instant::now();
            match backend.scan(&a.job, range, &self.generation) {
                Ok(report) => {
                    last = Some((report.hashes, started.elapsed()));
                    self.measured(index, report.hashes, started.elapsed());
                    self.account(index, a, report, emit);
                }
                Err(failure) => {
                    crate::elog!("{}; that device stops", failure.error);
                    self.account(index, a, failure.found, emit);
                    self.stats.backends[index]
                        .failed
                        .store(true, Ordering::Relaxed);
                    let left = self.live.fetch_sub(1, Ordering::AcqRel) - 1;
                    emit(DispatchEvent::Failed {
                        backend: index,
                        error: failure.error,
                        left,
                    });
                    return;
                }
            }
        }
    }

    /// The next roll of `current` as a job, or `None` when its roll space is used up.
    fn assign(&self, current: &Arc<Current>) -> Option<Assigned> {
        let index = current.next_roll.fetch_add(1, Ordering::Relaxed);
        let Some(roll) = current.work.roll(index) else {
            if !current.exhausted.swap(true, Ordering::AcqRel) {
                Stats::add(&self.stats.exhausted, 1);
                crate::elog!(
                    "work {} is searched to the end of its roll space; waiting for new work",
                    current.work.id
                );
            }
            return None;
        };
        let work = &current.work;
        let header = work.header(&roll, work.time.now());
        let job = Job::new(
            work.id.clone(),
            header,
            self.job_target(work),
            NonceRange::FULL,
            current.generation,
        )
        .with_algo(work.algo);
        Some(Assigned {
            current: Arc::clone(current),
            roll,
            job,
            next: 0,
        })
    }

    fn account(
        &self,
        index: usize,
        a: &Assigned,
        report: ScanReport,
        emit: &(dyn Fn(DispatchEvent) + Sync),
    ) {
        let stats = &self.stats.backends[index];
        Stats::add(&stats.hashes, report.hashes);
        Stats::add(&stats.hw_errors, report.hw_errors);
        Stats::add(
            &self.stats.found,
            report.candidates.len() as u64 + report.overflow,
        );
        Stats::add(&self.stats.dropped, report.overflow);
        if report.stale || self.generation.is_stale(a.job.generation) {
            self.left_old_work(index);
        }
        for candidate in report.candidates {
            emit(DispatchEvent::Found(Found {
                work: Arc::clone(&a.current.work),
                roll: a.roll.clone(),
                header: a.job.header,
                epoch: a.current.epoch,
                backend: index,
                candidate,
                at: Instant::now(),
            }));
        }
    }
}

/// A backend that stopped for good, with its error.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendFailed(pub String);

/// What [`measure_together`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Together {
    pub hashes: u64,
    pub hw_errors: u64,
    pub seconds: f64,
}

impl Together {
    pub fn hashrate(&self) -> f64 {
        self.hashes as f64 / self.seconds.max(1e-9)
    }
}

/// Measures `backends` working at once on `work` for `seconds` through the dispatcher (the
/// same path as mining): each backend takes its own roll, every candidate is verified.
/// `progress` gets the rate so far. A backend that fails ends it with its error.
pub fn measure_together(
    backends: &[Backend],
    work: &Work,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<Together, BackendFailed> {
    let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
    let dispatcher = Dispatcher::new(Arc::clone(&stats));
    let verifier = crate::verify::Verifier::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<DispatchEvent>(EVENT_QUEUE);
    let emit = move |e: DispatchEvent| {
        let _ = tx.send(e);
    };
    let mut failure: Option<String> = None;
    let check = |event: DispatchEvent, failure: &mut Option<String>| match event {
        DispatchEvent::Found(f) => {
            if verifier
                .verify(f.work.algo, &f.header, &f.work.share_target, f.candidate)
                .is_err()
            {
                Stats::add(&stats.backends[f.backend].hw_errors, 1);
            }
        }
        DispatchEvent::Failed { error, .. } => *failure = Some(error),
    };
    let budget = Duration::from_secs_f64(seconds);
    dispatcher.publish(work.clone());
    let start = Instant::now();
    let elapsed = dispatcher.run(backends, &emit, || {
        while start.elapsed() < budget {
            if let Ok(event) = rx.recv_timeout(Duration::from_millis(50)) {
                check(event, &mut failure);
            }
            if failure.is_some() {
                break;
            }
            progress(stats.hashes() as f64 / start.elapsed().as_secs_f64());
        }
        let elapsed = start.elapsed().as_secs_f64();
        dispatcher.stop();
        while dispatcher.running() > 0 {
            if let Ok(event) = rx.recv_timeout(Duration::from_millis(5)) {
                check(event, &mut failure);
            }
        }
        elapsed
    });
    while let Ok(event) = rx.try_recv() {
        check(event, &mut failure);
    }
    if let Some(error) = failure {
        return Err(BackendFailed(error));
    }
    Ok(Together {
        hashes: stats.hashes(),
        hw_errors: stats.hw_errors(),
        seconds: elapsed,
    })
}

/// How many events may wait between the backend workers and whoever drains them (a worker
/// waits for room: the candidates of a scan are capped, so this is a few scans' worth).
pub const EVENT_QUEUE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::{CpuBackend, Kernel};
    use crate::work::tests_support::easy_work;

    fn cpu() -> Backend {
        Backend::Cpu(CpuBackend::new(Kernel::best(), 1).unwrap())
    }

    #[test]
    fn only_clean_work_makes_older_solutions_stale() {
        let d = Dispatcher::new(Arc::new(Stats::new([])));
        d.publish(easy_work(true, 0));
        let found = |epoch| Found {
            work: Arc::new(easy_work(true, 0)),
            roll: easy_work(true, 0).roll(0).unwrap(),
            header: crate::chain::Header::from_bytes([0; 80]),
            epoch,
            backend: 0,
            candidate: Candidate {
                nonce: 0,
                digest: [0; 32],
            },
            at: Instant::now(),
        };
        let a = found(1);
        assert!(!d.is_stale(&a));
        d.publish(easy_work(false, 0));
        assert!(
            !d.is_stale(&a),
            "non-clean work keeps older solutions valid"
        );
        d.withdraw();
        assert!(!d.is_stale(&a), "withdrawing is not a clean job");
        d.publish(easy_work(true, 0));
        assert!(d.is_stale(&a));
        assert!(!d.is_stale(&found(2)));
    }

    #[test]
    fn an_exhausted_roll_space_is_counted_and_no_header_is_hashed_twice() {
        // One roll only (no version bits, fixed root) for two backends: one hashes it, the
        // other waits.
        let backends = [cpu(), cpu()];
        let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
        let d = Dispatcher::new(Arc::clone(&stats));
        d.publish(easy_work(true, 0));
        d.run(&backends, &|_| {}, || {
            std::thread::sleep(Duration::from_millis(300))
        });
        assert_eq!(Stats::get(&stats.exhausted), 1);
        let hashed: Vec<u64> = stats
            .backends
            .iter()
            .map(|b| Stats::get(&b.hashes))
            .collect();
        assert_eq!(hashed.iter().filter(|&&h| h > 0).count(), 1, "{hashed:?}");
    }

    /// Defect 9: hardware errors a backend's own full check caught were dropped while mining.
    #[test]
    fn backend_hardware_errors_are_counted() {
        let stats = Arc::new(Stats::new(["cpu".to_string()]));
        let d = Dispatcher::new(Arc::clone(&stats));
        d.publish(easy_work(true, 0));
        let current = d.current().unwrap();
        let assigned = d.assign(&current).unwrap();
        let report = ScanReport {
            hashes: 10,
            hw_errors: 3,
            ..ScanReport::default()
        };
        d.account(0, &assigned, report, &|_| {});
        assert_eq!(stats.hw_errors(), 3);
        assert_eq!(stats.hashes(), 10);
    }

    #[test]
    fn withdrawn_work_is_left_within_a_batch() {
        let backends = [cpu()];
        let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
        let d = Dispatcher::new(Arc::clone(&stats));
        d.publish(easy_work(true, 0x1fff_e000));
        d.run(&backends, &|_| {}, || {
            std::thread::sleep(Duration::from_millis(200));
            d.withdraw();
            std::thread::sleep(Duration::from_millis(100));
            let before = stats.hashes();
            std::thread::sleep(Duration::from_millis(200));
            assert!(before > 0);
            assert_eq!(stats.hashes(), before, "nothing hashed after withdraw");
        });
        assert!(stats.max_switch() < Duration::from_millis(100));
    }

    /// Issue 15: a pool's `mining.set_difficulty 1e-300` made every hash a solution (3 GB in
    /// 16 s, the rate at 2%). The backends search a target clamped to the measured rate.
    #[test]
    fn a_target_every_hash_meets_is_clamped_to_the_measured_rate() {
        let backends = [cpu()];
        let stats = Arc::new(Stats::new(backends.iter().map(Backend::name)));
        let d = Dispatcher::new(Arc::clone(&stats));
        let mut work = easy_work(true, 0x1fff_e000);
        work.share_target = Target::from_le_bytes([0xff; 32]);
        d.publish(work);
        let found = AtomicU64::new(0);
        let emit = |e: DispatchEvent| {
            if let DispatchEvent::Found(_) = e {
                found.fetch_add(1, Ordering::Relaxed);
            }
        };
        let seconds = 1.0;
        d.run(&backends, &emit, || {
            std::thread::sleep(Duration::from_secs_f64(seconds))
        });
        let hashes = stats.hashes();
        assert!(hashes > 1_000_000, "the rate is kept: {hashes} hashes");
        let found = found.load(Ordering::Relaxed);
        // About MAX_SOLUTION_RATE a second are expected; allow for chance and the first batch.
        assert!(
            found as f64 <= 3.0 * MAX_SOLUTION_RATE * seconds + 64.0,
            "{found} solutions in {seconds} s"
        );
        assert!(found > 0);
        assert!(d.share_floor().unwrap() < Target::from_le_bytes([0xff; 32]));
    }

    /// A target harder than the floor is searched as it is.
    #[test]
    fn a_normal_target_is_not_clamped() {
        let d = Dispatcher::new(Arc::new(Stats::new(["cpu".to_string()])));
        d.rates[0].store(60e6f64.to_bits(), Ordering::Relaxed);
        let mut work = easy_work(true, 0);
        work.share_target = crate::chain::difficulty_target(0.01).unwrap();
        assert_eq!(d.job_target(&work), work.share_target);
        work.share_target = crate::chain::difficulty_target(1e-9).unwrap();
        let floor = d.job_target(&work);
        let difficulty = crate::chain::target_difficulty(&floor);
        // 60 MH/s at 32 solutions a second: difficulty 60e6 / (32 * 2^32).
        assert!((difficulty / 4.365e-4 - 1.0).abs() < 0.01, "{difficulty}");
    }
}
