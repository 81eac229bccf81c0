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
use crate::chain::Header;
use crate::job::{Generation, Job, NonceRange, NONCE_SPACE};
use crate::stats::Stats;
use crate::verify::Candidate;
use crate::work::{Roll, Work};

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
}

impl Dispatcher {
    /// A dispatcher counting into `stats` (one entry per backend, in the order of `run`).
    pub fn new(stats: Arc<Stats>) -> Self {
        Dispatcher {
            stats,
            generation: Generation::new(),
            epoch: AtomicU64::new(0),
            current: Mutex::new(None),
            stop: AtomicBool::new(false),
            switch_began: Mutex::new(None),
            live: AtomicUsize::new(0),
            nonces_per_roll: NONCE_SPACE,
        }
    }

    /// Testing aid: move to the next roll (version bits, extranonce2) after `n` nonces
    /// instead of 2^32, so that a CPU rolls within a short test.
    pub fn with_nonces_per_roll(mut self, n: u64) -> Self {
        self.nonces_per_roll = n.clamp(1, NONCE_SPACE);
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
        *current = Some(Arc::new(Current {
            work: Arc::new(work),
            generation,
            epoch,
            next_roll: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
        }));
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
        std::thread::scope(|s| {
            for (index, backend) in backends.into_iter().enumerate() {
                std::thread::Builder::new()
                    .name(format!("hashrig-backend-{index}"))
                    .spawn_scoped(s, move || self.work_loop(index, backend, emit))
                    .expect("spawn a backend worker");
            }
            let result = body();
            self.stop.store(true, Ordering::Release);
            self.begin_switch();
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
            let range = NonceRange::from_start(a.next as u32, backend.next_batch(last));
            a.next = range.end();
            let started = Instant::now();
            match backend.scan(&a.job, range, &self.generation) {
                Ok(report) => {
                    last = Some((report.hashes, started.elapsed()));
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
            work.share_target,
            NonceRange::FULL,
            current.generation,
        );
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
        Stats::add(&self.stats.found, report.candidates.len() as u64);
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
}
