//! Pool mining over Stratum v1 and V2: one session per connection, failover in priority
//! order, and a return to a better pool once it is back.
//!
//! - `v1/`: the v1 wire format (`protocol.rs`) and the v1 session (`session.rs`);
//! - `v2/`: the V2 wire on the SRI crates (`wire.rs`) and the V2 channel (`channel.rs`);
//! - `session.rs`: what sessions and the code around them say to each other;
//! - `pool.rs`: the coordinator (failover, failback, reconnects, shares);
//! - `driver.rs`: each connection's reader and writer threads; `transport.rs`: TCP and TLS.
//!
//! Sessions are sans-IO state machines (input in, actions out) tested message by message;
//! threads, sockets and clocks live only in the driver and the coordinator. Every queue is
//! bounded and every remote value in a log line is clipped and escaped.

pub mod driver;
pub mod error;
mod pool;
pub mod session;
pub mod transport;
pub mod v1;
pub mod v2;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

pub use error::StratumError;
pub use transport::PoolUrl;

use crate::secret::Secret;
use crate::source::{Link, Running, SinkError, Solution, SolutionSink, Source, SourceError};
use driver::Event;

/// What hashrig calls itself in `mining.subscribe` and `client.get_version`.
pub const AGENT: &str = concat!("hashrig/", env!("CARGO_PKG_VERSION"));

/// One pool to mine on.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub url: PoolUrl,
    pub user: String,
    pub password: Secret,
}

/// How the pool source behaves.
#[derive(Clone, Debug)]
pub struct StratumOptions {
    /// Connecting (TLS included), each handshake answer and each submit answer must come
    /// within this.
    pub answer_timeout: Duration,
    /// A pool that sends no new job for this long is left for the next one.
    pub idle_timeout: Duration,
    /// How often a better pool than the one in use is tried again.
    pub failback: Duration,
    /// Sent as `mining.suggest_difficulty` before authorizing.
    pub suggest_difficulty: Option<f64>,
    /// Follow `client.reconnect` to another host (the same host is always followed).
    pub allow_redirect: bool,
    /// TLS roots for `stratum+ssl` pools.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Stratum V2: the kind of channel to open.
    pub channel: v2::ChannelKind,
    /// Stratum V2: the nominal hash rate to announce first (H/s); measured when not given.
    pub hash_rate: Option<f64>,
    /// Stratum V2: how often the measured rate is compared with the announced one
    /// (UpdateChannel when they differ by 2x).
    pub update_every: Duration,
    /// The pools' proof of work (Stratum v1 only: Stratum V2 is SHA-256d's).
    pub algo: crate::algo::Algo,
}

impl Default for StratumOptions {
    fn default() -> Self {
        StratumOptions {
            answer_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            failback: Duration::from_secs(60),
            suggest_difficulty: None,
            allow_redirect: false,
            tls: None,
            channel: v2::ChannelKind::Standard,
            hash_rate: None,
            update_every: Duration::from_secs(60),
            algo: crate::algo::Algo::Sha256d,
        }
    }
}

/// Mines on pools, in priority order.
pub struct StratumSource {
    pools: Vec<PoolConfig>,
    options: StratumOptions,
}

impl StratumSource {
    pub fn new(pools: Vec<PoolConfig>, options: StratumOptions) -> Self {
        StratumSource { pools, options }
    }
}

impl Source for StratumSource {
    fn describe(&self) -> String {
        match self.pools.as_slice() {
            [] => "no pool".into(),
            [one] => format!("pool {}", one.url),
            [first, rest @ ..] => format!("pool {} (and {} failover)", first.url, rest.len()),
        }
    }

    fn wants_hash_rate(&self) -> bool {
        self.options.hash_rate.is_none() && self.pools.iter().any(|p| p.url.v2.is_some())
    }

    fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError> {
        if self.pools.is_empty() {
            return Err(SourceError::NoPools);
        }
        if self.pools.iter().any(|p| p.url.tls) && self.options.tls.is_none() {
            return Err(StratumError::NoTlsConfig.into());
        }
        link.stats()
            .register_pools(self.pools.iter().map(|p| p.url.to_string()));
        let (tx, rx) = mpsc::sync_channel::<Event>(driver::EVENT_QUEUE);
        // Solutions go straight into the coordinator's queue: one hop from the mining loop,
        // which keeps them while the queue is full. Closing never waits (the coordinator may
        // itself be waiting for the mining loop): a flag, and a wake-up if there is room.
        let (share_tx, close_tx) = (tx.clone(), tx.clone());
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closed_flag = Arc::clone(&closed);
        let solutions = SolutionSink::new(
            move |s| {
                share_tx
                    .try_send(Event::Solution(Box::new(s)))
                    .map_err(|e| match e {
                        mpsc::TrySendError::Full(Event::Solution(s)) => SinkError::Full(s),
                        mpsc::TrySendError::Disconnected(Event::Solution(s)) => {
                            SinkError::Closed(s)
                        }
                        _ => unreachable!("only solutions are sent here"),
                    })
            },
            move || {
                closed_flag.store(true, std::sync::atomic::Ordering::Release);
                let _ = close_tx.try_send(Event::SolutionsClosed);
            },
        );
        let pools = pool::Pools::new(self.pools, self.options, link, tx, rx, closed);
        let thread = std::thread::Builder::new()
            .name("hashrig-pools".into())
            .spawn(move || pools.run())?;
        Ok(Running {
            solutions,
            threads: vec![thread],
        })
    }
}

/// What a solution carries back: whose job it was.
#[derive(Debug)]
pub(crate) struct JobContext {
    pub pool: usize,
    pub session: u64,
    pub job: String,
    pub difficulty: f64,
    pub extranonce1: Vec<u8>,
}

pub(crate) fn context(solution: &Solution) -> Option<&JobContext> {
    solution.work.context.as_ref()?.downcast_ref::<JobContext>()
}
