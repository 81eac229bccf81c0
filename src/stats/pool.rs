//! Counters of one pool.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{percent, Stats};
use crate::algo::Algo;

/// Distinct reject reasons kept per pool; later ones are counted under [`OTHER_REASONS`].
pub const MAX_REASONS: usize = 16;
/// The bucket for reject reasons beyond [`MAX_REASONS`].
pub const OTHER_REASONS: &str = "(other reasons)";
const MAX_REASON_CHARS: usize = 80;

/// Counters of one pool (a Stratum source registers its pools once, at start).
#[derive(Debug)]
pub struct PoolStats {
    /// The pool's URL as given (without credentials).
    pub url: String,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    /// Shares not sent (job replaced, session lost) or that the pool called stale.
    pub stale: AtomicU64,
    /// Submits the pool did not answer in time (counted, not retried).
    pub unanswered: AtomicU64,
    /// Shares that also met the network target (the pool submits the block).
    pub block_candidates: AtomicU64,
    /// Sessions that reached work (subscribed and authorized).
    pub connects: AtomicU64,
    /// Times mining moved away from this pool to another one.
    pub failovers: AtomicU64,
    /// True while this pool's work is being mined.
    pub in_use: AtomicBool,
    /// True while a session with this pool is logged in (in use or not: a better pool being
    /// tried again, one being left).
    pub connected: AtomicBool,
    /// Submit path: from a backend reporting a share to its line written to the pool.
    submits: AtomicU64,
    submit_nanos: AtomicU64,
    max_submit_nanos: AtomicU64,
    /// The share difficulty of the work being mined (f64 bits).
    difficulty: AtomicU64,
    /// The highest difficulty a verified solution for this pool reached (f64 bits).
    pub(super) best_share: AtomicU64,
    /// Sums of the difficulties of accepted, rejected and stale shares (cgminer's
    /// "Difficulty Accepted/Rejected/Stale"; the accepted one gives the effective hash rate).
    accepted_difficulty: Mutex<f64>,
    rejected_difficulty: Mutex<f64>,
    stale_difficulty: Mutex<f64>,
    /// The difficulty of the last share answered (f64 bits).
    last_share_difficulty: AtomicU64,
    rejected_by_reason: Mutex<BTreeMap<String, u64>>,
    /// When the pool last accepted a share.
    last_accepted: Mutex<Option<Instant>>,
}

impl PoolStats {
    pub(super) fn new(url: String) -> Self {
        PoolStats {
            url,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            block_candidates: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            in_use: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            submits: AtomicU64::new(0),
            submit_nanos: AtomicU64::new(0),
            max_submit_nanos: AtomicU64::new(0),
            difficulty: AtomicU64::new(0),
            best_share: AtomicU64::new(0),
            accepted_difficulty: Mutex::new(0.0),
            rejected_difficulty: Mutex::new(0.0),
            stale_difficulty: Mutex::new(0.0),
            last_share_difficulty: AtomicU64::new(0),
            rejected_by_reason: Mutex::new(BTreeMap::new()),
            last_accepted: Mutex::new(None),
        }
    }

    pub fn set_difficulty(&self, difficulty: f64) {
        self.difficulty
            .store(difficulty.to_bits(), Ordering::Relaxed);
    }

    pub fn difficulty(&self) -> f64 {
        f64::from_bits(self.difficulty.load(Ordering::Relaxed))
    }

    /// How long ago the pool last accepted a share (`None` before the first).
    pub fn last_share_age(&self) -> Option<Duration> {
        self.last_accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// The highest difficulty a verified solution for this pool reached (0 before any).
    pub fn best_share(&self) -> f64 {
        f64::from_bits(self.best_share.load(Ordering::Relaxed))
    }

    /// The rejected share as a percentage of those answered (0 when none).
    pub fn reject_percent(&self) -> f64 {
        percent(Stats::get(&self.rejected), Stats::get(&self.accepted))
    }

    /// A share of `difficulty` was accepted.
    pub fn accept(&self, difficulty: f64) {
        Stats::add(&self.accepted, 1);
        *self.last_accepted.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        add_difficulty(&self.accepted_difficulty, difficulty);
        self.last_share_difficulty
            .store(difficulty.to_bits(), Ordering::Relaxed);
    }

    /// A share of `difficulty` was stale (not sent: its job was replaced or its session
    /// lost; or the pool called it stale).
    pub fn stale(&self, difficulty: f64) {
        Stats::add(&self.stale, 1);
        add_difficulty(&self.stale_difficulty, difficulty);
    }

    /// (accepted, rejected, stale): the sums of the shares' difficulties.
    pub fn difficulty_sums(&self) -> (f64, f64, f64) {
        let get = |m: &Mutex<f64>| *m.lock().unwrap_or_else(|p| p.into_inner());
        (
            get(&self.accepted_difficulty),
            get(&self.rejected_difficulty),
            get(&self.stale_difficulty),
        )
    }

    /// The difficulty of the last share the pool answered (0 before any).
    pub fn last_share_difficulty(&self) -> f64 {
        f64::from_bits(self.last_share_difficulty.load(Ordering::Relaxed))
    }

    /// A share went out `latency` after its backend reported it.
    pub fn record_submit(&self, latency: Duration) {
        let nanos = latency.as_nanos() as u64;
        Stats::add(&self.submits, 1);
        Stats::add(&self.submit_nanos, nanos);
        self.max_submit_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// (mean, max) of the submit path so far.
    pub fn submit_latency(&self) -> (Duration, Duration) {
        let n = Stats::get(&self.submits).max(1);
        (
            Duration::from_nanos(Stats::get(&self.submit_nanos) / n),
            Duration::from_nanos(Stats::get(&self.max_submit_nanos)),
        )
    }

    /// A share was refused for `reason` (the pool's words: clipped, escaped, and counted under
    /// [`OTHER_REASONS`] once [`MAX_REASONS`] distinct ones are kept).
    pub fn reject(&self, reason: &str, difficulty: f64) {
        Stats::add(&self.rejected, 1);
        add_difficulty(&self.rejected_difficulty, difficulty);
        self.last_share_difficulty
            .store(difficulty.to_bits(), Ordering::Relaxed);
        let reason = crate::ui::output::clip(reason, MAX_REASON_CHARS);
        let mut reasons = self
            .rejected_by_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = if reasons.contains_key(&reason) || reasons.len() < MAX_REASONS {
            reason
        } else {
            OTHER_REASONS.to_string()
        };
        *reasons.entry(key).or_insert(0) += 1;
    }

    pub fn rejected_by_reason(&self) -> BTreeMap<String, u64> {
        self.rejected_by_reason
            .lock()
            .expect("no panic while held")
            .clone()
    }

    /// Hashes per second the accepted shares stand for over `elapsed`: each share of
    /// difficulty D takes D x 2^32 hashes on average (D x 2^16 for scrypt's pool difficulty).
    pub fn effective_hashrate(&self, elapsed: Duration, algo: Algo) -> f64 {
        let work = *self
            .accepted_difficulty
            .lock()
            .expect("no panic while held");
        work * algo.hashes_per_share_difficulty() / elapsed.as_secs_f64().max(1e-9)
    }
}

/// Adds a share's difficulty to a sum (a value that is not a finite positive number adds
/// nothing).
fn add_difficulty(sum: &Mutex<f64>, difficulty: f64) {
    if difficulty.is_finite() && difficulty > 0.0 {
        *sum.lock().unwrap_or_else(|p| p.into_inner()) += difficulty;
    }
}
