//! The one place counters live: hashes and hardware errors per backend (fed by the
//! dispatcher), solutions by outcome (fed by the mining loop from what sources report), stale
//! drops, switch latency and roll exhaustion. Read by the periodic status line and the summary.

use crate::algo::Algo;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod format;
mod history;
mod jd;
mod pool;

pub use format::{format_clock, format_difficulty, format_duration, format_hashrate};
pub use history::RateHistory;
pub use jd::JdStatus;
pub use pool::{PoolStats, MAX_REASONS, OTHER_REASONS};

/// Raises a non-negative f64 held as bits to `value` if that is higher (such floats order
/// as their bits do).
fn raise(bits: &AtomicU64, value: f64) {
    if value.is_finite() && value > 0.0 {
        bits.fetch_max(value.to_bits(), Ordering::Relaxed);
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
