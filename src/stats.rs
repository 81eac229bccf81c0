//! The one place counters live: hashes and hardware errors per backend (fed by the
//! dispatcher), solutions by outcome (fed by the mining loop from what sources report), stale
//! drops, switch latency and roll exhaustion. Read by the periodic status line and the summary.

use crate::algo::Algo;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `rate` hashes per second in human units: "27.31 MH/s".
pub fn format_hashrate(rate: f64) -> String {
    const UNITS: [&str; 6] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
    let mut value = rate.max(0.0);
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// A difficulty for people: 0.0047, 12.3k, 4.56M, 1.23T (SI steps of 1000).
pub fn format_difficulty(d: f64) -> String {
    if !d.is_finite() || d <= 0.0 {
        return "-".into();
    }
    if d < 1e-3 {
        return format!("{d:.3e}");
    }
    if d < 1000.0 {
        let digits = if d >= 100.0 {
            0
        } else if d >= 1.0 {
            2
        } else {
            4
        };
        return format!("{d:.digits$}");
    }
    const UNITS: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = d;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// A duration for people: 45s, 12m, 3.5h, 2.1d, 4.2y.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "never".into();
    }
    let (value, unit) = if seconds < 60.0 {
        (seconds, "s")
    } else if seconds < 3600.0 {
        (seconds / 60.0, "m")
    } else if seconds < 86_400.0 {
        (seconds / 3600.0, "h")
    } else if seconds < 365.25 * 86_400.0 {
        (seconds / 86_400.0, "d")
    } else {
        (seconds / (365.25 * 86_400.0), "y")
    };
    if value < 10.0 && unit != "s" {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// "12:04:05" (hours can exceed 24).
pub fn format_clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Raises a non-negative f64 held as bits to `value` if that is higher (such floats order
/// as their bits do).
fn raise(bits: &AtomicU64, value: f64) {
    if value.is_finite() && value > 0.0 {
        bits.fetch_max(value.to_bits(), Ordering::Relaxed);
    }
}

/// Per-backend hash counts sampled about once a second (ten minutes of them): the 5 s
/// rates, sparklines and charts of the status block and the monitoring API.
#[derive(Debug, Default)]
pub struct RateHistory {
    samples: VecDeque<(Instant, Vec<u64>)>,
}

impl RateHistory {
    const KEEP: usize = 600;
    /// Samples closer than this to the last one are not taken (the status thread asks every
    /// 100 ms; the API's samplers every [`SAMPLE_EVERY`](crate::ui::api::SAMPLE_EVERY), which
    /// must stay well above this, or a tick after a late one is dropped).
    pub(crate) const MIN_GAP: Duration = Duration::from_millis(900);

    /// Takes a sample, unless the last one is under [`Self::MIN_GAP`] old.
    pub fn sample(&mut self, stats: &Stats) {
        self.sample_at(Instant::now(), stats);
    }

    fn sample_at(&mut self, now: Instant, stats: &Stats) {
        if self
            .samples
            .back()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) < Self::MIN_GAP)
        {
            return;
        }
        let counts = stats
            .backends
            .iter()
            .map(|b| b.hashes.load(Ordering::Relaxed))
            .collect();
        self.push(now, counts);
    }

    fn push(&mut self, at: Instant, counts: Vec<u64>) {
        self.samples.push_back((at, counts));
        while self.samples.len() > Self::KEEP {
            self.samples.pop_front();
        }
    }

    /// Each backend's rate over about the last `window`.
    pub fn rates(&self, window: Duration) -> Vec<f64> {
        let Some((t1, last)) = self.samples.back() else {
            return Vec::new();
        };
        let first = self
            .samples
            .iter()
            .find(|(t, _)| t1.duration_since(*t) <= window)
            .unwrap_or(&self.samples[0]);
        let dt = t1.duration_since(first.0).as_secs_f64();
        last.iter()
            .zip(&first.1)
            .map(|(b, a)| if dt > 0.0 { (b - a) as f64 / dt } else { 0.0 })
            .collect()
    }

    /// Rates per backend in the last `n` buckets of `width` each, oldest first.
    pub fn buckets(&self, width: Duration, n: usize) -> Vec<Vec<f64>> {
        let Some((t1, _)) = self.samples.back() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for k in (0..n).rev() {
            let end = t1.checked_sub(width * k as u32);
            let start = end.and_then(|e| e.checked_sub(width));
            let (Some(end), Some(start)) = (end, start) else {
                continue;
            };
            let a = self.samples.iter().find(|(t, _)| *t >= start);
            let b = self.samples.iter().rev().find(|(t, _)| *t <= end);
            if let (Some((ta, ca)), Some((tb, cb))) = (a, b) {
                let dt = tb.saturating_duration_since(*ta).as_secs_f64();
                if dt > 0.0 {
                    out.push(
                        cb.iter()
                            .zip(ca)
                            .map(|(y, x)| (y - x) as f64 / dt)
                            .collect(),
                    );
                }
            }
        }
        out
    }

    /// (sample time, counts) pairs, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &(Instant, Vec<u64>)> {
        self.samples.iter()
    }
}

/// Counters of one backend.
#[derive(Debug)]
pub struct BackendStats {
    pub name: String,
    pub hashes: AtomicU64,
    /// Kernel results the backend's own full check refused, plus candidates that failed
    /// verification against the reference hash.
    pub hw_errors: AtomicU64,
    /// Set when the backend stopped for good (device lost).
    pub failed: AtomicBool,
    /// The longest time this backend took to leave work a switch replaced.
    max_switch_nanos: AtomicU64,
}

impl BackendStats {
    pub fn max_switch(&self) -> Duration {
        Duration::from_nanos(self.max_switch_nanos.load(Ordering::Relaxed))
    }
}

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
    best_share: AtomicU64,
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
    fn new(url: String) -> Self {
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

/// Every counter of a run.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    pub backends: Vec<BackendStats>,
    /// Candidates the backends reported (before verification and stale drops).
    pub found: AtomicU64,
    /// Verified solutions handed to the source.
    pub sent: AtomicU64,
    /// Solutions of work a clean job had replaced (dropped by the dispatcher, never sent), plus
    /// those the source reported as stale.
    pub stale: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    /// Solutions the source could not get answered yet (kept and retried).
    pub kept: AtomicU64,
    /// Accepted solutions that were blocks.
    pub blocks: AtomicU64,
    /// Work whose whole roll space was searched before a new one came.
    pub exhausted: AtomicU64,
    pub switches: AtomicU64,
    max_switch_nanos: AtomicU64,
    /// Solutions sent that were never answered (counted, not retried).
    pub unanswered: AtomicU64,
    /// Solutions dropped unsent because there were too many: over a backend's per-scan cap,
    /// over the share-rate cap, or the rest of a solo work's solutions once it found its block.
    pub dropped: AtomicU64,
    /// A pool source's pools, in priority order (empty for other sources).
    pools: OnceLock<Vec<PoolStats>>,
    algo: OnceLock<Algo>,
    /// The backends' hash rate measured before mining (f64 bits; 0 when not measured).
    nominal: AtomicU64,
    /// The id of the work being mined (a block height, a pool's job).
    work: Mutex<String>,
    /// The highest difficulty any verified solution reached (f64 bits).
    best_share: AtomicU64,
    /// The network difficulty of the work being mined (f64 bits; 0 before any work).
    network_difficulty: AtomicU64,
    /// Job declaration mode: where it stands (`None` for other sources).
    jd: Mutex<Option<JdStatus>>,
}

/// Job declaration mode as the views show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JdStatus {
    /// The pool's Job Declaration Server.
    pub jds: String,
    /// `declared` (the pool's custom job on our template is mined), `pending` (a declaration
    /// of the newest template is in flight: our template is mined solo meanwhile) or
    /// `fallback` (solo on the fallback payout).
    pub state: &'static str,
    /// Why it is in fallback ("" otherwise).
    pub reason: String,
    /// The height of the declared job being mined (0 when none).
    pub height: u32,
    /// Templates declared, accepted by the JDS, refused (by error code), and transactions
    /// the JDS asked for and got.
    pub declared: u64,
    pub accepted: u64,
    pub refused: BTreeMap<String, u64>,
    pub provided: u64,
    /// Custom jobs the pool took, and refused.
    pub custom_jobs: u64,
    pub custom_refused: u64,
    /// Times mining fell back to solo.
    pub fallbacks: u64,
}

impl JdStatus {
    /// Declarations refused, all codes together.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    /// One line for the summary (tests read it).
    pub fn line(&self) -> String {
        let codes: Vec<String> = self
            .refused
            .iter()
            .map(|(c, n)| format!("{c:?}: {n}"))
            .collect();
        format!(
            "job declaration {}: state {}{} declarations {} accepted {} refused {}{} provided {} custom_jobs {} custom_refused {} fallbacks {}",
            self.jds,
            self.state,
            if self.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.reason)
            },
            self.declared,
            self.accepted,
            self.refused_total(),
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            },
            self.provided,
            self.custom_jobs,
            self.custom_refused,
            self.fallbacks,
        )
    }
}

/// `part` as a percentage of `part + rest` (0 when both are 0).
pub fn percent(part: u64, rest: u64) -> f64 {
    let all = part + rest;
    if all == 0 {
        0.0
    } else {
        100.0 * part as f64 / all as f64
    }
}

impl Stats {
    pub fn new(backend_names: impl IntoIterator<Item = String>) -> Self {
        Stats {
            started: Instant::now(),
            backends: backend_names
                .into_iter()
                .map(|name| BackendStats {
                    name,
                    hashes: AtomicU64::new(0),
                    hw_errors: AtomicU64::new(0),
                    failed: AtomicBool::new(false),
                    max_switch_nanos: AtomicU64::new(0),
                })
                .collect(),
            found: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            max_switch_nanos: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            pools: OnceLock::new(),
            nominal: AtomicU64::new(0),
            work: Mutex::new(String::new()),
            best_share: AtomicU64::new(0),
            network_difficulty: AtomicU64::new(0),
            jd: Mutex::new(None),
            algo: OnceLock::new(),
        }
    }

    /// The proof of work mined (set once, by the mining loop): share difficulties are on its
    /// scale.
    pub fn set_algo(&self, algo: Algo) {
        let _ = self.algo.set(algo);
    }

    pub fn algo(&self) -> Algo {
        self.algo.get().copied().unwrap_or_default()
    }

    /// Job declaration mode's status (`None` for other sources).
    pub fn jd(&self) -> Option<JdStatus> {
        self.jd.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_jd(&self, status: JdStatus) {
        *self.jd.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    /// A verified solution of `difficulty` (for `pool`, if a pool's): the best share so far?
    pub fn record_share(&self, difficulty: f64, pool: Option<usize>) {
        raise(&self.best_share, difficulty);
        if let Some(p) = pool.and_then(|i| self.pools().get(i)) {
            raise(&p.best_share, difficulty);
        }
    }

    /// The highest difficulty any verified solution reached (0 before any).
    pub fn best_share(&self) -> f64 {
        f64::from_bits(self.best_share.load(Ordering::Relaxed))
    }

    pub fn set_network_difficulty(&self, difficulty: f64) {
        if difficulty.is_finite() && difficulty >= 0.0 {
            self.network_difficulty
                .store(difficulty.to_bits(), Ordering::Relaxed);
        }
    }

    /// The network difficulty of the work being mined (0 before any work).
    pub fn network_difficulty(&self) -> f64 {
        f64::from_bits(self.network_difficulty.load(Ordering::Relaxed))
    }

    /// Seconds to a block on average at `rate` H/s (infinite at 0 H/s or before any work).
    pub fn expected_block_seconds(&self, rate: f64) -> f64 {
        let d = self.network_difficulty();
        if d <= 0.0 || rate <= 0.0 {
            f64::INFINITY
        } else {
            d * 4_294_967_296.0 / rate
        }
    }

    /// Effective hash rate of all pools together (from accepted shares' difficulties).
    pub fn effective_hashrate(&self) -> f64 {
        let up = self.uptime();
        self.pools()
            .iter()
            .map(|p| p.effective_hashrate(up, self.algo()))
            .sum()
    }

    /// The summary at exit, for people: time, rates, shares with the reject rate, best
    /// share, blocks, errors; a line per pool and per device. (The raw counters follow it,
    /// and are in `/v1/summary`.)
    pub fn human_summary(&self, solo: bool) -> Vec<String> {
        let up = self.uptime();
        let secs = up.as_secs_f64().max(1e-9);
        let average = self.hashes() as f64 / secs;
        let accepted = Self::get(&self.accepted);
        let rejected = Self::get(&self.rejected);
        let mut lines = vec![format!(
            "ran {} on {} device(s)",
            format_clock(up),
            self.backends.len()
        )];
        let mut rate = format!("  hash rate   {} average", format_hashrate(average));
        if !self.pools().is_empty() {
            rate += &format!(
                ", {} effective (accepted shares)",
                format_hashrate(self.effective_hashrate())
            );
        }
        lines.push(rate);
        lines.push(format!(
            "  {:<12}accepted {accepted}, rejected {rejected} ({:.1}%), stale {}",
            if solo { "solutions" } else { "shares" },
            percent(rejected, accepted),
            Self::get(&self.stale),
        ));
        lines.push(format!(
            "  best share  {}{}",
            format_difficulty(self.best_share()),
            if solo && self.network_difficulty() > 0.0 {
                format!(
                    " (network difficulty {}; a block every {} on average at {})",
                    format_difficulty(self.network_difficulty()),
                    format_duration(self.expected_block_seconds(average)),
                    format_hashrate(average)
                )
            } else {
                String::new()
            }
        ));
        lines.push(format!(
            "  blocks      {} | hardware errors {}",
            Self::get(&self.blocks),
            self.hw_errors()
        ));
        for (i, p) in self.pools().iter().enumerate() {
            lines.push(format!(
                "  pool {i} {}: accepted {} rejected {} ({:.1}%) stale {} | best {} | {} effective | connects {} failovers {}",
                p.url,
                Self::get(&p.accepted),
                Self::get(&p.rejected),
                p.reject_percent(),
                Self::get(&p.stale),
                format_difficulty(p.best_share()),
                format_hashrate(p.effective_hashrate(up, self.algo())),
                Self::get(&p.connects),
                Self::get(&p.failovers),
            ));
        }
        for b in &self.backends {
            lines.push(format!(
                "  device {}: {} average, hardware errors {}{}",
                b.name,
                format_hashrate(Self::get(&b.hashes) as f64 / secs),
                Self::get(&b.hw_errors),
                if b.failed.load(Ordering::Relaxed) {
                    " (failed)"
                } else {
                    ""
                },
            ));
        }
        lines
    }

    /// Registers a pool source's pools (once; later calls are ignored).
    pub fn register_pools(&self, urls: impl IntoIterator<Item = String>) {
        let _ = self
            .pools
            .set(urls.into_iter().map(PoolStats::new).collect());
    }

    /// The registered pools (empty when the source is not a pool).
    pub fn pools(&self) -> &[PoolStats] {
        self.pools.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// One line per pool for the summary (tests read them).
    pub fn pool_lines(&self) -> Vec<String> {
        let elapsed = self.uptime();
        self.pools()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let reasons: Vec<String> = p
                    .rejected_by_reason()
                    .iter()
                    .map(|(reason, n)| format!("{reason:?}: {n}"))
                    .collect();
                format!(
                    "pool {i} {}: accepted {} rejected {}{} stale {} unanswered {} block_candidates {} difficulty {} connects {} failovers {} in_use {} effective {} submit_ms_mean {:.3} submit_ms_max {:.3}",
                    p.url,
                    Self::get(&p.accepted),
                    Self::get(&p.rejected),
                    if reasons.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", reasons.join(", "))
                    },
                    Self::get(&p.stale),
                    Self::get(&p.unanswered),
                    Self::get(&p.block_candidates),
                    p.difficulty(),
                    Self::get(&p.connects),
                    Self::get(&p.failovers),
                    p.in_use.load(Ordering::Relaxed),
                    format_hashrate(p.effective_hashrate(elapsed, self.algo())),
                    p.submit_latency().0.as_secs_f64() * 1000.0,
                    p.submit_latency().1.as_secs_f64() * 1000.0,
                )
            })
            .collect()
    }

    /// The work being mined ("" when none).
    pub fn work(&self) -> String {
        self.work.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_work(&self, id: &str) {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        w.clear();
        w.push_str(id);
    }

    /// The hash rate measured before mining started (0 when not measured).
    pub fn nominal(&self) -> f64 {
        f64::from_bits(self.nominal.load(Ordering::Relaxed))
    }

    pub fn set_nominal(&self, rate: f64) {
        self.nominal.store(rate.to_bits(), Ordering::Relaxed);
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Hashes of every backend.
    pub fn hashes(&self) -> u64 {
        self.backends
            .iter()
            .map(|b| b.hashes.load(Ordering::Relaxed))
            .sum()
    }

    /// Hardware errors of every backend.
    pub fn hw_errors(&self) -> u64 {
        self.backends
            .iter()
            .map(|b| b.hw_errors.load(Ordering::Relaxed))
            .sum()
    }

    /// `backend` left stale work `latency` after the switch began.
    pub fn record_switch(&self, backend: usize, latency: Duration) {
        let nanos = latency.as_nanos() as u64;
        self.max_switch_nanos.fetch_max(nanos, Ordering::Relaxed);
        if let Some(b) = self.backends.get(backend) {
            b.max_switch_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// The longest time from a switch to new work until the last backend left the old one.
    pub fn max_switch(&self) -> Duration {
        Duration::from_nanos(self.max_switch_nanos.load(Ordering::Relaxed))
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The summary line printed at exit (tests read it).
    pub fn summary_line(&self) -> String {
        format!(
            "summary: found {} sent {} accepted {} rejected {} kept {} stale {} unanswered {} dropped {} hashes {} hw_errors {} switches {} max_switch_ms {:.1} exhausted {}",
            Self::get(&self.found),
            Self::get(&self.sent),
            Self::get(&self.accepted),
            Self::get(&self.rejected),
            Self::get(&self.kept),
            Self::get(&self.stale),
            Self::get(&self.unanswered),
            Self::get(&self.dropped),
            self.hashes(),
            self.hw_errors(),
            Self::get(&self.switches),
            self.max_switch().as_secs_f64() * 1000.0,
            Self::get(&self.exhausted),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sampler_one_period_on_samples_even_after_a_late_tick() {
        let s = Stats::new(["cpu".to_string()]);
        let mut h = RateHistory::default();
        let t0 = Instant::now();
        let every = crate::ui::api::SAMPLE_EVERY;
        // The first tick's handler ran 90 ms late (a busy machine); the next is on time.
        h.sample_at(t0 + Duration::from_millis(90), &s);
        h.sample_at(t0 + every, &s);
        h.sample_at(t0 + 2 * every, &s);
        assert_eq!(h.samples.len(), 3);
        // Two samplers at nearly the same moment: one sample.
        h.sample_at(t0 + 2 * every + Duration::from_millis(20), &s);
        assert_eq!(h.samples.len(), 3);
    }

    #[test]
    fn difficulties_and_durations_for_people() {
        assert_eq!(format_difficulty(0.0046565), "0.0047");
        assert_eq!(format_difficulty(12.345), "12.35");
        assert_eq!(format_difficulty(123_456.0), "123.46k");
        assert_eq!(format_difficulty(1.5e14), "150.00T");
        assert_eq!(format_difficulty(f64::INFINITY), "-");
        assert_eq!(format_difficulty(0.0), "-");
        assert_eq!(format_difficulty(2e-6), "2.000e-6");
        assert_eq!(format_duration(42.0), "42s");
        assert_eq!(format_duration(5400.0), "1.5h");
        assert_eq!(format_duration(3.0 * 365.25 * 86_400.0), "3.0y");
        assert_eq!(format_duration(f64::INFINITY), "never");
    }

    #[test]
    fn best_share_and_expected_block_time() {
        let s = Stats::new(["cpu".to_string()]);
        s.register_pools(["p".to_string()]);
        s.record_share(3.0, Some(0));
        s.record_share(2.0, None);
        s.record_share(f64::NAN, Some(0));
        assert_eq!((s.best_share(), s.pools()[0].best_share()), (3.0, 3.0));
        s.record_share(7.0, None);
        assert_eq!((s.best_share(), s.pools()[0].best_share()), (7.0, 3.0));
        assert!(s.expected_block_seconds(1e6).is_infinite());
        s.set_network_difficulty(1.0);
        assert!((s.expected_block_seconds(4_294_967_296.0) - 1.0).abs() < 1e-9);
        let text = s.human_summary(true).join("\n");
        assert!(
            text.contains("best share  7.00 (network difficulty 1.00; a block every"),
            "{text}"
        );
    }

    #[test]
    fn rates_over_a_window() {
        let t0 = Instant::now();
        let mut h = RateHistory::default();
        h.push(t0, vec![0]);
        h.push(t0 + Duration::from_secs(1), vec![100]);
        h.push(t0 + Duration::from_secs(11), vec![1100]);
        assert_eq!(h.rates(Duration::from_secs(5)), vec![0.0]);
        assert_eq!(h.rates(Duration::from_secs(20)), vec![100.0]);
        assert_eq!(
            h.buckets(Duration::from_secs(5), 3).last(),
            Some(&vec![100.0])
        );
    }

    #[test]
    fn units() {
        assert_eq!(format_hashrate(0.0), "0.00 H/s");
        assert_eq!(format_hashrate(999.0), "999.00 H/s");
        assert_eq!(format_hashrate(27_310_000.0), "27.31 MH/s");
        assert_eq!(format_hashrate(6.2e9), "6.20 GH/s");
    }

    #[test]
    fn totals_add_up_over_backends() {
        let s = Stats::new(["a".to_string(), "b".to_string()]);
        Stats::add(&s.backends[0].hashes, 5);
        Stats::add(&s.backends[1].hashes, 7);
        Stats::add(&s.backends[1].hw_errors, 2);
        s.record_switch(0, Duration::from_millis(3));
        s.record_switch(1, Duration::from_millis(1));
        assert_eq!((s.hashes(), s.hw_errors()), (12, 2));
        assert_eq!(s.max_switch(), Duration::from_millis(3));
        assert_eq!(s.backends[1].max_switch(), Duration::from_millis(1));
        assert!(s.summary_line().contains("hashes 12 hw_errors 2"));
    }

    /// Issue 15: each share refused with a different reason grew the map without bound
    /// (19k entries, a 3.3 MB summary line).
    #[test]
    fn reject_reasons_are_capped_clipped_and_escaped() {
        let s = Stats::new([]);
        s.register_pools(["p".to_string()]);
        let p = &s.pools()[0];
        for i in 0..10_000 {
            p.reject(
                &format!("reason {i} \x1b]0;pwned\x07{}", "x".repeat(1000)),
                1.0,
            );
        }
        let reasons = p.rejected_by_reason();
        assert_eq!(reasons.len(), MAX_REASONS + 1);
        assert_eq!(reasons[OTHER_REASONS], 10_000 - MAX_REASONS as u64);
        assert_eq!(Stats::get(&p.rejected), 10_000);
        let line = &s.pool_lines()[0];
        assert!(line.len() < 4096, "{} bytes", line.len());
        assert!(!line.contains('\x1b'), "{line}");
    }
}
