//! What `bench` and `devices` print: the bench table (and its plot), the GPU sweep, the
//! device list.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use hashrig::backend::cpu::cpu_name;
use hashrig::bench::{self, BenchReport};
use hashrig::stats::format_hashrate;

use super::args::{self as cli, BenchArgs};
use super::{config, usage};

#[cfg(feature = "gpu")]
pub fn devices_command(args: cli::DevicesArgs) -> Result<()> {
    let devices = hashrig::backend::gpu::devices();
    if args.json {
        say!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        say!("no GPU adapter found (for a software Vulkan device: apt-get install mesa-vulkan-drivers libvulkan1)");
        return Ok(());
    }
    say!(
        "{:<5} {:<40} {:<8} {:<14} driver",
        "index",
        "name",
        "backend",
        "type"
    );
    for d in devices {
        say!(
            "{:<5} {:<40} {:<8} {:<14} {}",
            d.index,
            d.name,
            d.backend,
            d.device_type,
            d.driver
        );
    }
    Ok(())
}

#[cfg(not(feature = "gpu"))]
pub fn devices_command(_args: cli::DevicesArgs) -> Result<()> {
    anyhow::bail!("this hashrig was built without the `gpu` feature")
}

/// Checks `--plot FILE` before anything is measured: an SVG name, a file that can be written.
fn open_plot(path: &std::path::Path) -> Result<std::fs::File> {
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !svg {
        return Err(usage(format!(
            "--plot {}: the plot is an SVG file; name it FILE.svg",
            path.display()
        )));
    }
    std::fs::File::create(path).with_context(|| {
        format!(
            "--plot {}: cannot write the plot there (checked before measuring)",
            path.display()
        )
    })
}

pub fn bench_command(args: BenchArgs) -> Result<()> {
    if args.sweep {
        return sweep_command(&args);
    }
    let config = config::bench_config(&args)?;
    // The plot's file is made before anything is measured: a bad path fails at once.
    let plot_file = args.plot.as_deref().map(open_plot).transpose()?;
    let tty = std::io::stderr().is_terminal();
    // For --plot: each row's running rate over time.
    // (label, when its first sample came, samples)
    type Row = (String, std::time::Instant, Vec<(f64, f64)>);
    let mut series: Vec<Row> = Vec::new();
    // A progress bar over the rows on a terminal (indicatif): row, label, running rate.
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let mut progress = |row: usize, rows: usize, label: &str, rate: f64| {
        if let Some(bar) = &bar {
            bar.set_length(rows as u64);
            bar.set_position(row as u64);
            bar.set_message(format!("{label}: {}", format_hashrate(rate)));
        }
        // The plot keeps each row's last round.
        if args.plot.is_some() && rate > 0.0 {
            let fresh = series.last().is_none_or(|(l, _, _)| l != label);
            if fresh {
                series.retain(|(l, _, _)| l != label);
                series.push((label.to_string(), std::time::Instant::now(), Vec::new()));
            }
            let (_, start, points) = series.last_mut().expect("pushed above");
            points.push((start.elapsed().as_secs_f64(), rate));
        }
    };
    let report = bench::run(config, &mut progress).context("benchmark failed");
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    // The figures first: a plot that cannot be drawn loses only the plot.
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if let (Some(path), Some(file)) = (&args.plot, plot_file) {
        drop(file);
        // The baseline is drawn as its median, a line; the rows as measured.
        let series: Vec<super::plot::Series> = series
            .into_iter()
            .filter(|(label, _, _)| {
                !label.starts_with("sha2 baseline") && !label.starts_with("scrypt crate")
            })
            .map(|(label, _, points)| super::plot::Series { label, points })
            .collect();
        let note = format!(
            "{}, {}, hashrig {} commit {}, {} round(s) of {} s a row (the last one drawn)",
            cpu_name(),
            hashrig::ui::output::timestamp().get(..10).unwrap_or(""),
            env!("CARGO_PKG_VERSION"),
            env!("HASHRIG_COMMIT"),
            report.rounds,
            report.seconds_per_round
        );
        super::plot::write_svg(
            path,
            &series,
            Some((
                if report.algo == "scrypt" {
                    "scrypt crate"
                } else {
                    "sha2"
                },
                report.baseline.hashrate,
            )),
            &note,
        )
        .map_err(|e| anyhow::anyhow!("--plot {}: {e}", path.display()))?;
        hashrig::elog!("plot written to {}", path.display());
    }
    // The rows that could be measured are out; a device that failed still fails the run.
    if !report.failures.is_empty() {
        anyhow::bail!(
            "{} failed while measured (left out of the rows after it):\n  {}",
            if report.failures.len() == 1 {
                "a device"
            } else {
                "devices"
            },
            report.failures.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(feature = "gpu")]
fn sweep_command(args: &BenchArgs) -> Result<()> {
    let mut config = config::bench_config(args)?;
    if config.gpus.is_empty() {
        anyhow::bail!(
            "--sweep measures GPUs, and there is none (software adapters: --backend gpu)"
        );
    }
    if config.algo == hashrig::algo::Algo::Scrypt {
        return sweep_scrypt(args, &mut config.gpus);
    }
    let tty = std::io::stderr().is_terminal();
    let mut all = Vec::new();
    for gpu in &mut config.gpus {
        let name = gpu.info().name.clone();
        let rows = bench::sweep_gpu(gpu, args.seconds, &mut |batch, rate| {
            sweep_progress(tty, &format!("{name} batch {batch}"), rate)
        })
        .with_context(|| format!("sweeping {name}"))?;
        sweep_progress_clear(tty);
        all.push((name, rows));
    }
    if args.json {
        let v: Vec<_> = all
            .iter()
            .map(|(name, rows)| serde_json::json!({"device": name, "rows": rows}))
            .collect();
        say!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for (name, rows) in all {
        say!("{name}");
        say!("{:>12} {:>12} {:>14}", "batch", "kernel ms", "hash rate");
        for r in rows {
            say!(
                "{:>12} {:>12.2} {:>14}",
                r.batch,
                r.kernel_ms,
                format_hashrate(r.hashrate)
            );
        }
    }
    Ok(())
}

/// `bench --sweep --algo scrypt`: a row per lookup gap (hashes that fit, tuned batch, kernel
/// time, rate) and the fastest gap as the flag to give.
#[cfg(feature = "gpu")]
fn sweep_scrypt(args: &BenchArgs, gpus: &mut [hashrig::backend::gpu::GpuDevice]) -> Result<()> {
    let tty = std::io::stderr().is_terminal();
    let mut all = Vec::new();
    for gpu in gpus {
        let name = gpu.info().name.clone();
        let rows = bench::sweep_gpu_scrypt(gpu, args.seconds, &mut |gap, rate| {
            sweep_progress(tty, &format!("{name} lookup gap {gap}"), rate)
        })
        .with_context(|| format!("sweeping {name}'s scrypt lookup gaps"))?;
        sweep_progress_clear(tty);
        let best = rows
            .iter()
            .max_by(|a, b| a.hashrate.total_cmp(&b.hashrate))
            .map(|r| r.gap);
        all.push((name, rows, best));
    }
    if args.json {
        let v: Vec<_> = all
            .iter()
            .map(|(name, rows, best)| {
                serde_json::json!({"device": name, "algo": "scrypt", "rows": rows, "best_gap": best})
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for (name, rows, best) in all {
        say!("{name}");
        say!(
            "{:>6} {:>12} {:>10} {:>12} {:>14}",
            "gap",
            "max hashes",
            "batch",
            "kernel ms",
            "hash rate"
        );
        for r in rows {
            say!(
                "{:>6} {:>12} {:>10} {:>12.2} {:>14}",
                r.gap,
                r.max_hashes,
                r.batch,
                r.kernel_ms,
                format_hashrate(r.hashrate)
            );
        }
        if let Some(gap) = best {
            say!("fastest here: --lookup-gap {gap} (lookup_gap = {gap} in the config file)");
        }
    }
    Ok(())
}

/// The running rate of a sweep, on one line of a terminal.
#[cfg(feature = "gpu")]
fn sweep_progress(tty: bool, what: &str, rate: f64) {
    use std::io::Write;
    if tty {
        eprint!("\r\x1b[K{what}: {}", format_hashrate(rate));
        let _ = std::io::stderr().flush();
    }
}

#[cfg(feature = "gpu")]
fn sweep_progress_clear(tty: bool) {
    if tty {
        eprint!("\r\x1b[K");
    }
}

#[cfg(not(feature = "gpu"))]
fn sweep_command(_args: &BenchArgs) -> Result<()> {
    anyhow::bail!("--sweep measures GPUs; this hashrig was built without the `gpu` feature")
}

fn print_table(report: &BenchReport) {
    let b = &report.baseline;
    say!("algo: {}   cpu: {}", report.algo, cpu_name());
    say!(
        "baseline: {}, {} thread: {} (median of {} rounds of {} s, spread {:.1}%)",
        b.name,
        b.threads,
        format_hashrate(b.hashrate),
        report.rounds,
        report.seconds_per_round,
        b.spread_percent
    );
    say!("");
    let width = report
        .results
        .iter()
        .map(|r| r.kernel.split(' ').next().unwrap_or_default().len())
        .max()
        .unwrap_or(0)
        .max(12);
    say!(
        "{:<8} {:<width$} {:>7} {:>14} {:>7} {:>12} {:>9}  device",
        "backend",
        "kernel",
        "threads",
        "hash rate",
        "spread",
        "vs baseline",
        "hw errors"
    );
    for r in &report.results {
        let kernel = r.kernel.split(' ').next().unwrap_or_default();
        say!(
            "{:<8} {:<width$} {:>7} {:>14} {:>6.1}% {:>11.2}x {:>9}  {}",
            r.backend,
            kernel,
            r.threads,
            format_hashrate(r.hashrate),
            r.spread_percent,
            r.ratio,
            r.hw_errors,
            r.device
        );
    }
    // Kernel settings that do not fit the column (GPU batch, workgroup, ...).
    for r in report.results.iter().filter(|r| r.kernel.contains(' ')) {
        let name = r.device.split(" (").next().unwrap_or_default();
        say!("  {} {name}: {}", r.backend, r.kernel);
    }
    say!("hash rate: the median of the rounds; spread: (max - min) / median");
    for w in &report.warnings {
        hashrig::elog!("warning: {w}");
    }
}
