//! Flags -> checked configs. Nothing is opened here but the backends and the journal, and
//! only once every flag has been checked.

use anyhow::Result;

use crate::cli::{self, BackendChoice, BenchArgs};
use crate::usage;
use hashrig::backend::cpu::{Kernel, KernelKind};
use hashrig::backend::{Backend, BackendSpec, Selection};
use hashrig::bench::BenchConfig;
use hashrig::mine::Limits;
use hashrig::source::node::{Auth, Journal, Node, NodeSource, Payout, RpcClient};

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
    Ok(BackendSpec {
        selection,
        kernel: cpu_kernel(args)?.unwrap_or_else(Kernel::best),
        threads: cpu_threads(args),
        gpu: args.gpu.clone(),
        #[cfg(feature = "gpu")]
        shader,
        gpu_kernel_time: std::time::Duration::from_millis(args.gpu_kernel_ms),
        lose_gpus_after: args
            .lose_gpus_after_ms
            .map(std::time::Duration::from_millis),
    })
}

/// A checked `mine` run: the source, the backends, the limits.
pub struct MineConfig {
    pub source: NodeSource,
    pub backends: Vec<Backend>,
    pub limits: Limits,
}

/// Checks the mine flags, then opens the journal and the backends.
pub fn mine_config(args: &cli::MineArgs) -> Result<MineConfig> {
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
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(usage(format!("--duration must be more than 0, got {d}")));
        }
    }
    let spec = backend_spec(&args.backends)?;
    let journal = Journal::open(&args.journal)?;
    Ok(MineConfig {
        source: NodeSource {
            node: Node::new(rpc)
                .with_longpoll_timeout(std::time::Duration::from_secs(args.longpoll_timeout)),
            payout,
            journal,
            poll: std::time::Duration::from_millis(args.poll_ms),
            share_bits,
        },
        backends: spec.open()?,
        limits: Limits {
            blocks: args.blocks,
            duration: args.duration.map(std::time::Duration::from_secs_f64),
        },
    })
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
        cpu: spec.selection != Selection::Gpu,
        #[cfg(feature = "gpu")]
        gpus: spec.open_gpus()?,
        kernel: cpu_kernel(b)?,
        threads: spec.threads,
        seconds: args.seconds,
        together: b.backend == BackendChoice::All,
    })
}
