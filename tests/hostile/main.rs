//! Hostile peers against the real binary (issue 15): every input of the table, one
//! test each, with the miner's memory watched from /proc and held under
//! [`common::probe::RSS_CEILING_MB`] with one CPU thread. Each test says which row it is.
//!
//! One test binary of a few (they share tests/common).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod api;
mod nodes;
mod operator;
mod pools;

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::probe::{Probe, Sample, RSS_CEILING_MB};

/// A watched run: started, sampled, stopped with SIGTERM (or SIGINT) after `mine_for`.
pub struct Watched {
    pub out: Output,
    pub samples: Vec<Sample>,
    /// From the signal to the exit.
    pub exit_took: Duration,
    pub seconds: f64,
}

impl Watched {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn max_rss_mb(&self) -> f64 {
        self.samples.iter().map(|s| s.rss_kb).max().unwrap_or(0) as f64 / 1024.0
    }

    /// Memory stayed under the ceiling, the run ended cleanly and quickly.
    pub fn assert_bounded(&self, what: &str) {
        let stderr = self.stderr();
        assert!(
            !self.samples.is_empty(),
            "{what}: the process was not seen running\n{stderr}"
        );
        assert!(
            self.max_rss_mb() < RSS_CEILING_MB,
            "{what}: RSS reached {:.1} MB (ceiling {RSS_CEILING_MB} MB)\n{}",
            self.max_rss_mb(),
            common::clip_text(&stderr, 4000)
        );
        assert!(
            self.out.status.success(),
            "{what}: exit {:?}\n{}",
            self.out.status,
            common::clip_text(&stderr, 4000)
        );
        assert!(
            self.exit_took < Duration::from_secs(2),
            "{what}: took {:?} to exit after the signal",
            self.exit_took
        );
    }

    /// Hashes of the run (summary line).
    pub fn hashes(&self) -> u64 {
        common::miner::summary_hashes(&self.stderr())
    }
}

/// Runs `child` for `mine_for`, sampling it, then sends `signal` and waits for the exit.
pub fn watch(child: Child, mine_for: Duration, signal: &str) -> Watched {
    watch_until(child, mine_for, signal, |_| false)
}

/// [`watch`], stopping early once `done(elapsed)` says so.
pub fn watch_until(
    mut child: Child,
    mine_for: Duration,
    signal: &str,
    mut done: impl FnMut(Duration) -> bool,
) -> Watched {
    let probe = Probe::watch(child.id(), Duration::from_millis(100));
    // The pipes are drained while it runs: a full pipe would stall the miner's logging.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut all);
            }
            all
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    while started.elapsed() < mine_for && !done(started.elapsed()) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let signalled = Instant::now();
    let _ = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let exit_took = signalled.elapsed();
    let _ = child.kill();
    let status = child.wait().unwrap();
    let out = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    Watched {
        out,
        samples: probe.finish(),
        exit_took,
        seconds,
    }
}

fn main() {
    let mut tests = Vec::new();
    tests.extend(pools::tests());
    tests.extend(nodes::tests());
    tests.extend(api::tests());
    tests.extend(operator::tests());
    common::run_tests(tests)
}
