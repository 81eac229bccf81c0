//! The one place counters live: hashes and hardware errors per backend (fed by the
//! dispatcher), solutions by outcome (fed by the mining loop from what sources report), stale
//! drops, switch latency and roll exhaustion. Read by the periodic status line and the summary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
        }
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

    /// A backend left stale work `latency` after the switch began.
    pub fn record_switch(&self, latency: Duration) {
        self.max_switch_nanos
            .fetch_max(latency.as_nanos() as u64, Ordering::Relaxed);
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
            "summary: accepted {} rejected {} kept {} stale {} hashes {} hw_errors {} switches {} max_switch_ms {:.1} exhausted {}",
            Self::get(&self.accepted),
            Self::get(&self.rejected),
            Self::get(&self.kept),
            Self::get(&self.stale),
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
        s.record_switch(Duration::from_millis(3));
        s.record_switch(Duration::from_millis(1));
        assert_eq!((s.hashes(), s.hw_errors()), (12, 2));
        assert_eq!(s.max_switch(), Duration::from_millis(3));
        assert!(s.summary_line().contains("hashes 12 hw_errors 2"));
    }
}
