//! Flags -> checked configs. Nothing is opened here but the backends and the journal, and
//! only once every flag has been checked.

use anyhow::Result;
use clap::Parser;

use super::args::{self as cli, BackendChoice, BenchArgs, Cli, Command};
use super::usage;
use hashrig::backend::cpu::scrypt::ScryptKernel;
use hashrig::backend::cpu::{Kernel, KernelKind};
use hashrig::backend::{Backend, BackendSpec, Selection};
use hashrig::bench::BenchConfig;
use hashrig::mine::Limits;
use hashrig::source::jd::JdSource;
use hashrig::source::node::{Auth, Journal, Node, NodeSource, Payout, RpcClient};
use hashrig::source::stratum::transport::tls_config;
use hashrig::source::stratum::v2::ChannelKind;
use hashrig::source::stratum::{PoolConfig, PoolUrl, StratumOptions, StratumSource};
use hashrig::source::Source;
use hashrig::ui::api::cgminer::CgminerConfig;
use hashrig::ui::api::ApiConfig;

/// The `--kernel` asked for, checked against this CPU.
fn cpu_kernel(args: &cli::BackendArgs) -> Result<Option<Kernel>> {
    if args.algo == cli::Algo::Scrypt {
        return Ok(None);
    }
    match &args.kernel {
        None => Ok(None),
        Some(name) => {
            let kind: KernelKind = name.parse().map_err(|e| usage(format!("--kernel: {e}")))?;
            Ok(Some(
                Kernel::new(kind).map_err(|e| usage(format!("--kernel: {e}")))?,
            ))
        }
    }
}

/// The scrypt `--kernel` asked for (with `--algo scrypt`), checked against this CPU.
fn scrypt_kernel(args: &cli::BackendArgs) -> Result<Option<ScryptKernel>> {
    match (&args.kernel, args.algo) {
        (Some(name), cli::Algo::Scrypt) => ScryptKernel::by_name(name)
            .map(Some)
            .map_err(|e| usage(format!("--kernel: {e}"))),
        _ => Ok(None),
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

/// The backend flags, checked (nothing opened yet).
pub fn backend_spec(args: &cli::BackendArgs) -> Result<BackendSpec> {
    let selection = match args.backend {
        BackendChoice::Cpu => Selection::Cpu,
        BackendChoice::Gpu => Selection::Gpu,
        BackendChoice::All => Selection::All,
        BackendChoice::Auto => Selection::Auto,
    };
    if cfg!(not(feature = "gpu")) && selection == Selection::Gpu {
        return Err(usage("this hashrig was built without the `gpu` feature"));
    }
    #[cfg(feature = "gpu")]
    let shader = {
        use hashrig::backend::gpu::{ShaderOptions, WORKGROUP_SIZES};
        if !WORKGROUP_SIZES.contains(&args.gpu_workgroup) {
            return Err(usage(format!(
                "--gpu-workgroup {} is not one of {WORKGROUP_SIZES:?}",
                args.gpu_workgroup
            )));
        }
        ShaderOptions {
            workgroup_size: args.gpu_workgroup,
            rotate: args.gpu_rotate.parse().map_err(usage)?,
        }
    };
    let algo = hashrig::algo::Algo::from(args.algo);
    if args.lookup_gap.is_some() && algo != hashrig::algo::Algo::Scrypt {
        return Err(usage(
            "--lookup-gap is scrypt's (GPU scratchpad): give --algo scrypt or drop it",
        ));
    }
    if args.lookup_gap.is_some() && selection == Selection::Cpu {
        return Err(usage(
            "--lookup-gap sets GPUs' scrypt scratchpads, and --backend cpu opens none: drop one",
        ));
    }
    Ok(BackendSpec {
        selection,
        algo,
        lookup_gap: args.lookup_gap,
        kernel: cpu_kernel(args)?.unwrap_or_else(Kernel::best),
        scrypt_kernel: scrypt_kernel(args)?.unwrap_or_else(ScryptKernel::best),
        threads: cpu_threads(args),
        gpu: args.gpu.clone(),
        #[cfg(feature = "gpu")]
        shader,
        gpu_kernel_time: std::time::Duration::from_millis(whole(
            "gpu-kernel-ms",
            args.gpu_kernel_ms,
            1,
            10_000,
            "milliseconds",
        )?),
        lose_gpus_after: args
            .lose_gpus_after_ms
            .map(|ms| whole("lose-gpus-after-ms", ms, 0, 86_400_000, "milliseconds"))
            .transpose()?
            .map(std::time::Duration::from_millis),
    })
}

/// A checked `mine` run: the source, the backends, the limits.
pub struct MineConfig {
    pub source: Box<dyn Source>,
    pub backends: Vec<Backend>,
    pub limits: Limits,
    pub api: Option<ApiConfig>,
    pub cgminer: Option<CgminerConfig>,
}

fn seconds(flag: &str, value: f64) -> Result<std::time::Duration> {
    seconds_up_to(flag, value, 86_400.0)
}

/// `--flag` in seconds: more than 0 and at most `max` (no flag or config value can make a
/// duration that overflows a clock).
fn seconds_up_to(flag: &str, value: f64, max: f64) -> Result<std::time::Duration> {
    if !(value.is_finite() && value > 0.0 && value <= max) {
        return Err(usage(format!(
            "--{flag} must be more than 0 and at most {max} seconds, got {value}"
        )));
    }
    Ok(std::time::Duration::from_secs_f64(value))
}

/// `--flag` in whole units (seconds, milliseconds) within `min..=max`.
fn whole(flag: &str, value: u64, min: u64, max: u64, unit: &str) -> Result<u64> {
    if !(min..=max).contains(&value) {
        return Err(usage(format!(
            "--{flag} must be from {min} to {max} {unit}, got {value}"
        )));
    }
    Ok(value)
}

/// The longest `--duration`: ten years.
const MAX_DURATION: f64 = 10.0 * 365.0 * 86_400.0;

/// The timing flags of a mine run, checked.
struct Timings {
    duration: Option<std::time::Duration>,
    rpc_timeout: std::time::Duration,
    longpoll_timeout: std::time::Duration,
    poll: std::time::Duration,
}

fn timings(args: &cli::MineArgs) -> Result<Timings> {
    Ok(Timings {
        duration: args
            .duration
            .map(|d| seconds_up_to("duration", d, MAX_DURATION))
            .transpose()?,
        rpc_timeout: std::time::Duration::from_secs(whole(
            "rpc-timeout",
            args.rpc_timeout,
            1,
            3600,
            "seconds",
        )?),
        longpoll_timeout: std::time::Duration::from_secs(whole(
            "longpoll-timeout",
            args.longpoll_timeout,
            1,
            3600,
            "seconds",
        )?),
        poll: std::time::Duration::from_millis(whole(
            "poll-ms",
            args.poll_ms,
            10,
            3_600_000,
            "milliseconds",
        )?),
    })
}

/// Checks the mine flags, then opens the journal (solo) and the backends.
pub fn mine_config(args: &cli::MineArgs) -> Result<MineConfig> {
    let timings = timings(args)?;
    let (source, shares): (Box<dyn Source>, _) = match &args.node {
        Some(node) if args.jds.is_some() => (Box::new(jd_source(node, args)?), args.shares),
        Some(node) => {
            solo_only(args)?;
            (Box::new(node_source(node, args)?), None)
        }
        None => (Box::new(pool_source(args)?), args.shares),
    };
    let (api, cgminer) = monitoring(args)?;
    let spec = backend_spec(&args.backends)?;
    Ok(MineConfig {
        api,
        cgminer,
        source,
        backends: spec.open()?,
        limits: Limits {
            blocks: args.blocks,
            shares,
            duration: timings.duration,
            nonces_per_roll: args.nonces_per_roll,
            solution_rate: None,
        },
    })
}

/// Solo mining: no pool flags.
fn solo_only(args: &cli::MineArgs) -> Result<()> {
    if !args.pool.is_empty() {
        return Err(usage(
            "--node and --pool together mean job declaration: give the pool's --jds too (or leave out one of them)",
        ));
    }
    if args.shares.is_some() {
        return Err(usage(
            "--shares is for pools; give --blocks for solo mining",
        ));
    }
    Ok(())
}

/// Job declaration: the node (templates, the fallback's payout), one Stratum V2 pool and its
/// JDS.
fn jd_source(node: &str, args: &cli::MineArgs) -> Result<JdSource> {
    let (rpc, payout, pool, jds, options) = jd_parts(node, args)?;
    let path = match &args.journal {
        Some(path) => path.clone(),
        None => default_journal()?,
    };
    Ok(JdSource {
        node: Node::new(rpc).with_longpoll_timeout(timings(args)?.longpoll_timeout),
        payout,
        journal: Journal::open(&path)?,
        poll: timings(args)?.poll,
        pool,
        jds,
        options,
    })
}

type JdParts = (RpcClient, Payout, PoolConfig, PoolUrl, StratumOptions);

/// Job declaration's flags, checked (nothing opened).
fn jd_parts(node: &str, args: &cli::MineArgs) -> Result<JdParts> {
    let jds = args.jds.as_deref().unwrap_or_default();
    if args.backends.algo != cli::Algo::Sha256d {
        return Err(usage(
            "job declaration is Stratum V2's, which is SHA-256d's: drop --algo or --jds",
        ));
    }
    let (rpc, payout, share_bits) = node_parts(node, args)?;
    if share_bits.is_some() {
        return Err(usage("--share-bits is for solo mining"));
    }
    let [pool] = args.pool.as_slice() else {
        return Err(usage(
            "job declaration takes one --pool (the pool whose JDS is --jds)",
        ));
    };
    let pool_url: PoolUrl = pool.parse().map_err(|e| usage(format!("--pool: {e}")))?;
    let jds: PoolUrl = jds.parse().map_err(|e| usage(format!("--jds: {e}")))?;
    for (flag, url) in [("--pool", &pool_url), ("--jds", &jds)] {
        if url.v2.is_none() {
            return Err(usage(format!(
                "{flag} {url}: job declaration is Stratum V2: give stratum2+tcp://HOST:PORT/AUTHORITY_KEY"
            )));
        }
    }
    let user = match (&pool_url.user, &args.user) {
        (Some(u), _) | (None, Some(u)) if !u.is_empty() => u.clone(),
        _ => {
            return Err(usage(
                "job declaration needs --user (the pool account paid for the shares)",
            ))
        }
    };
    let password = pool_url
        .password
        .clone()
        .unwrap_or_else(|| args.password.clone().into());
    if args.sv2_channel != cli::Sv2Channel::Standard {
        return Err(usage(
            "--sv2-channel: job declaration opens its own (custom-work extended) channel",
        ));
    }
    Ok((
        rpc,
        payout,
        PoolConfig {
            url: pool_url,
            user,
            password,
        },
        jds,
        StratumOptions {
            answer_timeout: seconds("pool-timeout", args.pool_timeout)?,
            idle_timeout: seconds("pool-idle", args.pool_idle)?,
            failback: seconds("pool-failback", args.pool_failback)?,
            suggest_difficulty: None,
            allow_redirect: false,
            tls: None,
            channel: ChannelKind::Custom,
            hash_rate: args.hashrate.as_deref().map(parse_rate).transpose()?,
            update_every: seconds("sv2-update-every", args.sv2_update_every)?,
            algo: args.backends.algo.into(),
        },
    ))
}

fn pool_source(args: &cli::MineArgs) -> Result<StratumSource> {
    if args.jds.is_some() {
        return Err(usage("--jds needs --node (the templates to declare)"));
    }
    for (flag, given) in [
        ("--rpc-user", args.rpc_user.is_some()),
        ("--rpc-cookie", args.rpc_cookie.is_some()),
        ("--payout", args.payout.is_some()),
        ("--payout-script", args.payout_script.is_some()),
        ("--share-bits", args.share_bits.is_some()),
    ] {
        if given {
            return Err(usage(format!(
                "{flag} is for solo mining (--node); a pool pays to the --user account"
            )));
        }
    }
    if args.user.as_deref() == Some("") {
        return Err(usage("--user must not be empty"));
    }
    let mut pools = Vec::new();
    for url in &args.pool {
        let url: PoolUrl = url.parse().map_err(|e| usage(format!("--pool: {e}")))?;
        if url.v2.is_some() && args.backends.algo != cli::Algo::Sha256d {
            return Err(usage(format!(
                "--pool {url}: Stratum V2 is SHA-256d's protocol; mine scrypt on a stratum+tcp pool"
            )));
        }
        // The URL's own login (user:password@host) wins for that pool.
        let user = match (&url.user, &args.user) {
            (Some(u), _) | (None, Some(u)) => u.clone(),
            (None, None) => {
                return Err(usage(format!(
                    "--pool {url} needs --user (or USER@ in its URL)"
                )))
            }
        };
        let password = url
            .password
            .clone()
            .unwrap_or_else(|| args.password.clone().into());
        pools.push(PoolConfig {
            url,
            user,
            password,
        });
    }
    if let Some(d) = args.suggest_difficulty {
        if !(d.is_finite() && d > 0.0) {
            return Err(usage(format!(
                "--suggest-difficulty must be a number above 0, got {d}"
            )));
        }
    }
    let tls = if pools.iter().any(|p| p.url.tls) {
        Some(tls_config(args.pool_ca.as_deref()).map_err(usage)?)
    } else {
        if args.pool_ca.is_some() {
            return Err(usage("--pool-ca is for stratum+ssl:// pools"));
        }
        None
    };
    Ok(StratumSource::new(
        pools,
        StratumOptions {
            answer_timeout: seconds("pool-timeout", args.pool_timeout)?,
            idle_timeout: seconds("pool-idle", args.pool_idle)?,
            failback: seconds("pool-failback", args.pool_failback)?,
            suggest_difficulty: args.suggest_difficulty,
            allow_redirect: args.pool_redirect,
            tls,
            channel: match args.sv2_channel {
                cli::Sv2Channel::Standard => ChannelKind::Standard,
                cli::Sv2Channel::Extended => ChannelKind::Extended,
            },
            hash_rate: args.hashrate.as_deref().map(parse_rate).transpose()?,
            update_every: seconds("sv2-update-every", args.sv2_update_every)?,
            algo: args.backends.algo.into(),
        },
    ))
}

/// "80M", "6.5G", "1e9" -> hashes per second.
fn parse_rate(text: &str) -> Result<f64> {
    let t = text.trim().trim_end_matches("H/s").trim_end_matches('H');
    let (number, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        Some('T') => (&t[..t.len() - 1], 1e12),
        Some('P') => (&t[..t.len() - 1], 1e15),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * scale < 1e21 => Ok(n * scale),
        _ => Err(usage(format!(
            "--hashrate {text:?} is not a hash rate (e.g. 80M or 6.5G)"
        ))),
    }
}

/// hashrig/found-blocks.jsonl in the platform's data directory ($XDG_DATA_HOME or
/// ~/.local/share on Linux), made if missing: never the current directory.
fn default_journal() -> Result<std::path::PathBuf> {
    let Some(data) = dirs::data_dir() else {
        return Err(usage(
            "no data directory for the found-block journal (HOME is not set): give --journal FILE",
        ));
    };
    let dir = data.join("hashrig");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("making the journal's directory {}: {e}", dir.display()))?;
    Ok(dir.join("found-blocks.jsonl"))
}

fn node_source(node: &str, args: &cli::MineArgs) -> Result<NodeSource> {
    let (rpc, payout, share_bits) = node_parts(node, args)?;
    let path = match &args.journal {
        Some(path) => path.clone(),
        None => default_journal()?,
    };
    let journal = Journal::open(&path)?;
    Ok(NodeSource {
        node: Node::new(rpc).with_longpoll_timeout(timings(args)?.longpoll_timeout),
        payout,
        journal,
        poll: timings(args)?.poll,
        share_bits,
        algo: args.backends.algo.into(),
    })
}

/// Checks the mine flags as `mine_config` does, without opening anything (`config check`).
pub fn check_mine(args: &cli::MineArgs) -> Result<()> {
    timings(args)?;
    match &args.node {
        Some(node) if args.jds.is_some() => {
            jd_parts(node, args)?;
        }
        Some(node) => {
            solo_only(args)?;
            node_parts(node, args)?;
        }
        None => {
            pool_source(args)?;
        }
    }
    monitoring(args)?;
    backend_spec(&args.backends)?;
    Ok(())
}

/// The monitoring API and cgminer's API, checked (the remote rules).
fn monitoring(args: &cli::MineArgs) -> Result<(Option<ApiConfig>, Option<CgminerConfig>)> {
    if args.api_allow_remote && args.api.is_none() && args.api_cgminer.is_none() {
        return Err(usage("--api-allow-remote is for --api or --api-cgminer"));
    }
    let api = match args.api {
        Some(addr) => {
            let config = ApiConfig {
                addr,
                token: args.api_token.clone().map(Into::into),
                allow_remote: args.api_allow_remote,
            };
            config.check().map_err(usage)?;
            Some(config)
        }
        None => None,
    };
    let cgminer = match args.api_cgminer {
        Some(addr) => {
            let config = CgminerConfig {
                addr,
                allow_remote: args.api_allow_remote,
                allow: args.api_cgminer_allow.clone(),
            };
            config.check().map_err(usage)?;
            Some(config)
        }
        None => None,
    };
    Ok((api, cgminer))
}

type NodeParts = (RpcClient, Payout, Option<hashrig::chain::CompactTarget>);

/// The node source's settings, checked (nothing opened).
fn node_parts(node: &str, args: &cli::MineArgs) -> Result<NodeParts> {
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
    let rpc = RpcClient::new(node, auth, timings(args)?.rpc_timeout).map_err(usage)?;
    let payout = match (&args.payout, &args.payout_script) {
        (Some(address), None) => {
            hashrig::chain::params::plausible_address(address)
                .map_err(|e| usage(format!("--payout {address:?} is not an address: {e}")))?;
            Payout::Address(address.clone())
        }
        (None, Some(hex)) => {
            use bitcoin::hex::FromHex;
            let bytes = Vec::<u8>::from_hex(hex.trim())
                .map_err(|e| usage(format!("--payout-script: not hex: {e}")))?;
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
    Ok((rpc, payout, share_bits))
}

/// Checks the bench flags into a [`BenchConfig`] (the GPUs are opened here).
pub fn bench_config(args: &BenchArgs) -> Result<BenchConfig> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(usage(format!(
            "--seconds must be more than 0 and at most 3600, got {}",
            args.seconds
        )));
    }
    let b = &args.backends;
    let spec = backend_spec(b)?;
    Ok(BenchConfig {
        algo: spec.algo,
        scrypt_kernel: scrypt_kernel(b)?,
        cpu: spec.selection != Selection::Gpu,
        #[cfg(feature = "gpu")]
        gpus: spec.open_gpus()?,
        kernel: cpu_kernel(b)?,
        threads: spec.threads,
        seconds: args.seconds,
        rounds: args.rounds as usize,
        together: b.backend == BackendChoice::All,
    })
}

/// `hashrig config check FILE`: each section parses as its command's flags and passes the
/// same checks a run makes (nothing is opened).
pub fn config_check(path: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    let mut checked = Vec::new();
    for section in ["mine", "bench"] {
        let merged =
            super::file::merge(path, vec!["hashrig".into(), section.into()]).map_err(usage)?;
        let argv = merged.argv.clone();
        if !table.contains_key(section) {
            continue;
        }
        let cli = Cli::try_parse_from(&argv).map_err(|e| {
            usage(
                super::file::explain(path, &merged, &e)
                    .unwrap_or_else(|| format!("{} [{section}]: {}", path.display(), e.kind()))
                    + &format!("\n{}", e.render()),
            )
        })?;
        // A bad value is told as the file's key.
        let keyed = |e: anyhow::Error| usage(merged.name_key(path, &e.to_string()));
        match cli.command {
            Command::Mine(args) => check_mine(&args).map_err(keyed)?,
            Command::Bench(args) => {
                if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
                    return Err(keyed(usage(
                        "--seconds must be more than 0 and at most 3600",
                    )));
                }
                backend_spec(&args.backends).map_err(keyed)?;
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
