//! The `hashrig` binary: parse flags, check them, run, print the error chain on failure.

/// A line on stdout that a closed pipe does not turn into a panic (see `hashrig::output`).
macro_rules! say {
    ($($arg:tt)*) => {
        hashrig::output::line(format_args!($($arg)*))
    };
}

mod cli;
mod config;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{BenchArgs, Cli, Command};
use hashrig::backend::cpu::cpu_name;
use hashrig::bench::{self, BenchReport};
use hashrig::stats::format_hashrate;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A flag value that parsed but does not make sense (exit status 2, like clap's own errors).
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    UsageError(message.to_string()).into()
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench(args) => bench_command(args),
        Command::Devices(args) => devices_command(args),
        Command::Mine(args) => mine_command(*args),
    }
}

#[cfg(feature = "gpu")]
fn devices_command(args: cli::DevicesArgs) -> Result<()> {
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
fn devices_command(_args: cli::DevicesArgs) -> Result<()> {
    anyhow::bail!("this hashrig was built without the `gpu` feature")
}

fn mine_command(args: cli::MineArgs) -> Result<()> {
    let config = config::mine_config(&args)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // First Ctrl-C / SIGTERM: stop cleanly (backends leave their batch, summary printed; the
    // journal already holds anything unsubmitted). A second one exits at once.
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, std::sync::Arc::clone(&stop))
            .context("installing the signal handler")?;
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    hashrig::mine::run_with(
        config.source,
        &config.backends,
        config.limits,
        stop,
        config.api.as_ref(),
    )?;
    Ok(())
}

fn bench_command(args: BenchArgs) -> Result<()> {
    let config = config::bench_config(&args)?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |row: usize, rows: usize, label: &str, rate: f64| {
        if tty {
            eprint!("\r\x1b[K[{row}/{rows}] {label}: {}", format_hashrate(rate));
            let _ = std::io::stderr().flush();
        }
    };
    let report = bench::run(config, &mut progress).context("benchmark failed")?;
    if tty {
        eprint!("\r\x1b[K");
    }
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
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

fn print_table(report: &BenchReport) {
    let b = &report.baseline;
    say!("algo: {}   cpu: {}", report.algo, cpu_name());
    say!(
        "baseline: {}, {} thread: {}",
        b.name,
        b.threads,
        format_hashrate(b.hashrate)
    );
    say!("");
    say!(
        "{:<8} {:<12} {:>7} {:>14} {:>12} {:>9}  device",
        "backend",
        "kernel",
        "threads",
        "hash rate",
        "vs baseline",
        "hw errors"
    );
    for r in &report.results {
        let kernel = r.kernel.split(' ').next().unwrap_or_default();
        say!(
            "{:<8} {:<12} {:>7} {:>14} {:>11.2}x {:>9}  {}",
            r.backend,
            kernel,
            r.threads,
            format_hashrate(r.hashrate),
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
}
