//! Command-line flags (clap structs only; checked and turned into configs in `main`).

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hashrig",
    version,
    about = "Proof-of-work miner: SHA-256d on CPUs, every winner re-checked with sha2"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure hash rate on a synthetic job, next to the sha2 baseline measured in the same run.
    Bench(BenchArgs),
    /// List every GPU adapter: index, name, backend, device type, driver.
    Devices(DevicesArgs),
}

#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// One JSON array on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algo {
    Sha256d,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CPU threads only.
    Cpu,
    /// GPUs only (an error when there is none).
    Gpu,
    /// The CPU and every GPU: each alone, then all together on one job.
    All,
    /// Every hardware GPU and the CPU; the CPU alone when there is no GPU. Software adapters
    /// (lavapipe, llvmpipe) are left to `--backend gpu`.
    Auto,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Proof-of-work algorithm.
    #[arg(long, value_enum, default_value_t = Algo::Sha256d)]
    pub algo: Algo,
    /// Which backend to measure.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Force one CPU kernel: scalar, sha-ni, avx2 or avx512 (default: every supported kernel at
    /// one thread, the fastest at all threads).
    #[arg(long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// Threads for the all-threads row (default: every core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
    /// Seconds to measure each row.
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub seconds: f64,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Use only this GPU: its index in `hashrig devices`, or part of its name.
    #[arg(long, value_name = "INDEX|NAME")]
    pub gpu: Option<String>,
    /// Target duration of one GPU dispatch in milliseconds (batch size is tuned to it).
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub gpu_kernel_ms: u64,
}
