//! The `hashrig` binary: parse flags, check them, run, print the error chain on failure.

/// A line on stdout that a closed pipe does not turn into a panic (see `hashrig::ui::output`).
macro_rules! say {
    ($($arg:tt)*) => {
        hashrig::ui::output::line(format_args!($($arg)*))
    };
}

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use cli::args::{Cli, Command};
use cli::{config, file, report};

fn main() -> ExitCode {
    quiet_graphics_stack();
    let cli = match cli::parse_with_config(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = cli::init_logging(&cli).and_then(|()| run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            hashrig::elog!("error: {}", cli::name_key(err.to_string()));
            for cause in err.chain().skip(1) {
                hashrig::elog!("  caused by: {cause}");
            }
            if err.downcast_ref::<cli::UsageError>().is_some() {
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bench(args) => report::bench_command(args),
        Command::Devices(args) => report::devices_command(args),
        Command::Mine(args) => mine_command(*args),
        Command::Config(cli::args::ConfigCommand::Example) => {
            say!("{}", file::EXAMPLE.trim_end());
            Ok(())
        }
        Command::Config(cli::args::ConfigCommand::Check { file }) => config::config_check(&file),
        Command::Completions { shell } => {
            use clap_complete::Shell as S;
            let shell = match shell {
                cli::args::Shell::Bash => S::Bash,
                cli::args::Shell::Zsh => S::Zsh,
                cli::args::Shell::Fish => S::Fish,
                cli::args::Shell::Elvish => S::Elvish,
                cli::args::Shell::Powershell => S::PowerShell,
            };
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "hashrig", &mut out);
            hashrig::ui::output::text(&String::from_utf8_lossy(&out));
            Ok(())
        }
        Command::Manpage => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cli::command())
                .render(&mut out)
                .context("rendering the man page")?;
            hashrig::ui::output::text(&String::from_utf8_lossy(&out));
            Ok(())
        }
    }
}

fn mine_command(args: cli::args::MineArgs) -> Result<()> {
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
        cgminer: config.cgminer,
        // JSON logging prints JSON records only: no block.
        status: (!no_tui && tty && !hashrig::ui::output::json()).then_some(colour),
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
