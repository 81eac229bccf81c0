//! The live status block: one compact block at the bottom of the terminal, redrawn in place
//! every second (plain escape codes: no raw mode, no alternate screen, so there is nothing to
//! restore whichever way the process ends; the last block stays as ordinary lines).
//!
//! Per device: name (backend, kernel, threads), hash rate over 5 s and on average, a sparkline
//! of the last minutes, hardware errors. Per source: what it mines on, and per pool the
//! difficulty, accepted / rejected / stale, failovers; blocks found and uptime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stats::{
    format_clock as clock, format_difficulty, format_hashrate, JdStatus, RateHistory, Stats,
};

/// One device's row.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceRow {
    pub name: String,
    pub rate_5s: f64,
    pub rate_avg: f64,
    /// Rates of the last minutes, oldest first (one per 5 s).
    pub spark: Vec<f64>,
    pub hw_errors: u64,
    pub failed: bool,
}

/// One pool's row.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolRow {
    pub url: String,
    pub in_use: bool,
    pub difficulty: f64,
    pub accepted: u64,
    pub rejected: u64,
    pub stale: u64,
    pub failovers: u64,
}

/// What the block shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub source: String,
    /// The work being mined: a block height, a pool's job ("" when waiting).
    pub work: String,
    pub uptime: Duration,
    pub devices: Vec<DeviceRow>,
    pub pools: Vec<PoolRow>,
    pub accepted: u64,
    pub rejected: u64,
    pub stale: u64,
    pub blocks: u64,
    /// The highest difficulty a verified solution reached (0 before any).
    pub best_share: f64,
    /// Solo: the network difficulty, and seconds to a block on average at the 5 s rate.
    pub solo: Option<(f64, f64)>,
    /// Job declaration mode's state and counts.
    pub jd: Option<JdStatus>,
}

impl Snapshot {
    pub fn take(stats: &Stats, history: &RateHistory, source: &str) -> Snapshot {
        let up = stats.uptime();
        let recent = history.rates(Duration::from_secs(5));
        let spark = history.buckets(Duration::from_secs(5), 24);
        Snapshot {
            source: source.to_string(),
            work: stats.work(),
            uptime: up,
            devices: stats
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| DeviceRow {
                    name: b.name.clone(),
                    rate_5s: recent.get(i).copied().unwrap_or(0.0),
                    rate_avg: Stats::get(&b.hashes) as f64 / up.as_secs_f64().max(1e-9),
                    spark: spark
                        .iter()
                        .map(|row| row.get(i).copied().unwrap_or(0.0))
                        .collect(),
                    hw_errors: Stats::get(&b.hw_errors),
                    failed: b.failed.load(Ordering::Relaxed),
                })
                .collect(),
            pools: stats
                .pools()
                .iter()
                .map(|p| PoolRow {
                    url: p.url.clone(),
                    in_use: p.in_use.load(Ordering::Relaxed),
                    difficulty: p.difficulty(),
                    accepted: Stats::get(&p.accepted),
                    rejected: Stats::get(&p.rejected),
                    stale: Stats::get(&p.stale),
                    failovers: Stats::get(&p.failovers),
                })
                .collect(),
            accepted: Stats::get(&stats.accepted),
            rejected: Stats::get(&stats.rejected),
            stale: Stats::get(&stats.stale),
            blocks: Stats::get(&stats.blocks),
            best_share: stats.best_share(),
            solo: (stats.pools().is_empty() && stats.network_difficulty() > 0.0).then(|| {
                let rate: f64 = recent.iter().sum();
                (
                    stats.network_difficulty(),
                    stats.expected_block_seconds(rate),
                )
            }),
            jd: stats.jd(),
        }
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `values` (scaled to their maximum).
pub fn sparkline(values: &[f64]) -> String {
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// The block's lines for `s` on a terminal `width` columns wide and `height` rows high: no
/// line is wider than the terminal, and the block leaves at least one row for the lines that
/// scroll above it. Where a line does not fit, its least useful fields go first (a title keeps
/// the hash rate, a device its rate and errors, a pool its counts); the totals come last and
/// are always shown. `color` adds ANSI colours.
pub fn render(s: &Snapshot, width: usize, height: usize, color: bool) -> Vec<String> {
    use crate::ui::terminal::fit_fields;
    let (bold, dim, red, green, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    let width = width.max(1);
    let total: f64 = s.devices.iter().map(|d| d.rate_5s).sum();
    let title = fit_fields(
        &[
            (
                0,
                format!("{bold}hashrig{reset} {}", format_hashrate(total)),
            ),
            (3, s.source.clone()),
            (
                2,
                if s.work.is_empty() {
                    "no work".to_string()
                } else {
                    format!("work {}", s.work)
                },
            ),
            (1, format!("up {}", clock(s.uptime))),
        ],
        " | ",
        width,
    );
    let mut rows = Vec::new();
    for d in &s.devices {
        let hw = if d.hw_errors > 0 {
            format!("{red}hw {}{reset}", d.hw_errors)
        } else {
            "hw 0".to_string()
        };
        let state = if d.failed {
            format!("{red}failed{reset}")
        } else {
            String::new()
        };
        // The name takes what the other fields leave (at most 28 columns, at least 8).
        let spark = sparkline(&d.spark);
        let rest = format!(
            "{:>12} {dim}avg{reset} {:>12} {green}{spark}{reset} {hw}{}{state}",
            format_hashrate(d.rate_5s),
            format_hashrate(d.rate_avg),
            if state.is_empty() { "" } else { " " },
        );
        let room = width
            .saturating_sub(crate::ui::terminal::columns(&rest) + 3)
            .clamp(8, 28);
        let name = crate::ui::terminal::cut(&d.name, room);
        rows.push(fit_fields(
            &[
                (
                    0,
                    format!("  {name:<room$} {:>12}", format_hashrate(d.rate_5s)),
                ),
                (
                    2,
                    format!("{dim}avg{reset} {:>12}", format_hashrate(d.rate_avg)),
                ),
                (3, format!("{green}{spark}{reset}")),
                (1, hw),
                (0, state),
            ],
            " ",
            width,
        ));
    }
    for (i, p) in s.pools.iter().enumerate() {
        let mark = if p.in_use { "*" } else { " " };
        rows.push(fit_fields(
            &[
                (0, format!("{mark} pool {i}")),
                (3, format!(" {}", p.url)),
                (2, format!("diff {}", format_difficulty(p.difficulty))),
                (
                    0,
                    format!(
                        "accepted {} rejected {} stale {}",
                        p.accepted, p.rejected, p.stale
                    ),
                ),
                (4, format!("failovers {}", p.failovers)),
            ],
            " | ",
            width,
        ));
    }
    if let Some(jd) = &s.jd {
        let state = match jd.state {
            "fallback" => format!("{red}fallback{reset}"),
            "declared" => format!("{green}declared{reset}"),
            other => other.to_string(),
        };
        rows.push(fit_fields(
            &[
                (0, format!("  job declaration {state}")),
                (5, jd.reason.clone()),
                (
                    1,
                    format!(
                        "declared {} accepted {} refused {}",
                        jd.declared,
                        jd.accepted,
                        jd.refused_total()
                    ),
                ),
                (3, format!("txs provided {}", jd.provided)),
                (2, format!("fallbacks {}", jd.fallbacks)),
            ],
            " | ",
            width,
        ));
    }
    let totals = fit_fields(
        &[
            (
                0,
                format!(
                    "  accepted {} rejected {} stale {}",
                    s.accepted, s.rejected, s.stale
                ),
            ),
            (1, format!("best {}", format_difficulty(s.best_share))),
            (2, format!("blocks {}", s.blocks)),
            (
                3,
                s.solo
                    .map(|(d, t)| {
                        format!(
                            "network {} | a block every ~{}",
                            format_difficulty(d),
                            crate::stats::format_duration(t)
                        )
                    })
                    .unwrap_or_default(),
            ),
        ],
        " | ",
        width,
    );
    // Title and totals always; the rows that fit between them, then how many did not.
    let room = height.saturating_sub(1).max(2) - 2;
    if rows.len() > room {
        let hidden = rows.len() + 1 - room.max(1);
        rows.truncate(room.saturating_sub(1));
        if room > 0 {
            rows.push(crate::ui::terminal::cut(
                &format!("  (+{hidden} more rows: a taller terminal shows them)"),
                width,
            ));
        }
    }
    let mut lines = vec![title];
    lines.extend(rows);
    lines.push(totals);
    lines
}

/// The block, redrawn every second on a thread until dropped (then left on the screen).
pub struct Status {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Status {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        crate::ui::output::end_block();
    }
}

/// Starts the status block for `stats`.
pub fn start(stats: Arc<Stats>, source: String, color: bool) -> Status {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    // A resized terminal (SIGWINCH) is redrawn at once, at its new size.
    let resized = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    let winch =
        signal_hook::flag::register(signal_hook::consts::SIGWINCH, Arc::clone(&resized)).ok();
    let thread = std::thread::Builder::new()
        .name("hashrig-status".into())
        .spawn(move || {
            let mut history = RateHistory::default();
            let mut last = std::time::Instant::now() - Duration::from_secs(2);
            while !stop2.load(Ordering::Relaxed) {
                history.sample(&stats);
                if last.elapsed() >= Duration::from_secs(1)
                    || resized.swap(false, Ordering::Relaxed)
                {
                    last = std::time::Instant::now();
                    let (width, height) =
                        (crate::ui::terminal::width(), crate::ui::terminal::height());
                    let lines = render(
                        &Snapshot::take(&stats, &history, &source),
                        width,
                        height,
                        color,
                    );
                    crate::ui::output::set_block(lines);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // The final state, then left as is.
            history.sample(&stats);
            let lines = render(
                &Snapshot::take(&stats, &history, &source),
                crate::ui::terminal::width(),
                crate::ui::terminal::height(),
                color,
            );
            crate::ui::output::set_block(lines);
            #[cfg(unix)]
            if let Some(id) = winch {
                signal_hook::low_level::unregister(id);
            }
        })
        .ok();
    Status { stop, thread }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            source: "pool stratum+tcp://127.0.0.1:3333 (and 1 failover)".into(),
            work: "0/1f".into(),
            uptime: Duration::from_secs(3723),
            devices: vec![
                DeviceRow {
                    name: "cpu avx512 x2".into(),
                    rate_5s: 81_230_000.0,
                    rate_avg: 80_100_000.0,
                    spark: vec![0.0, 40e6, 80e6, 81e6, 80e6, 79e6],
                    hw_errors: 0,
                    failed: false,
                },
                DeviceRow {
                    name: "gpu NVIDIA H200 (Vulkan)".into(),
                    rate_5s: 6.1e9,
                    rate_avg: 6.0e9,
                    spark: vec![6e9; 6],
                    hw_errors: 2,
                    failed: false,
                },
            ],
            pools: vec![
                PoolRow {
                    url: "stratum+tcp://127.0.0.1:3333".into(),
                    in_use: true,
                    difficulty: 0.0046565420516309075,
                    accepted: 40,
                    rejected: 1,
                    stale: 0,
                    failovers: 0,
                },
                PoolRow {
                    url: "stratum2+tcp://127.0.0.1:34254/9auq".into(),
                    in_use: false,
                    difficulty: 0.0,
                    accepted: 0,
                    rejected: 0,
                    stale: 0,
                    failovers: 0,
                },
            ],
            accepted: 40,
            rejected: 1,
            stale: 0,
            blocks: 0,
            best_share: 1234.5,
            solo: None,
            jd: None,
        }
    }

    /// The block for a fixed snapshot, as text (golden).
    #[test]
    fn golden_block() {
        let lines = render(&snapshot(), 100, 24, false);
        let expected = "\
hashrig 6.18 GH/s | pool stratum+tcp://127.0.0.1:3333 (and 1 failover) | work 0/1f | up 01:02:03
  cpu avx512 x2                  81.23 MH/s avg   80.10 MH/s ▁▄████ hw 0
  gpu NVIDIA H200 (Vulkan)        6.10 GH/s avg    6.00 GH/s ██████ hw 2
* pool 0 stratum+tcp://127.0.0.1:3333 | diff 0.0047 | accepted 40 rejected 1 stale 0 | failovers 0
  pool 1 stratum2+tcp://127.0.0.1:34254/9auq | diff - | accepted 0 rejected 0 stale 0 | failovers 0
  accepted 40 rejected 1 stale 0 | best 1.23k | blocks 0";
        assert_eq!(lines.join("\n"), expected);
    }

    #[test]
    fn narrow_terminals_keep_the_useful_fields() {
        for width in [20, 40, 60, 80, 200] {
            for color in [false, true] {
                for line in render(&snapshot(), width, 24, color) {
                    assert!(
                        crate::ui::terminal::columns(&line) <= width,
                        "{width}: {line:?}"
                    );
                }
            }
        }
        let lines = render(&snapshot(), 60, 24, false);
        let expected = "\
hashrig 6.18 GH/s | work 0/1f | up 01:02:03
  cpu avx512 x2      81.23 MH/s avg   80.10 MH/s ▁▄████ hw 0
  gpu NVIDIA H200…    6.10 GH/s avg    6.00 GH/s ██████ hw 2
* pool 0 | diff 0.0047 | accepted 40 rejected 1 stale 0
  pool 1 | diff - | accepted 0 rejected 0 stale 0
  accepted 40 rejected 1 stale 0 | best 1.23k | blocks 0";
        assert_eq!(lines.join("\n"), expected);
    }

    #[test]
    fn job_declaration_has_a_row_that_fits_80_columns() {
        let mut s = snapshot();
        s.pools.truncate(1);
        s.jd = Some(JdStatus {
            jds: "stratum2+tcp://127.0.0.1:34264/9auq".into(),
            state: "fallback",
            reason: "the JDS is away: connection refused".into(),
            declared: 12,
            accepted: 10,
            refused: [("invalid-job".to_string(), 2)].into(),
            provided: 31,
            fallbacks: 1,
            ..JdStatus::default()
        });
        let lines = render(&s, 140, 24, false);
        assert_eq!(
            lines[4],
            "  job declaration fallback | the JDS is away: connection refused | declared 12 accepted 10 refused 2 | txs provided 31 | fallbacks 1"
        );
        let lines = render(&s, 80, 24, false);
        assert_eq!(
            lines[4],
            "  job declaration fallback | declared 12 accepted 10 refused 2 | fallbacks 1"
        );
        for width in [20, 40, 80] {
            for line in render(&s, width, 24, true) {
                assert!(crate::ui::terminal::columns(&line) <= width, "{line:?}");
            }
        }
    }

    #[test]
    fn solo_shows_network_difficulty_and_time_to_a_block() {
        let mut s = snapshot();
        s.pools.clear();
        s.solo = Some((1.5e14, 3.0 * 365.25 * 86_400.0));
        let lines = render(&s, 120, 24, false);
        assert_eq!(
            lines.last().unwrap(),
            "  accepted 40 rejected 1 stale 0 | best 1.23k | blocks 0 | network 150.00T | a block every ~3.0y"
        );
        // On a narrow terminal the totals keep the counts first.
        let narrow = render(&s, 50, 24, false);
        assert_eq!(
            narrow.last().unwrap(),
            "  accepted 40 rejected 1 stale 0 | best 1.23k"
        );
    }

    #[test]
    fn short_terminals_keep_title_and_totals() {
        let lines = render(&snapshot(), 100, 4, false);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("hashrig "));
        assert_eq!(lines[1], "  (+4 more rows: a taller terminal shows them)");
        assert!(lines[2].starts_with("  accepted 40"));
        assert_eq!(render(&snapshot(), 100, 1, false).len(), 2);
    }

    #[test]
    fn colours_only_when_asked() {
        assert!(render(&snapshot(), 100, 24, true)
            .join("")
            .contains("\x1b["));
        assert!(!render(&snapshot(), 100, 24, false)
            .join("")
            .contains('\x1b'));
    }

    #[test]
    fn sparklines_scale_to_their_maximum() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0]), "▁▅█");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
    }
}
