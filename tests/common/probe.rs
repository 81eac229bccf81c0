//! Watching a running hashrig from outside: resident memory, threads and open file
//! descriptors from /proc, sampled in a thread (Linux).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One look at a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub at: Duration,
    pub rss_kb: u64,
    pub threads: u64,
    pub fds: u64,
}

/// A process's memory, threads and fds now (`None` once it has exited).
pub fn sample(pid: u32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    if status
        .lines()
        .any(|l| l.starts_with("State:") && l.contains("zombie"))
    {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Some((field("VmRSS:"), field("Threads:"), fds))
}

/// Samples a process every `every` until dropped or [`Probe::finish`]ed.
pub struct Probe {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    pub fn watch(pid: u32, every: Duration) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (stop2, samples2) = (Arc::clone(&stop), Arc::clone(&samples));
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match sample(pid) {
                    Some((rss_kb, threads, fds)) => samples2.lock().unwrap().push(Sample {
                        at: started.elapsed(),
                        rss_kb,
                        threads,
                        fds,
                    }),
                    None => return,
                }
                std::thread::sleep(every);
            }
        });
        Probe {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    /// The largest resident set seen so far, in MB.
    pub fn max_rss_mb(&self) -> f64 {
        self.samples().iter().map(|s| s.rss_kb).max().unwrap_or(0) as f64 / 1024.0
    }

    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The ceiling every hostile input is held to, with one CPU thread (issue 15).
pub const RSS_CEILING_MB: f64 = 64.0;
