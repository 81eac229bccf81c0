//! The `hashrig` binary: parse flags, check them, run, print the error chain on failure.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{BackendChoice, BenchArgs, Cli, Command};
use hashrig::backend::cpu::{cpu_name, Kernel, KernelKind};
use hashrig::bench::{self, BenchConfig, BenchReport};
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

fn usage(message: impl std::fmt::Display) -> anyhow::Error {
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
        println!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        println!("no GPU adapter found (for a software Vulkan device: apt-get install mesa-vulkan-drivers libvulkan1)");
        return Ok(());
    }
    println!(
        "{:<5} {:<40} {:<8} {:<14} driver",
        "index", "name", "backend", "type"
    );
    for d in devices {
        println!(
            "{:<5} {:<40} {:<8} {:<14} {}",
            d.index, d.name, d.backend, d.device_type, d.driver
        );
    }
    Ok(())
}

#[cfg(not(feature = "gpu"))]
fn devices_command(_args: cli::DevicesArgs) -> Result<()> {
    anyhow::bail!("this hashrig was built without the `gpu` feature")
}

/// Opens the GPUs `args` asks for; `auto` keeps hardware GPUs only and may find none.
/// The `--kernel` asked for, checked against this CPU.
fn cpu_kernel(args: &cli::BackendArgs) -> Result<Option<Kernel>> {
    match &args.kernel {
        None => Ok(None),
        Some(name) => {
            let kind: KernelKind = name.parse().map_err(usage)?;
            Ok(Some(Kernel::new(kind).map_err(usage)?))
        }
    }
}

/// `--threads`, or every core.
fn cpu_threads(args: &cli::BackendArgs) -> usize {
    match args.threads {
        Some(n) => n as usize,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

#[cfg(feature = "gpu")]
fn open_gpus(args: &cli::BackendArgs) -> Result<Vec<hashrig::backend::gpu::GpuDevice>> {
    use hashrig::backend::gpu::{GpuDevice, GpuError, ShaderOptions, WORKGROUP_SIZES};
    let (backend, selector) = (args.backend, args.gpu.as_deref());
    let kernel_time = std::time::Duration::from_millis(args.gpu_kernel_ms);
    if !WORKGROUP_SIZES.contains(&args.gpu_workgroup) {
        return Err(usage(format!(
            "--gpu-workgroup {} is not one of {WORKGROUP_SIZES:?}",
            args.gpu_workgroup
        )));
    }
    let options = ShaderOptions {
        workgroup_size: args.gpu_workgroup,
        rotate: args.gpu_rotate.parse().map_err(usage)?,
    };
    let opened = match backend {
        BackendChoice::Cpu => return Ok(vec![]),
        BackendChoice::Gpu | BackendChoice::All => GpuDevice::open_all_with(selector, options)?,
        // Hardware GPUs only; one that cannot be opened or fails its self-test is left out with
        // one line.
        BackendChoice::Auto => {
            match GpuDevice::open_each(selector, options, |i| i.device_type != "Cpu") {
                Ok(gpus) => gpus
                    .into_iter()
                    .filter_map(|g| {
                        g.inspect_err(|e| eprintln!("{e}; going on without it"))
                            .ok()
                    })
                    .collect(),
                Err(GpuError::NoAdapter) => vec![],
                Err(e) => return Err(e.into()),
            }
        }
    };
    if backend == BackendChoice::All {
        for g in opened.iter().filter(|g| g.info().device_type == "Cpu") {
            eprintln!(
                "note: {} is a software adapter running on the same CPU cores: together they \
                 will hash less than the CPU alone",
                g.info().name
            );
        }
    }
    if backend == BackendChoice::Auto && opened.is_empty() {
        eprintln!("no hardware GPU adapter found: using the CPU only (software adapters such as lavapipe run with --backend gpu)");
    }
    Ok(opened
        .into_iter()
        .map(|mut g| {
            g.set_kernel_time(kernel_time);
            if let Some(ms) = args.lose_gpus_after_ms {
                g.lose_after(std::time::Duration::from_millis(ms));
            }
            g
        })
        .collect())
}

/// Checks the mine flags into a [`MineConfig`] and opens the backends.
fn mine_config(args: &cli::MineArgs) -> Result<hashrig::mine::MineConfig> {
    use hashrig::mine::{MineConfig, Payout, Worker};
    use hashrig::source::node::{Auth, Node, RpcClient};

    let auth = match (&args.rpc_user, &args.rpc_password, &args.rpc_cookie) {
        (_, _, Some(cookie)) => Auth::Cookie(cookie.clone()),
        (Some(user), Some(password), None) => Auth::UserPass {
            user: user.clone(),
            password: password.clone(),
        },
        _ => {
            return Err(usage(
                "give --rpc-user with --rpc-password, or --rpc-cookie",
            ))
        }
    };
    let rpc = RpcClient::new(
        &args.node,
        auth,
        std::time::Duration::from_secs(args.rpc_timeout),
    )
    .map_err(usage)?;
    let payout = match (&args.payout, &args.payout_script) {
        (Some(address), None) => Payout::Address(
            address
                .parse()
                .map_err(|e| usage(format!("--payout {address:?} is not an address: {e}")))?,
        ),
        (None, Some(hex)) => {
            let bytes = parse_hex(hex).map_err(|e| usage(format!("--payout-script: {e}")))?;
            if bytes.is_empty() || bytes.len() > 10_000 {
                return Err(usage("--payout-script must be 1 to 10000 bytes"));
            }
            Payout::Script(bitcoin::ScriptBuf::from_bytes(bytes))
        }
        _ => return Err(usage("give one of --payout and --payout-script")),
    };
    let share_bits = match &args.share_bits {
        None => None,
        Some(hex) => Some(hashrig::chain::CompactTarget::from_consensus(
            u32::from_str_radix(hex.trim_start_matches("0x"), 16)
                .map_err(|_| usage(format!("--share-bits {hex:?} is not hex")))?,
        )),
    };
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(usage(format!("--duration must be more than 0, got {d}")));
        }
    }
    let b = &args.backends;
    let mut workers = Vec::new();
    if b.backend != BackendChoice::Gpu {
        let kernel = cpu_kernel(b)?.unwrap_or_else(Kernel::best);
        workers.push(Worker::Cpu(hashrig::backend::cpu::CpuBackend::new(
            kernel,
            cpu_threads(b),
        )?));
    }
    #[cfg(feature = "gpu")]
    for gpu in open_gpus(b)? {
        workers.insert(0, Worker::Gpu(gpu));
    }
    #[cfg(not(feature = "gpu"))]
    if b.backend == BackendChoice::Gpu {
        return Err(usage("this hashrig was built without the `gpu` feature"));
    }
    Ok(MineConfig {
        node: Node::new(rpc)
            .with_longpoll_timeout(std::time::Duration::from_secs(args.longpoll_timeout)),
        payout,
        workers,
        blocks: args.blocks,
        duration: args.duration.map(std::time::Duration::from_secs_f64),
        journal: hashrig::submit::Journal::open(&args.journal)?,
        poll: std::time::Duration::from_millis(args.poll_ms),
        share_bits,
    })
}

fn parse_hex(hex: &str) -> std::result::Result<Vec<u8>, String> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return Err("hex of odd length".into());
    }
    (0..hex.len() / 2)
        .map(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("not hex: {:?}", &hex[2 * i..2 * i + 2]))
        })
        .collect()
}

fn mine_command(args: cli::MineArgs) -> Result<()> {
    let config = mine_config(&args)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // First Ctrl-C / SIGTERM: stop cleanly (backends leave their batch, summary printed; the
    // journal already holds anything unsubmitted). A second one exits at once.
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, std::sync::Arc::clone(&stop))
            .context("installing the signal handler")?;
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
            .context("installing the signal handler")?;
    }
    let summary = hashrig::mine::run(config, stop)?;
    eprintln!(
        "summary: accepted {} rejected {} kept {} stale {} hashes {} hw_errors {} switches {} max_switch_ms {:.1}",
        summary.accepted,
        summary.rejected,
        summary.kept,
        summary.stale,
        summary.hashes,
        summary.hw_errors,
        summary.switches,
        summary.max_switch.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Checks the bench flags into a [`BenchConfig`].
fn bench_config(args: &BenchArgs) -> Result<BenchConfig> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(usage(format!(
            "--seconds must be more than 0 and at most 3600, got {}",
            args.seconds
        )));
    }
    let b = &args.backends;
    let kernel = cpu_kernel(b)?;
    let threads = cpu_threads(b);
    Ok(BenchConfig {
        cpu: b.backend != BackendChoice::Gpu,
        #[cfg(feature = "gpu")]
        gpus: open_gpus(b)?,
        kernel,
        threads,
        seconds: args.seconds,
        together: b.backend == BackendChoice::All,
    })
}

fn bench_command(args: BenchArgs) -> Result<()> {
    if cfg!(not(feature = "gpu")) && args.backends.backend == BackendChoice::Gpu {
        return Err(usage("this hashrig was built without the `gpu` feature"));
    }
    let config = bench_config(&args)?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |row: usize, rows: usize, label: &str, rate: f64| {
        if tty {
            eprint!("\r\x1b[K[{row}/{rows}] {label}: {}", format_hashrate(rate));
            let _ = std::io::stderr().flush();
        }
    };
    let report = bench::run(&config, &mut progress).context("benchmark failed")?;
    if tty {
        eprint!("\r\x1b[K");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
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
    println!("algo: {}   cpu: {}", report.algo, cpu_name());
    println!(
        "baseline: {}, {} thread: {}",
        b.name,
        b.threads,
        format_hashrate(b.hashrate)
    );
    println!();
    println!(
        "{:<8} {:<12} {:>7} {:>14} {:>12} {:>9}  device",
        "backend", "kernel", "threads", "hash rate", "vs baseline", "hw errors"
    );
    for r in &report.results {
        let kernel = r.kernel.split(' ').next().unwrap_or_default();
        println!(
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
        println!("  {} {name}: {}", r.backend, r.kernel);
    }
}
