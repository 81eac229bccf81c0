//! Per-backend hash counts sampled over time.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Stats;

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
}
