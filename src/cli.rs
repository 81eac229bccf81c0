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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algo {
    Sha256d,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CPU threads only.
    Cpu,
    /// Every GPU, else the CPU (this build has no GPU backend yet: the CPU).
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
}
