//! The binary's front: the flags ([`args`], clap), the config file merged under them
//! ([`file`]), the checked configuration ([`config`]), logging set-up, and what `bench` and
//! `devices` print ([`report`], with the [`plot`]).

pub mod args;
pub mod config;
pub mod file;
pub mod plot;
pub mod report;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use args::Cli;

/// A flag value that parsed but does not make sense (exit status 2, like clap's own errors).
#[derive(Debug)]
pub struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    UsageError(message.to_string()).into()
}

/// Logging through `tracing`: `-v`/`-q` pick the level, `RUST_LOG` (an env-filter
/// directive) overrides them; text or JSON lines; stderr or `--log-file`. `NO_COLOR` and a
/// non-terminal stderr turn colours off.
pub fn init_logging(cli: &Cli) -> Result<()> {
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
    let json = matches!(cli.log_format, args::LogFormat::Json);
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
    hashrig::ui::output::configure(hashrig::ui::output::LogSetup {
        json,
        stamp_terminal: !json,
        file,
    });
    let writer = if cli.log_file.is_some() {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| hashrig::ui::output::FileWriter)
    } else {
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| hashrig::ui::output::LogWriter)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(color)
        .with_target(false);
    match cli.log_format {
        args::LogFormat::Json => builder.json().init(),
        // On a terminal, the same short time as the other lines.
        args::LogFormat::Text if cli.log_file.is_none() && std::io::stderr().is_terminal() => {
            builder.with_timer(ShortTime).init()
        }
        args::LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// "15:04:05" (UTC) for log records on a terminal.
struct ShortTime;

impl tracing_subscriber::fmt::time::FormatTime for ShortTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let t = hashrig::ui::output::timestamp();
        w.write_str(t.get(11..19).unwrap_or(&t))
    }
}

/// Parses the command line, with `--config FILE` merged under it. On an error the message
/// is printed (naming the file's key when the bad value came from it) and the exit code
/// comes back.
pub fn parse_with_config(argv: Vec<std::ffi::OsString>) -> std::result::Result<Cli, ExitCode> {
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
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().long_version(LONG_VERSION)
}

/// The config file and which flags it set: errors about those flags name its keys.
static FROM_FILE: std::sync::OnceLock<(std::path::PathBuf, file::Merged)> =
    std::sync::OnceLock::new();

/// `message` about a flag, naming the config file's key when the flag came from there.
pub fn name_key(message: String) -> String {
    match FROM_FILE.get() {
        Some((path, merged)) => merged.name_key(path, &message),
        None => message,
    }
}
