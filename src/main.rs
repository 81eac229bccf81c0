//! The `hashrig` binary: parse flags, check them, run, print the error chain on failure.

/// A line on stdout that a closed pipe does not turn into a panic (see `hashrig::output`).
macro_rules! say {
    ($($arg:tt)*) => {
        hashrig::output::line(format_args!($($arg)*))
    };
}

mod cli;
mod config;
mod file;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{BenchArgs, Cli, Command};
use hashrig::backend::cpu::cpu_name;
use hashrig::bench::{self, BenchReport};
use hashrig::stats::format_hashrate;

fn main() -> ExitCode {
    quiet_graphics_stack();
    let cli = match parse_with_config(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = init_logging(&cli).and_then(|()| run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            hashrig::elog!("error: {}", name_key(err.to_string()));
            for cause in err.chain().skip(1) {
                hashrig::elog!("  caused by: {cause}");
            }
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set in the
/// environment." (twice) when the variable is missing, as it is on a headless machine or over
/// sudo: it reads like hashrig's own error. The variable is set for this process (before any
/// thread starts, before the Vulkan loader is opened) to the temporary directory; nothing is
/// written there (no display server is used).
fn quiet_graphics_stack() {
    let valid = std::env::var_os("XDG_RUNTIME_DIR")
        .is_some_and(|d| !d.is_empty() && std::path::Path::new(&d).is_dir());
    if !valid {
        // Safe here: main has started no thread yet.
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
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

/// Logging through `tracing`: `-v`/`-q` pick the level, `RUST_LOG` (an env-filter
/// directive) overrides them; text or JSON lines; stderr or `--log-file`. `NO_COLOR` and a
/// non-terminal stderr turn colours off.
fn init_logging(cli: &Cli) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(directive) if !directive.trim().is_empty() => EnvFilter::try_new(directive.trim())
            .map_err(|e| usage(format!("RUST_LOG {directive:?}: {e}")))?,
        _ => EnvFilter::new(level),
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && cli.log_file.is_none()
        && std::io::stderr().is_terminal();
    let json = matches!(cli.log_format, cli::LogFormat::Json);
    let file = match &cli.log_file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("--log-file {}", path.display()))?,
        ),
        None => None,
    };
    // Every line printed goes to the log file too; JSON mode prints JSON records only.
    hashrig::output::configure(hashrig::output::LogSetup {
        json,
        stamp_terminal: !json,
        file,
    });
    let writer = if cli.log_file.is_some() {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| hashrig::output::FileWriter)
    } else {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| hashrig::output::LogWriter)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(color)
        .with_target(false);
    match cli.log_format {
        cli::LogFormat::Json => builder.json().init(),
        // On a terminal, the same short time as the other lines.
        cli::LogFormat::Text if cli.log_file.is_none() && std::io::stderr().is_terminal() => {
            builder.with_timer(ShortTime).init()
        }
        cli::LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// "15:04:05" (UTC) for log records on a terminal.
struct ShortTime;

impl tracing_subscriber::fmt::time::FormatTime for ShortTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let t = hashrig::output::timestamp();
        w.write_str(t.get(11..19).unwrap_or(&t))
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench(args) => bench_command(args),
        Command::Devices(args) => devices_command(args),
        Command::Mine(args) => mine_command(*args),
        Command::Config(cli::ConfigCommand::Example) => {
            say!("{}", file::EXAMPLE.trim_end());
            Ok(())
        }
        Command::Config(cli::ConfigCommand::Check { file }) => config_check(&file),
        Command::Completions { shell } => {
            use clap_complete::Shell as S;
            let shell = match shell {
                cli::Shell::Bash => S::Bash,
                cli::Shell::Zsh => S::Zsh,
                cli::Shell::Fish => S::Fish,
                cli::Shell::Elvish => S::Elvish,
                cli::Shell::Powershell => S::PowerShell,
            };
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command(), "hashrig", &mut out);
            hashrig::output::text(&String::from_utf8_lossy(&out));
            Ok(())
        }
        Command::Manpage => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command())
                .render(&mut out)
                .context("rendering the man page")?;
            hashrig::output::text(&String::from_utf8_lossy(&out));
            Ok(())
        }
    }
}

/// Parses the command line, with `--config FILE` merged under it. On an error the message
/// is printed (naming the file's key when the bad value came from it) and the exit code
/// comes back.
fn parse_with_config(argv: Vec<std::ffi::OsString>) -> std::result::Result<Cli, ExitCode> {
    let (path, argv) = match file::take_config_flag(argv) {
        Ok(x) => x,
        Err(e) => {
            hashrig::elog!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let (argv, merged) = match &path {
        Some(path) => match file::merge(path, argv) {
            Ok(merged) => (merged.argv.clone(), Some(merged)),
            Err(e) => {
                hashrig::elog!("error: {e}");
                return Err(ExitCode::from(2));
            }
        },
        None => (argv, None),
    };
    let parsed = command()
        .try_get_matches_from(&argv)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
        .map_err(|e| {
            let why = path
                .as_deref()
                .zip(merged.as_ref())
                .and_then(|(p, m)| file::explain(p, m, &e));
            match why {
                Some(why) => hashrig::elog!("error: {why}"),
                None => {
                    let _ = e.print();
                }
            }
            ExitCode::from(e.exit_code() as u8)
        })?;
    if let (Some(path), Some(merged)) = (path, merged) {
        let _ = FROM_FILE.set((path, merged));
    }
    Ok(parsed)
}

/// `--version`: the version, the commit it was built from, and the features built in.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HASHRIG_COMMIT"),
    ")\nfeatures: ",
    env!("HASHRIG_FEATURES"),
    "\nalgorithms: sha256d"
);

/// The command-line definition, with the build facts in `--version`.
fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().long_version(LONG_VERSION)
}

/// The config file and which flags it set: errors about those flags name its keys.
static FROM_FILE: std::sync::OnceLock<(std::path::PathBuf, file::Merged)> =
    std::sync::OnceLock::new();

/// `message` about a flag, naming the config file's key when the flag came from there.
fn name_key(message: String) -> String {
    match FROM_FILE.get() {
        Some((path, merged)) => merged.name_key(path, &message),
        None => message,
    }
}

/// `hashrig config check FILE`: each section parses as its command's flags and passes the
/// same checks a run makes (nothing is opened).
fn config_check(path: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let mut checked = Vec::new();
    for section in ["mine", "bench"] {
        let merged = file::merge(path, vec!["hashrig".into(), section.into()]).map_err(usage)?;
        let argv = merged.argv.clone();
        if !table.contains_key(section) {
            continue;
        }
        let cli = Cli::try_parse_from(&argv).map_err(|e| {
            usage(
                file::explain(path, &merged, &e)
                    .unwrap_or_else(|| format!("{} [{section}]: {}", path.display(), e.kind()))
                    + &format!("\n{}", e.render()),
            )
        })?;
        // A bad value is told as the file's key.
        let keyed = |e: anyhow::Error| usage(merged.name_key(path, &e.to_string()));
        match cli.command {
            Command::Mine(args) => config::check_mine(&args).map_err(keyed)?,
            Command::Bench(args) => {
                if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
                    return Err(keyed(usage(
                        "--seconds must be more than 0 and at most 3600",
                    )));
                }
                config::backend_spec(&args.backends).map_err(keyed)?;
            }
            _ => {}
        }
        checked.push(format!("[{section}]"));
    }
    say!(
        "config {}: ok{}",
        path.display(),
        if checked.is_empty() {
            String::new()
        } else {
            format!(" ({})", checked.join(", "))
        }
    );
    Ok(())
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
    let no_tui = args.no_tui;
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
    let tty =
        std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let extras = hashrig::mine::Extras {
        api: config.api,
        // JSON logging prints JSON records only: no block.
        status: (!no_tui && tty && !hashrig::output::json()).then_some(colour),
    };
    hashrig::mine::run_with(
        config.source,
        &config.backends,
        config.limits,
        stop,
        &extras,
    )?;
    Ok(())
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

fn bench_command(args: BenchArgs) -> Result<()> {
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
        let series: Vec<hashrig::plot::Series> = series
            .into_iter()
            .filter(|(label, _, _)| !label.starts_with("sha2 baseline"))
            .map(|(label, _, points)| hashrig::plot::Series { label, points })
            .collect();
        let note = format!(
            "{}, {}, hashrig {} commit {}, {} round(s) of {} s a row (the last one drawn)",
            cpu_name(),
            hashrig::output::timestamp().get(..10).unwrap_or(""),
            env!("CARGO_PKG_VERSION"),
            env!("HASHRIG_COMMIT"),
            report.rounds,
            report.seconds_per_round
        );
        hashrig::plot::write_svg(
            path,
            &series,
            Some(("sha2", report.baseline.hashrate)),
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
    use std::io::Write;
    let mut config = config::bench_config(args)?;
    if config.gpus.is_empty() {
        anyhow::bail!(
            "--sweep measures GPUs, and there is none (software adapters: --backend gpu)"
        );
    }
    let tty = std::io::stderr().is_terminal();
    let mut all = Vec::new();
    for gpu in &mut config.gpus {
        let name = gpu.info().name.clone();
        let rows = bench::sweep_gpu(gpu, args.seconds, &mut |batch, rate| {
            if tty {
                eprint!("\r\x1b[K{name} batch {batch}: {}", format_hashrate(rate));
                let _ = std::io::stderr().flush();
            }
        })
        .with_context(|| format!("sweeping {name}"))?;
        if tty {
            eprint!("\r\x1b[K");
        }
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
    say!(
        "{:<8} {:<12} {:>7} {:>14} {:>7} {:>12} {:>9}  device",
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
            "{:<8} {:<12} {:>7} {:>14} {:>6.1}% {:>11.2}x {:>9}  {}",
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
