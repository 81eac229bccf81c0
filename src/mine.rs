//! `hashrig mine`: solo mining against a node.
//!
//! Threads: one polls (or long-polls) the node for templates and publishes them on the
//! [`Board`]; one per backend (the CPU pool, each GPU) takes nonce ranges of the current work
//! and scans them; the caller's thread verifies what they find, builds and checks the block,
//! and submits it through the journal. A new previous block (or a block of ours accepted) bumps
//! the generation, so every backend drops the old work at its next check: within one batch.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::{Network, ScriptBuf};

use crate::backend::cpu::CpuBackend;
use crate::backend::ScanReport;
use crate::chain::block::{block_hex, check_block, BlockWork, Template};
use crate::chain::{CompactTarget, Target};
use crate::job::{Generation, Job, NonceRange, NONCE_SPACE};
use crate::source::node::{Node, NodeError};
use crate::stats::format_hashrate;
use crate::submit::{self, FoundBlock, Journal, JournalError, Submitted};
use crate::verify::{Candidate, Verifier};

/// Where the coinbase pays.
#[derive(Clone, Debug)]
pub enum Payout {
    /// An address, checked against the node's network once it answers.
    Address(bitcoin::Address<bitcoin::address::NetworkUnchecked>),
    /// A raw output script (for nodes whose address format the bitcoin crate does not know).
    Script(ScriptBuf),
}

/// Errors that end a mining run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MineError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("the payout address is for another network than the node's ({network}): {reason}")]
    PayoutNetwork { network: String, reason: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot build a block from the template: {0}")]
    Build(String),
    #[error("no backend is left mining (the last one failed: {0})")]
    NoBackend(String),
}

/// One backend the miner drives.
pub enum Worker {
    Cpu(CpuBackend),
    #[cfg(feature = "gpu")]
    Gpu(crate::backend::gpu::GpuDevice),
}

impl Worker {
    fn name(&self) -> String {
        match self {
            Worker::Cpu(c) => format!("cpu {} x{}", c.kernel().name(), c.threads()),
            #[cfg(feature = "gpu")]
            Worker::Gpu(g) => format!("gpu {}", g.info().name),
        }
    }
}

/// A mining run's settings, checked.
pub struct MineConfig {
    pub node: Node,
    pub payout: Payout,
    pub workers: Vec<Worker>,
    /// Exit after this many accepted blocks.
    pub blocks: Option<u64>,
    /// Exit after this long.
    pub duration: Option<Duration>,
    pub journal: Journal,
    /// Template polling interval when the node does not long-poll (also the mempool refresh
    /// check).
    pub poll: Duration,
    /// Search for this (harder) target instead of the block's: for tests that need work that
    /// does not end at once on regtest. Found blocks must still meet the block target.
    pub share_bits: Option<CompactTarget>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct MineSummary {
    pub accepted: u64,
    pub rejected: u64,
    pub kept: u64,
    /// Solutions found on a template the node had already moved past (not sent).
    pub stale: u64,
    pub hashes: u64,
    pub hw_errors: u64,
    /// Longest time from a generation bump (new block) to the last backend leaving the old
    /// work.
    pub max_switch: Duration,
    pub switches: u64,
}

/// The current work and the generation it belongs to.
struct Current {
    work: BlockWork,
    job: Job,
    /// Next nonce to hand out of `job`'s space.
    cursor: AtomicU64,
}

impl Current {
    fn take(&self, count: u64) -> Option<NonceRange> {
        let start = self.cursor.fetch_add(count, Ordering::Relaxed);
        (start < NONCE_SPACE).then(|| NonceRange::from_start(start as u32, count))
    }
}

/// What every thread shares.
struct Board {
    generation: Generation,
    current: Mutex<Option<Arc<Current>>>,
    payout: Mutex<Option<ScriptBuf>>,
    share_bits: Option<CompactTarget>,
    next_extranonce: AtomicU64,
    /// The previous-block hash we already found (and submitted or journaled) a block on:
    /// templates on it are not mined again.
    solved_prev: Mutex<Option<bitcoin::BlockHash>>,
    /// When the generation was last bumped, for the switch-latency measure.
    bumped_at: Mutex<Option<Instant>>,
    max_switch_nanos: AtomicU64,
    switches: AtomicU64,
    stop: AtomicBool,
    hashes: AtomicU64,
    /// Backends still running.
    live_workers: AtomicU64,
}

impl Board {
    fn bump(&self) {
        *self.bumped_at.lock().expect("lock") = Some(Instant::now());
        self.generation.bump();
        self.switches.fetch_add(1, Ordering::Relaxed);
    }

    /// A backend left stale work: record how long after the bump.
    fn left_stale_work(&self) {
        if let Some(at) = *self.bumped_at.lock().expect("lock") {
            let nanos = at.elapsed().as_nanos() as u64;
            self.max_switch_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    fn current(&self) -> Option<Arc<Current>> {
        self.current.lock().expect("lock").clone()
    }

    /// Builds work for `template` with a fresh extranonce.
    fn build(&self, template: Arc<Template>, generation: u64) -> Result<Current, MineError> {
        let payout = self
            .payout
            .lock()
            .expect("lock")
            .clone()
            .expect("payout resolved before templates are published");
        let extranonce = self.next_extranonce.fetch_add(1, Ordering::Relaxed);
        let time = block_time(&template);
        let work = BlockWork::new(template, &payout, extranonce, time)
            .map_err(|e| MineError::Build(e.to_string()))?;
        let block_target = work.template.target();
        let target = match self.share_bits {
            Some(bits) => Target::from_compact(bits).min(block_target),
            None => block_target,
        };
        let job = Job::new(
            format!("{}-{extranonce}", work.template.height),
            work.header,
            target,
            NonceRange::FULL,
            generation,
        );
        Ok(Current {
            work,
            job,
            cursor: AtomicU64::new(0),
        })
    }

    /// Publishes a template. A new previous block makes all older work stale.
    fn publish(&self, template: Arc<Template>) -> Result<(), MineError> {
        if *self.solved_prev.lock().expect("lock") == Some(template.prev_hash) {
            return Ok(());
        }
        let new_block = match self.current() {
            Some(c) => c.work.template.prev_hash != template.prev_hash,
            None => true,
        };
        if new_block {
            self.bump();
        }
        let current = self.build(template, self.generation.current())?;
        *self.current.lock().expect("lock") = Some(Arc::new(current));
        Ok(())
    }

    /// After a block of ours was rejected: mine the current template again, on a new
    /// generation with a fresh extranonce (the template thread only republishes on change).
    fn restart(&self) -> Result<(), MineError> {
        let mut guard = self.current.lock().expect("lock");
        if let Some(c) = guard.as_ref() {
            let next = self.build(Arc::clone(&c.work.template), self.generation.current())?;
            *guard = Some(Arc::new(next));
        }
        Ok(())
    }

    /// The current work ran out of nonces: the same template with the next extranonce.
    fn roll(&self, exhausted: &Arc<Current>) -> Result<(), MineError> {
        let mut guard = self.current.lock().expect("lock");
        if let Some(c) = guard.as_ref() {
            if Arc::ptr_eq(c, exhausted) {
                let next = self.build(Arc::clone(&c.work.template), c.job.generation)?;
                *guard = Some(Arc::new(next));
            }
        }
        Ok(())
    }
}

/// Block time: now, but never before the template's mintime (or its curtime when time may not
/// change).
fn block_time(t: &Template) -> u32 {
    if !t.time_mutable {
        return t.curtime;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(t.curtime);
    now.max(t.mintime).max(t.curtime)
}

/// Something a backend found.
struct Found {
    current: Arc<Current>,
    candidate: Candidate,
}

/// Messages to the main thread.
enum Event {
    Found(Found),
    Fatal(MineError),
}

/// The node's network, from getblockchaininfo's `chain`.
fn node_network(node: &Node) -> Result<Network, NodeError> {
    let chain = node.chain()?;
    Ok(match chain.as_str() {
        "main" => Network::Bitcoin,
        "test" | "testnet3" => Network::Testnet,
        "testnet4" => Network::Testnet4,
        "signet" => Network::Signet,
        _ => Network::Regtest,
    })
}

/// Calls `f` until it succeeds, waiting out transient node errors with backoff (1 s doubling to
/// 10 s) and one line each; other errors and `stop` end the wait.
fn with_backoff<T>(
    node: &Node,
    stop: &AtomicBool,
    what: &str,
    mut f: impl FnMut() -> Result<T, NodeError>,
) -> Result<Option<T>, NodeError> {
    let mut delay = Duration::from_secs(1);
    loop {
        match f() {
            Ok(v) => return Ok(Some(v)),
            Err(e) if e.is_transient() => {
                eprintln!(
                    "waiting for the node at {} ({what}): {e}; retrying in {delay:?}",
                    node.url()
                );
                let until = Instant::now() + delay;
                while Instant::now() < until {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Template thread: long-polls when the node offers it, else polls every `poll`; new
/// transactions are picked up at most every `MEMPOOL_REFRESH`.
fn template_loop(board: &Board, node: &Node, poll: Duration, events: &mpsc::Sender<Event>) {
    const MEMPOOL_REFRESH: Duration = Duration::from_secs(10);
    let mut longpoll: Option<String> = None;
    let mut last_publish = Instant::now();
    while !board.stop.load(Ordering::Relaxed) {
        let lp = longpoll.clone();
        let asked = Instant::now();
        let result = with_backoff(node, &board.stop, "getblocktemplate", || {
            node.template(lp.as_deref())
        });
        let template = match result {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                let _ = events.send(Event::Fatal(e.into()));
                return;
            }
        };
        let changed = match board.current() {
            None => true,
            Some(c) => {
                let old = &c.work.template;
                old.prev_hash != template.prev_hash
                    || old.bits != template.bits
                    || (old.txids != template.txids && last_publish.elapsed() >= MEMPOOL_REFRESH)
            }
        };
        longpoll = template.longpoll_id.clone();
        if changed {
            tracing::info!(
                "new template: height {} with {} transactions",
                template.height,
                template.txids.len()
            );
            if let Err(e) = board.publish(Arc::new(template)) {
                let _ = events.send(Event::Fatal(e));
                return;
            }
            last_publish = Instant::now();
        }
        // Poll when there is no long poll, or when the node answered a long poll at once with
        // nothing new (some nodes do not hold long polls).
        if longpoll.is_none() || (!changed && asked.elapsed() < Duration::from_millis(200)) {
            let until = Instant::now() + poll;
            while Instant::now() < until && !board.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Backend thread: take ranges of the current work, scan, send what was found.
fn worker_loop(board: &Board, worker: &Worker, events: &mpsc::Sender<Event>) {
    let mut cpu_batch: u64 = 1 << 16;
    while !board.stop.load(Ordering::Relaxed) {
        let Some(current) = board.current() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if board.generation.is_stale(current.job.generation) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let batch = match worker {
            Worker::Cpu(_) => cpu_batch,
            #[cfg(feature = "gpu")]
            Worker::Gpu(g) => g.batch(),
        };
        let Some(range) = current.take(batch) else {
            if let Err(e) = board.roll(&current) {
                let _ = events.send(Event::Fatal(e));
                return;
            }
            continue;
        };
        let started = Instant::now();
        let report: ScanReport = match worker {
            Worker::Cpu(cpu) => {
                let r = cpu.scan(&current.job, range, &board.generation);
                let rate = r.hashes as f64 / started.elapsed().as_secs_f64().max(1e-9);
                cpu_batch = ((rate * 0.05) as u64).clamp(1 << 12, 1 << 30);
                r
            }
            #[cfg(feature = "gpu")]
            Worker::Gpu(g) => match g.scan(&current.job, range, &board.generation) {
                Ok(r) => r,
                Err(failure) => {
                    // This device stops; what it found goes on, and so do the others.
                    eprintln!("{}; that device stops", failure.error);
                    for candidate in failure.found.candidates {
                        let _ = events.send(Event::Found(Found {
                            current: Arc::clone(&current),
                            candidate,
                        }));
                    }
                    if board.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
                        let _ = events.send(Event::Fatal(MineError::NoBackend(
                            failure.error.to_string(),
                        )));
                    }
                    return;
                }
            },
        };
        board.hashes.fetch_add(report.hashes, Ordering::Relaxed);
        if report.stale || board.generation.is_stale(current.job.generation) {
            board.left_stale_work();
        }
        for candidate in report.candidates {
            let _ = events.send(Event::Found(Found {
                current: Arc::clone(&current),
                candidate,
            }));
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mines until `blocks` are accepted, `duration` passes, `stop` is set, or a fatal error.
pub fn run(config: MineConfig, stop: Arc<AtomicBool>) -> Result<MineSummary, MineError> {
    let node = config.node.clone();
    let journal = config.journal;
    let mut summary = MineSummary::default();
    let started = Instant::now();
    let deadline = config.duration.map(|d| started + d);

    // An address is checked against the node's network (waiting for the node if need be).
    let payout = match &config.payout {
        Payout::Script(script) => script.clone(),
        Payout::Address(address) => {
            let Some(network) =
                with_backoff(&node, &stop, "getblockchaininfo", || node_network(&node))?
            else {
                return Ok(summary);
            };
            address
                .clone()
                .require_network(network)
                .map_err(|e| MineError::PayoutNetwork {
                    network: network.to_string(),
                    reason: e.to_string(),
                })?
                .script_pubkey()
        }
    };
    // Blocks a previous run could not submit go first.
    retry_journal(&node, &journal, &mut summary)?;

    let board = Arc::new(Board {
        generation: Generation::new(),
        current: Mutex::new(None),
        payout: Mutex::new(Some(payout)),
        share_bits: config.share_bits,
        next_extranonce: AtomicU64::new(unix_now() << 16),
        solved_prev: Mutex::new(None),
        bumped_at: Mutex::new(None),
        max_switch_nanos: AtomicU64::new(0),
        switches: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        hashes: AtomicU64::new(0),
        live_workers: AtomicU64::new(config.workers.len() as u64),
    });
    let verifier = Verifier::new();
    let (tx, rx) = mpsc::channel::<Event>();
    let names: Vec<String> = config.workers.iter().map(Worker::name).collect();
    eprintln!(
        "mining on {} with {} (journal {})",
        node.url(),
        names.join(", "),
        journal.path().display()
    );

    {
        // The template thread may sit in a long poll for minutes: it is told to stop, not
        // joined.
        let (board, node, tx, poll) = (Arc::clone(&board), node.clone(), tx.clone(), config.poll);
        std::thread::Builder::new()
            .name("hashrig-templates".into())
            .spawn(move || template_loop(&board, &node, poll, &tx))
            .expect("spawn the template thread");
    }
    let result = std::thread::scope(|s| {
        let board = &*board;
        for worker in &config.workers {
            let tx = tx.clone();
            s.spawn(move || worker_loop(board, worker, &tx));
        }
        drop(tx);

        let mut last_rate = Instant::now();
        let mut last_hashes = 0u64;
        let mut last_journal_try = Instant::now();
        let outcome = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Ok(());
            }
            if config.blocks.is_some_and(|n| summary.accepted >= n) {
                break Ok(());
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::Fatal(e)) => break Err(e),
                Ok(Event::Found(found)) => {
                    if let Err(e) = on_found(board, &node, &journal, &verifier, found, &mut summary)
                    {
                        break Err(e);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
            }
            if last_journal_try.elapsed() >= Duration::from_secs(1) {
                last_journal_try = Instant::now();
                let before = summary.accepted + summary.rejected;
                if let Err(e) = retry_journal(&node, &journal, &mut summary) {
                    break Err(e);
                }
                if summary.accepted + summary.rejected > before {
                    // A journaled block got its answer: mine on whatever the node has now
                    // (a new template replaces this one as soon as the template thread sees it).
                    *board.solved_prev.lock().expect("lock") = None;
                    if let Err(e) = board.restart() {
                        break Err(e);
                    }
                }
            }
            if last_rate.elapsed() >= Duration::from_secs(10) {
                let hashes = board.hashes.load(Ordering::Relaxed);
                let rate = (hashes - last_hashes) as f64 / last_rate.elapsed().as_secs_f64();
                eprintln!(
                    "hash rate {} | accepted {} rejected {} | hw errors {}",
                    format_hashrate(rate),
                    summary.accepted,
                    summary.rejected,
                    verifier.hw_errors()
                );
                last_hashes = hashes;
                last_rate = Instant::now();
            }
        };
        // A stop request is a switch too: every backend leaves its work within one batch.
        board.stop.store(true, Ordering::Relaxed);
        board.bump();
        outcome
    });
    summary.hashes = board.hashes.load(Ordering::Relaxed);
    summary.hw_errors = verifier.hw_errors();
    summary.max_switch = Duration::from_nanos(board.max_switch_nanos.load(Ordering::Relaxed));
    summary.switches = board.switches.load(Ordering::Relaxed);
    result.map(|()| summary)
}

/// Verifies, builds, checks and submits one found block.
fn on_found(
    board: &Board,
    node: &Node,
    journal: &Journal,
    verifier: &Verifier,
    found: Found,
    summary: &mut MineSummary,
) -> Result<(), MineError> {
    let current = &found.current;
    let template = &current.work.template;
    if *board.solved_prev.lock().expect("lock") == Some(template.prev_hash) {
        tracing::debug!("another solution on height {} ignored", template.height);
        return Ok(());
    }
    // Found on the template of a block the node has moved past: stale, not sent.
    if board
        .current()
        .is_some_and(|c| c.work.template.prev_hash != template.prev_hash)
    {
        summary.stale += 1;
        tracing::info!(
            "stale solution for height {} dropped (the node has a new block)",
            template.height
        );
        return Ok(());
    }
    // The share target may be harder than the block's; the block target is what counts.
    let Ok(share) = verifier.verify(&current.job.header, &template.target(), found.candidate)
    else {
        return Ok(()); // counted and logged as a hardware error
    };
    let block = current.work.block(&share.header);
    if let Err(reason) = check_block(&block, template) {
        // Never sent: a block we built wrong would only be rejected.
        eprintln!(
            "error: block {} at height {} failed its local check: {reason}",
            share.hash_hex(),
            template.height
        );
        summary.rejected += 1;
        return Ok(());
    }
    let entry = FoundBlock {
        height: template.height,
        hash: share.hash_hex(),
        block: block_hex(&block),
        found_at: unix_now(),
    };
    // Whatever the node says, this previous block is done for us.
    *board.solved_prev.lock().expect("lock") = Some(template.prev_hash);
    board.bump();
    match submit::submit(node, journal, &entry)? {
        Submitted::Accepted => {
            summary.accepted += 1;
            println!("accepted block {} {}", entry.height, entry.hash);
        }
        Submitted::Rejected(reason) => {
            summary.rejected += 1;
            println!("rejected block {} {}: {reason}", entry.height, entry.hash);
            *board.solved_prev.lock().expect("lock") = None;
            board.restart()?;
        }
        Submitted::Kept(e) => {
            summary.kept += 1;
            eprintln!(
                "could not submit block {} {} ({e}); kept in {} and retried until the node answers",
                entry.height,
                entry.hash,
                journal.path().display()
            );
        }
    }
    Ok(())
}

/// Resubmits journaled blocks; stops at the first one the node cannot be asked about.
fn retry_journal(
    node: &Node,
    journal: &Journal,
    summary: &mut MineSummary,
) -> Result<(), MineError> {
    for entry in journal.pending()? {
        match submit::resubmit(node, journal, &entry)? {
            Submitted::Accepted => {
                summary.accepted += 1;
                println!(
                    "accepted block {} {} (from the journal)",
                    entry.height, entry.hash
                );
            }
            Submitted::Rejected(reason) => {
                summary.rejected += 1;
                println!(
                    "rejected block {} {} (from the journal): {reason}",
                    entry.height, entry.hash
                );
            }
            Submitted::Kept(e) => {
                tracing::debug!("journal retry: {e}");
                break;
            }
        }
    }
    Ok(())
}
