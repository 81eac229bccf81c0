//! Command-line flags (clap structs only; checked and turned into configs in `main`).

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  hashrig bench                                  measure every device against the sha2 baseline
  hashrig devices                                list the GPUs
  hashrig mine --pool stratum+tcp://pool.example:3333 --user ACCOUNT.rig1
  hashrig mine --pool stratum2+tcp://pool.example:34254/AUTHORITY_KEY --user ACCOUNT.rig1
  hashrig mine --node http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie --payout bc1q...
  hashrig mine --algo scrypt --node http://127.0.0.1:9332 --rpc-cookie ~/.litecoin/.cookie --payout ltc1q...
  hashrig mine --config hashrig.toml --api 8420  (dashboard on http://127.0.0.1:8420/)
  hashrig completions bash > /etc/bash_completion.d/hashrig";

#[derive(Debug, Parser)]
#[command(
    name = "hashrig",
    version,
    about = "Proof-of-work miner for GPUs and CPUs: SHA-256d (Bitcoin) and scrypt (Litecoin) \
             nonce search in WGSL compute shaders and SIMD CPU kernels, solo or in Stratum v1/V2 \
             pools; every winning hash re-checked with the reference sha2 or scrypt",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub verbose: u8,
    /// Less log output (-q errors only). RUST_LOG, when set, overrides both.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Logging"
    )]
    pub quiet: bool,
    /// Log lines as text or as JSON records (one per line; then every line is one).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, help_heading = "Logging")]
    pub log_format: LogFormat,
    /// Also write every line, with its time, to this file (appended); log records go there
    /// instead of the terminal.
    #[arg(long, value_name = "FILE", global = true, help_heading = "Logging")]
    pub log_file: Option<std::path::PathBuf>,
    /// Read flags from this TOML file (`hashrig config example`); flags given here win.
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        help_heading = "Global options"
    )]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure hash rate on a synthetic job, next to the sha2 baseline measured in the same run.
    Bench(BenchArgs),
    /// List every GPU adapter: index, name, backend, device type, driver.
    Devices(DevicesArgs),
    /// Mine: solo against your own node (--node), or in a pool over Stratum v1 or V2 (--pool).
    Mine(Box<MineArgs>),
    /// The config file: `check FILE` (exit 0 when it is valid, 2 when not), `example`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) on stdout: `hashrig manpage > hashrig.1`.
    Manpage,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a config file: every key known, every value valid.
    Check {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Print a commented example config (it passes `config check`).
    Example,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["node", "pool"])))]
#[command(after_help = MINE_EXAMPLES)]
pub struct MineArgs {
    /// Solo: the node's JSON-RPC URL, e.g. http://127.0.0.1:8332 (regtest 18443, testnet4
    /// 48332, signet 38332). With --pool and --jds: job declaration (the node's templates,
    /// the pool's payout).
    #[arg(help_heading = "Work source", long, value_name = "URL")]
    pub node: Option<String>,
    /// Pool: stratum+tcp://HOST:PORT or stratum+ssl://HOST:PORT (TLS), or
    /// stratum2+tcp://HOST:PORT/AUTHORITY_KEY; USER[:PASSWORD]@ before HOST gives this pool's
    /// own login. Repeat for failover, best first.
    #[arg(help_heading = "Work source", long, value_name = "URL")]
    pub pool: Vec<String>,
    /// Job declaration: the pool's Job Declaration Server, stratum2+tcp://HOST:PORT/AUTHORITY_KEY
    /// (with --node, one stratum2+tcp --pool, --user, and --payout for the solo fallback).
    /// The node's templates are declared to it and mined on the pool, which pays the shares.
    #[arg(help_heading = "Work source", long, value_name = "URL", requires_all = ["node", "pool"])]
    pub jds: Option<String>,
    /// Pool: the worker name to log in with (usually ACCOUNT.WORKER).
    #[arg(help_heading = "Pool", long, value_name = "USER", requires = "pool")]
    pub user: Option<String>,
    /// Pool: the worker's password (or the HASHRIG_POOL_PASSWORD environment variable).
    #[arg(
        help_heading = "Pool",
        long,
        value_name = "PASSWORD",
        env = "HASHRIG_POOL_PASSWORD",
        hide_env_values = true,
        default_value = "x"
    )]
    pub password: String,
    /// Pool: trust only this CA (PEM) for stratum+ssl pools, instead of the system roots.
    #[arg(help_heading = "Pool", long, value_name = "FILE", requires = "pool")]
    pub pool_ca: Option<std::path::PathBuf>,
    /// Pool: exit (status 0) after this many accepted shares.
    #[arg(help_heading = "Pool", long, value_name = "N", requires = "pool")]
    pub shares: Option<u64>,
    /// Pool: seconds to connect, and for each answer (subscribe, authorize, a share).
    #[arg(help_heading = "Pool", long, value_name = "S", default_value_t = 30.0)]
    pub pool_timeout: f64,
    /// Pool: seconds without a new job before moving to the next pool.
    #[arg(help_heading = "Pool", long, value_name = "S", default_value_t = 180.0)]
    pub pool_idle: f64,
    /// Pool: seconds between tries of a better pool than the one in use.
    #[arg(help_heading = "Pool", long, value_name = "S", default_value_t = 60.0)]
    pub pool_failback: f64,
    /// Pool: ask for this share difficulty (mining.suggest_difficulty), for pools that
    /// start a CPU at a difficulty it cannot reach.
    #[arg(help_heading = "Pool", long, value_name = "D", requires = "pool")]
    pub suggest_difficulty: Option<f64>,
    /// Stratum V2 pool: the channel to open: standard (header-only; devices roll version
    /// bits and ntime) or extended (the coinbase is built here and extranonce rolled too).
    #[arg(help_heading = "Pool", long, value_enum, default_value_t = Sv2Channel::Standard)]
    pub sv2_channel: Sv2Channel,
    /// Stratum V2 pool: the nominal hash rate to announce first, e.g. 80M or 6.5G (H/s;
    /// default: measured for half a second). Announced again with UpdateChannel whenever the
    /// measured rate is off by 2x.
    #[arg(help_heading = "Pool", long, value_name = "RATE", requires = "pool")]
    pub hashrate: Option<String>,
    /// Testing aid: seconds between comparisons of the measured and announced hash rate
    /// (Stratum V2 UpdateChannel).
    #[arg(
        help_heading = "Pool",
        long,
        value_name = "S",
        default_value_t = 60.0,
        hide = true
    )]
    pub sv2_update_every: f64,
    /// Pool: follow client.reconnect to another host (a new port on the same host is
    /// always followed).
    #[arg(help_heading = "Pool", long, requires = "pool")]
    pub pool_redirect: bool,
    /// RPC user (with --rpc-password).
    #[arg(
        help_heading = "Solo",
        long,
        value_name = "USER",
        requires = "rpc_password"
    )]
    pub rpc_user: Option<String>,
    /// RPC password (or the HASHRIG_RPC_PASSWORD environment variable).
    #[arg(
        help_heading = "Solo",
        long,
        value_name = "PASSWORD",
        env = "HASHRIG_RPC_PASSWORD",
        hide_env_values = true
    )]
    pub rpc_password: Option<String>,
    /// Bitcoin Core's cookie file (e.g. ~/.bitcoin/regtest/.cookie), re-read on every call.
    #[arg(
        help_heading = "Solo",
        long,
        value_name = "FILE",
        conflicts_with = "rpc_user"
    )]
    pub rpc_cookie: Option<std::path::PathBuf>,
    /// Pay the block reward to this address (checked against the node's network).
    #[arg(help_heading = "Solo", long, value_name = "ADDRESS")]
    pub payout: Option<String>,
    /// Pay the block reward to this raw output script (hex).
    #[arg(help_heading = "Solo", long, value_name = "HEX")]
    pub payout_script: Option<String>,
    #[command(flatten)]
    pub backends: BackendArgs,
    /// Exit (status 0) once this many blocks are accepted. Blocks the devices found meanwhile
    /// are still submitted (a found block is never dropped), so a fast run may end with more.
    #[arg(help_heading = "Solo", long, value_name = "N")]
    pub blocks: Option<u64>,
    /// Exit after this many seconds.
    #[arg(help_heading = "Work source", long, value_name = "S")]
    pub duration: Option<f64>,
    /// Found blocks not yet answered by the node are kept here and retried [default:
    /// hashrig/found-blocks.jsonl in the platform's data directory, e.g.
    /// ~/.local/share/hashrig/ or $XDG_DATA_HOME/hashrig/].
    #[arg(help_heading = "Solo", long, value_name = "FILE")]
    pub journal: Option<std::path::PathBuf>,
    /// Template polling interval in milliseconds when the node does not long-poll.
    #[arg(help_heading = "Solo", long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub poll_ms: u64,
    /// Seconds a long poll may hang before it is asked again.
    #[arg(help_heading = "Solo", long, value_name = "S", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub longpoll_timeout: u64,
    /// Seconds to wait for one RPC answer.
    #[arg(help_heading = "Solo", long, value_name = "S", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rpc_timeout: u64,
    /// No live status block: plain periodic lines (also when stderr is not a terminal).
    #[arg(help_heading = "Monitoring", long)]
    pub no_tui: bool,
    /// Serve the monitoring API (JSON, Prometheus /metrics, a dashboard page) on this
    /// address: PORT (loopback), localhost:PORT, or IP:PORT.
    #[arg(help_heading = "Monitoring", long, value_name = "ADDR", value_parser = api_addr)]
    pub api: Option<std::net::SocketAddr>,
    /// Allow a non-loopback --api address (needs --api-token) or --api-cgminer address
    /// (needs --api-cgminer-allow).
    #[arg(help_heading = "Monitoring", long)]
    pub api_allow_remote: bool,
    /// Bearer token every API request must carry (or HASHRIG_API_TOKEN).
    #[arg(
        help_heading = "Monitoring",
        long,
        value_name = "TOKEN",
        env = "HASHRIG_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// Answer cgminer's API (JSON over TCP: summary, devs, pools, version, config; read-only),
    /// the protocol farm monitors speak: PORT (loopback), localhost:PORT or IP:PORT; 4028
    /// (cgminer's port) when given alone.
    #[arg(help_heading = "Monitoring", long, value_name = "ADDR", value_parser = api_addr, num_args = 0..=1, default_missing_value = "4028")]
    pub api_cgminer: Option<std::net::SocketAddr>,
    /// The addresses answered by a non-loopback --api-cgminer (cgminer's --api-allow), as
    /// networks or single addresses: 192.168.1.0/24,10.0.0.5.
    #[arg(help_heading = "Monitoring", long, value_name = "NETS", value_delimiter = ',', value_parser = network, requires = "api_cgminer")]
    pub api_cgminer_allow: Vec<ipnet::IpNet>,
    /// Testing aid: take the next roll (version bits, extranonce2) after this many nonces
    /// instead of all 2^32 (so that a CPU rolls version bits within a short test).
    #[arg(help_heading = "Solo", long, value_name = "N", hide = true, value_parser = clap::value_parser!(u64).range(1..=4_294_967_296))]
    pub nonces_per_roll: Option<u64>,
    /// Testing aid: search for this compact target (hex bits) instead of the block's when it
    /// is harder; blocks must still meet the block's own target.
    #[arg(help_heading = "Solo", long, value_name = "HEX", hide = true)]
    pub share_bits: Option<String>,
}

const MINE_EXAMPLES: &str = "\
Examples:
  # a Stratum v1 pool, with a failover
  hashrig mine --pool stratum+tcp://pool.example:3333 --pool stratum+ssl://backup.example:443 --user ACCOUNT.rig1
  # a Stratum V2 pool (its authority key after the address)
  hashrig mine --pool stratum2+tcp://pool.example:34254/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72 --user ACCOUNT.rig1
  # job declaration: your node's transactions, the pool's payout (solo on --payout if it is away)
  hashrig mine --node http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie --payout bc1q... \
    --pool stratum2+tcp://pool.example:34254/KEY --jds stratum2+tcp://pool.example:34264/KEY --user ACCOUNT.rig1
  # solo on your own node, for an hour, with the monitoring API and dashboard
  hashrig mine --node http://127.0.0.1:8332 --rpc-cookie ~/.bitcoin/.cookie --payout bc1q... --duration 3600 --api 8420
  # only the first and third GPU
  hashrig mine --pool stratum+tcp://pool.example:3333 --user ACCOUNT.rig1 --backend gpu --gpu 0,2";

/// A `--api` value that is not an address.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error("{0:?} is not a port")]
    Port(String),
    #[error("expected PORT, localhost:PORT or IP:PORT (e.g. 8420, 127.0.0.1:8420)")]
    Form,
    #[error("{0:?} is not a network or an address (e.g. 192.168.1.0/24, 10.0.0.5)")]
    Network(String),
}

/// A network (`192.168.1.0/24`) or a single address (`10.0.0.5`, as a /32 or /128).
pub fn network(text: &str) -> Result<ipnet::IpNet, AddrError> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| AddrError::Network(text.to_string()))
}

/// `--api`: `8420` and `localhost:8420` are 127.0.0.1:8420; otherwise an IP and a port.
pub fn api_addr(text: &str) -> Result<std::net::SocketAddr, AddrError> {
    use std::net::{Ipv4Addr, SocketAddr};
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| AddrError::Port(port.to_string()))?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse().map_err(|_| AddrError::Form)
}

#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// One JSON array on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sv2Channel {
    Standard,
    Extended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algo {
    /// Double SHA-256 (Bitcoin).
    Sha256d,
    /// scrypt(1024, 1, 1) (Litecoin; Dogecoin in pools), on CPUs and GPUs.
    Scrypt,
}

impl From<Algo> for hashrig::algo::Algo {
    fn from(a: Algo) -> Self {
        match a {
            Algo::Sha256d => hashrig::algo::Algo::Sha256d,
            Algo::Scrypt => hashrig::algo::Algo::Scrypt,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CPU threads only.
    Cpu,
    /// GPUs only (an error when there is none).
    Gpu,
    /// The CPU and every GPU together (`bench` measures each alone, then all together).
    All,
    /// Every hardware GPU and the CPU; the CPU alone when there is no GPU. Software adapters
    /// (lavapipe, llvmpipe) are left to `--backend gpu`.
    Auto,
}

/// Which backends run, shared by `bench` and `mine`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Devices")]
pub struct BackendArgs {
    /// Proof of work: sha256d (Bitcoin) or scrypt (Litecoin; Dogecoin in pools). With --node
    /// it must be the node's chain's.
    #[arg(long, value_enum, default_value_t = Algo::Sha256d)]
    pub algo: Algo,
    /// Which backends run.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// CPU kernel: scalar, sha-ni, avx2 or avx512; for scrypt avx512-zmm-x16, avx512-zmm-x8,
    /// avx2-ymm-x8, avx512-rows-x8, avx512-rows-x4, sse2-rows-x4, sse2-rows-x2 or portable
    /// (default: the fastest this CPU runs; `bench` then measures every supported kernel at
    /// one thread).
    #[arg(long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// CPU threads (default: every core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
    /// Use only these GPUs: indexes in `hashrig devices`, parts of names, or `all`, comma
    /// separated (`0,2`, `h200`, `all`).
    #[arg(long, value_name = "LIST")]
    pub gpu: Option<String>,
    /// Target duration of one GPU dispatch in milliseconds (the batch size is tuned to it).
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub gpu_kernel_ms: u64,
    /// GPU invocations per workgroup: 32, 64, 128 or 256.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub gpu_workgroup: u32,
    /// scrypt on GPUs: keep every Nth scratchpad entry and recompute the others, 1 to 32
    /// (default: the smallest gap at which enough hashes fit in the adapter's largest buffer;
    /// `bench --sweep --algo scrypt` measures each).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub lookup_gap: Option<u32>,
    /// How the GPU shader writes a rotate: or, xor, add or insert-bits (for finding the one a
    /// driver compiles to a single funnel shift; all compute the same hashes).
    #[arg(
        long,
        value_name = "FORM",
        env = "HASHRIG_GPU_ROTATE",
        default_value = "or",
        hide = true
    )]
    pub gpu_rotate: String,
    /// Testing aid: every GPU destroys itself (as a driver reset would) at its first dispatch
    /// this many milliseconds after it was opened, to exercise the device-failure path.
    #[arg(long, value_name = "MS", hide = true)]
    pub lose_gpus_after_ms: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub backends: BackendArgs,
    /// Seconds to measure each row in each round.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub seconds: f64,
    /// Rounds: every row is measured once per round (rows interleaved); the table shows the
    /// median and the spread between rounds.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// GPUs: measure fixed batch sizes instead (a table of batch / kernel time / hash rate,
    /// to see where the card saturates), `--seconds` each; with --algo scrypt, each lookup
    /// gap instead.
    #[arg(long)]
    pub sweep: bool,
    /// Also draw the hash rate of every row over time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--kernel`'s help names every CPU kernel there is, for both algorithms.
    #[test]
    fn kernel_help_names_every_kernel() {
        let mut cli = super::Cli::command();
        let bench = cli.find_subcommand_mut("bench").expect("bench");
        let help = bench
            .render_long_help()
            .to_string()
            .replace(char::is_whitespace, "");
        for kind in hashrig::backend::cpu::KernelKind::ALL {
            assert!(help.contains(&kind.to_string()), "{kind} in {help}");
        }
        for k in hashrig::backend::cpu::scrypt::ScryptKernel::ALL {
            assert!(help.contains(k.name()), "{} in {help}", k.name());
        }
    }
}
