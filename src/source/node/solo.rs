//! The node work source: a template thread (long poll or poll, backoff, one line per retry)
//! and a submit thread (block assembly, local checks, journal, submitblock, and the node's
//! answer checked against its active chain). Only the user's own configuration is fatal, and
//! only at start: a wrong password, a payout address of another network.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bitcoin::{BlockHash, ScriptBuf};

use super::assemble::{self, EXTRANONCE1_SIZE};
use super::journal::{FoundBlock, Journal};
use super::{Node, NodeError, RpcError, SubmitOutcome};
use crate::algo::Algo;
use crate::chain::block::{block_hex, block_hex_for, Template};
use crate::chain::params::Chain;
use crate::chain::{CompactTarget, Target};
use crate::source::{
    Link, Outcome, OutcomeKind, Running, SinkError, Solution, SolutionSink, Source, SourceError,
};

/// Where the coinbase pays.
#[derive(Clone, Debug)]
pub enum Payout {
    /// An address, checked against the node's chain once it answers.
    Address(String),
    /// A raw output script (for nodes whose address format the bitcoin crate does not know).
    Script(ScriptBuf),
}

/// Errors of the node source that end a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoloError {
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The node's chain is not one hashrig mines, or the payout is not an address of it.
    #[error(transparent)]
    Chain(#[from] crate::chain::params::ChainError),
    #[error("the node at {url} is on {chain}, whose proof of work is {theirs}, but this run mines {ours}: mine it with --algo {theirs}")]
    Algo {
        url: String,
        chain: String,
        theirs: Algo,
        ours: Algo,
    },
    #[error("cannot build a block from the template: {0}")]
    Build(#[from] crate::chain::block::BlockError),
}

/// Solo mining against one node.
pub struct NodeSource {
    pub node: Node,
    pub payout: Payout,
    pub journal: Journal,
    /// Template polling interval when the node does not long-poll.
    pub poll: Duration,
    /// Search for this (harder) target instead of the block's (tests that need work that does
    /// not end at once on regtest). Blocks must still meet the block target.
    pub share_bits: Option<CompactTarget>,
    /// The proof of work mined (`--algo`): it must be the node's chain's.
    pub algo: Algo,
}

/// How often journaled blocks are sent again while the node does not answer.
const JOURNAL_RETRY: Duration = Duration::from_secs(1);
/// New mempool transactions are picked up at most this often.
const MEMPOOL_REFRESH: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Blocks waiting for the submit thread.
pub(crate) const SOLUTION_QUEUE: usize = 64;

/// Calls `f` until it succeeds, waiting out transient node errors with backoff (1 s doubling to
/// 10 s) and one line each. Other errors end the wait; `Ok(None)` when the run ends.
fn with_backoff<T>(
    node: &Node,
    link: &Link,
    what: &str,
    mut f: impl FnMut() -> Result<T, NodeError>,
) -> Result<Option<T>, NodeError> {
    let mut delay = Duration::from_secs(1);
    loop {
        match f() {
            Ok(v) => return Ok(Some(v)),
            Err(e) if e.is_transient() => {
                crate::elog!(
                    "waiting for the node at {} ({what}): {e}; retrying in {delay:?}",
                    node.url()
                );
                if link.sleep(delay) {
                    return Ok(None);
                }
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What the template and submit threads share (and, in job declaration mode, the
/// coordinator that decides whether the node's template is mined solo).
pub(crate) struct Shared {
    pub(crate) node: Node,
    link: Link,
    payout: ScriptBuf,
    share_target: Option<Target>,
    /// The template thread publishes solo work (always in solo mining; in job declaration
    /// mode only while the pool's job is not mined).
    solo: AtomicBool,
    /// The newest template (and a count of new ones), whether or not it was mined.
    latest: Mutex<(u64, Option<Arc<Template>>)>,
    /// Our extranonce1 for the next published work: every publish has a coinbase of its own.
    next_extranonce1: AtomicU32,
    /// The template last published.
    current: Mutex<Option<Arc<Template>>>,
    /// The previous block we found (and sent or journaled) a block on, while the node's answer
    /// is awaited: its templates are not mined again.
    solved_prev: Mutex<Option<BlockHash>>,
}

impl Shared {
    /// Solo mining with `payout` on `node`.
    pub(crate) fn new(
        node: Node,
        link: Link,
        payout: ScriptBuf,
        share_target: Option<Target>,
        solo: bool,
    ) -> Self {
        Shared {
            node,
            link,
            payout,
            share_target,
            solo: AtomicBool::new(solo),
            latest: Mutex::new((0, None)),
            next_extranonce1: AtomicU32::new((unix_now() as u32) ^ (std::process::id() << 20)),
            current: Mutex::new(None),
            solved_prev: Mutex::new(None),
        }
    }

    /// The newest template and how many new ones came so far.
    pub(crate) fn latest(&self) -> (u64, Option<Arc<Template>>) {
        self.latest.lock().expect("no panic while held").clone()
    }

    /// Mines the newest template solo from now on (`clean`: drop the work mined so far), or
    /// stops doing so (the caller publishes other work).
    pub(crate) fn set_solo(&self, solo: bool, clean: bool) -> Result<(), SoloError> {
        let mut current = self.current.lock().expect("no panic while held");
        self.solo.store(solo, Ordering::Release);
        if !solo {
            return Ok(());
        }
        let solved = *self.solved_prev.lock().expect("no panic while held");
        match self.latest().1 {
            Some(t) if solved != Some(t.prev_hash) => self.publish_locked(&mut current, t, clean),
            // Nothing to mine yet (the first template, or the node's answer to our block).
            _ => {
                self.link.withdraw();
                Ok(())
            }
        }
    }

    fn solo(&self) -> bool {
        self.solo.load(Ordering::Acquire)
    }

    /// Publishes work for `template` with a fresh extranonce1.
    fn publish(&self, template: Arc<Template>, clean: bool) -> Result<(), SoloError> {
        let mut current = self.current.lock().expect("no panic while held");
        if !self.solo() {
            return Ok(());
        }
        self.publish_locked(&mut current, template, clean)
    }

    /// [`Shared::publish`] with the current-template lock held, so that the template thread
    /// and the submit thread never publish out of order.
    fn publish_locked(
        &self,
        current: &mut Option<Arc<Template>>,
        template: Arc<Template>,
        clean: bool,
    ) -> Result<(), SoloError> {
        let extranonce1: [u8; EXTRANONCE1_SIZE] = self
            .next_extranonce1
            .fetch_add(1, Ordering::Relaxed)
            .to_le_bytes();
        let work = assemble::template_work(
            Arc::clone(&template),
            &self.payout,
            extranonce1,
            self.share_target,
            clean,
            Instant::now(),
        )
        .map_err(SoloError::Build)?;
        *current = Some(template);
        self.link.work(work);
        Ok(())
    }

    /// After our block on `prev` was refused: mine that parent again (a fresh coinbase), if the
    /// node has not moved on.
    fn unsolve(&self, prev: BlockHash) {
        let mut solved = self.solved_prev.lock().expect("no panic while held");
        if *solved != Some(prev) {
            return;
        }
        *solved = None;
        drop(solved);
        let mut current = self.current.lock().expect("no panic while held");
        if !self.solo() {
            return;
        }
        if let Some(t) = current.clone().filter(|t| t.prev_hash == prev) {
            if let Err(e) = self.publish_locked(&mut current, t, false) {
                crate::elog!("error: {e}");
            }
        }
    }
}

impl Source for NodeSource {
    fn describe(&self) -> String {
        format!(
            "node {} (journal {})",
            self.node.url(),
            self.journal.path().display()
        )
    }

    fn start(self: Box<Self>, link: Link) -> Result<Running, SourceError> {
        let NodeSource {
            node,
            payout,
            journal,
            poll,
            share_bits,
            algo,
        } = *self;
        // One block per parent goes on (the mining loop drops the rest): a short queue.
        let (tx, rx) = mpsc::sync_channel::<ToSubmit>(SOLUTION_QUEUE);
        // The node's chain: its network (payout address, signet rule) and its genesis hash
        // (which names the chain in the journal). Waited for while the node is not up.
        let Some((node, payout, genesis)) = node_chain(node, payout, algo, &link)? else {
            return Ok(Running {
                solutions: solution_sink(tx),
                threads: vec![],
            });
        };
        let shared = Arc::new(Shared::new(
            node,
            link,
            payout,
            share_bits.map(Target::from_compact),
            true,
        ));
        let threads = vec![start_threads(&shared, journal, genesis, poll, rx)?];
        Ok(Running {
            solutions: solution_sink(tx),
            threads,
        })
    }
}

/// A sink into the submit thread's queue.
fn solution_sink(tx: mpsc::SyncSender<ToSubmit>) -> SolutionSink {
    SolutionSink::new(
        move |s| {
            tx.try_send(ToSubmit::Solution(s)).map_err(|e| match e {
                mpsc::TrySendError::Full(ToSubmit::Solution(s)) => SinkError::Full(Box::new(s)),
                mpsc::TrySendError::Disconnected(ToSubmit::Solution(s)) => {
                    SinkError::Closed(Box::new(s))
                }
                _ => unreachable!("only solutions are sent here"),
            })
        },
        || {},
    )
}

/// The node's chain (its name and genesis hash) and the payout checked against it, waited
/// for while the node is not up; `None` when the run ended first.
pub(crate) fn node_chain(
    node: Node,
    payout: Payout,
    algo: Algo,
    link: &Link,
) -> Result<Option<(Node, ScriptBuf, String)>, SourceError> {
    let Some((name, genesis)) = with_backoff(&node, link, "getblockchaininfo", || {
        Ok((node.chain()?, node.genesis()?))
    })?
    else {
        return Ok(None);
    };
    let chain = Chain::identify(&name, &genesis).map_err(SoloError::Chain)?;
    if algo != chain.algo() {
        return Err(SoloError::Algo {
            url: node.url().to_string(),
            chain: chain.name(),
            theirs: chain.algo(),
            ours: algo,
        }
        .into());
    }
    let node = node.on_chain(chain);
    let payout = match payout {
        Payout::Script(script) => script,
        Payout::Address(address) => chain.payout_script(&address).map_err(SoloError::Chain)?,
    };
    Ok(Some((node, payout, genesis)))
}

/// Starts the submit thread (returned: joined at exit; blocks a previous run could not
/// submit go first) and the template thread (which may sit in a long poll for minutes: it is
/// told to stop, not joined).
pub(crate) fn start_threads(
    shared: &Arc<Shared>,
    journal: Journal,
    genesis: String,
    poll: Duration,
    rx: mpsc::Receiver<ToSubmit>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut submitter = Submitter {
        shared: Arc::clone(shared),
        journal,
        genesis,
        unjournaled: Vec::new(),
        foreign_reported: false,
    };
    submitter.retry_journal();
    let thread = std::thread::Builder::new()
        .name("hashrig-submit".into())
        .spawn(move || submitter.run(rx))?;
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("hashrig-templates".into())
        .spawn(move || template_loop(&shared, poll))?;
    Ok(thread)
}

/// What the submit thread is given.
pub(crate) enum ToSubmit {
    /// A solution of solo work (its block is built from the work's template).
    Solution(Solution),
    /// A block built elsewhere (a share of a declared job that meets the network target).
    Built(BuiltBlock),
}

/// A complete block, checked, with what the journal and the log lines name it by.
pub(crate) struct BuiltBlock {
    pub block: bitcoin::Block,
    pub height: u32,
    pub what: String,
    /// Run once the node has been sent the block (whatever it answered): who else is told
    /// of the block (the JDS) hears of it after our own node.
    pub then: Option<Box<dyn FnOnce() + Send>>,
}

/// Template thread: long-polls when the node offers it, else polls every `poll`. Errors are
/// retried with backoff and a line each; only a template asking for a rule hashrig does not
/// implement ends the run.
fn template_loop(shared: &Shared, poll: Duration) {
    let (node, link) = (&shared.node, &shared.link);
    let mut longpoll: Option<String> = None;
    let mut last_publish = Instant::now();
    let mut delay = Duration::from_secs(1);
    while !link.stopping() {
        let asked = Instant::now();
        let template = match node.template(longpoll.as_deref()) {
            Ok(t) => {
                delay = Duration::from_secs(1);
                t
            }
            Err(NodeError::Template(e)) if e.unsupported => {
                link.fatal(NodeError::Template(e).into());
                return;
            }
            Err(e) => {
                let what = if e.is_transient() {
                    "waiting for the node"
                } else {
                    "getblocktemplate failed at"
                };
                crate::elog!("{what} {}: {e}; retrying in {delay:?}", node.url());
                longpoll = None;
                if link.sleep(delay) {
                    return;
                }
                delay = (delay * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        longpoll = template.longpoll_id.clone();
        let solved = *shared.solved_prev.lock().expect("no panic while held");
        let previous = shared.latest().1;
        let new_block = previous
            .as_ref()
            .is_none_or(|old| old.prev_hash != template.prev_hash);
        let changed = match &previous {
            None => true,
            Some(old) => {
                new_block
                    || old.bits != template.bits
                    || (old.txids != template.txids && last_publish.elapsed() >= MEMPOOL_REFRESH)
            }
        };
        if changed && solved != Some(template.prev_hash) {
            tracing::info!(
                "new template: height {} with {} transactions",
                template.height,
                template.txids.len()
            );
            {
                let mut latest = shared.latest.lock().expect("no panic while held");
                latest.0 += 1;
                latest.1 = Some(Arc::clone(&template));
            }
            if shared.solo() {
                if let Err(e) = shared.publish(template, new_block) {
                    link.fatal(e.into());
                    return;
                }
            }
            last_publish = Instant::now();
        }
        // Poll when there is no long poll, or when the node answered a long poll at once with
        // nothing new (some nodes do not hold long polls).
        if (longpoll.is_none() || (!changed && asked.elapsed() < Duration::from_millis(200)))
            && link.sleep(poll)
        {
            return;
        }
    }
}

/// How the node answered a block, once it is certain.
enum Answer {
    /// On the node's active chain.
    Accepted,
    /// Valid, but not on the active chain (Bitcoin Core's `inconclusive`, or `duplicate` of a
    /// side-chain block).
    SideChain(String),
    Rejected(String),
    /// No definite answer (node away, timeout): kept in the journal and asked again.
    Unanswered(String),
}

/// A block built, checked and journaled, to be sent.
struct Found {
    entry: FoundBlock,
    what: String,
    journaled: bool,
    then: Option<Box<dyn FnOnce() + Send>>,
    /// A declared job's block (see [`Outcome::share_also`]).
    share_also: bool,
}

/// The submit thread's state.
struct Submitter {
    shared: Arc<Shared>,
    journal: Journal,
    /// The node's genesis hash: only journal entries of this chain are sent to it.
    genesis: String,
    /// Blocks the journal could not take (disk full, ...): retried from memory.
    unjournaled: Vec<FoundBlock>,
    foreign_reported: bool,
}

impl Submitter {
    fn run(mut self, solutions: mpsc::Receiver<ToSubmit>) {
        let mut last_retry = Instant::now();
        loop {
            match solutions.recv_timeout(Duration::from_millis(100)) {
                Ok(first) => {
                    // Every block waiting is journaled before any is sent: a node that does
                    // not answer (or a run that ends meanwhile) cannot hold one back unsaved.
                    let batch: Vec<ToSubmit> = std::iter::once(first)
                        .chain(std::iter::from_fn(|| solutions.try_recv().ok()))
                        .collect();
                    let found: Vec<Found> = batch
                        .into_iter()
                        .filter_map(|s| match s {
                            ToSubmit::Solution(s) => self.journal_solution(s),
                            ToSubmit::Built(b) => self.journal_built(b),
                        })
                        .collect();
                    for f in found {
                        self.send(f);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Everything queued was handled: the run is over.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_retry.elapsed() >= JOURNAL_RETRY && !self.shared.link.stopping() {
                last_retry = Instant::now();
                self.retry_journal();
            }
        }
    }

    fn outcome(&self, what: String, kind: OutcomeKind, quiet: bool) {
        self.outcome_of(what, kind, quiet, false);
    }

    /// `share_also`: a declared job's block (its share is reported by the coordinator).
    fn outcome_of(&self, what: String, kind: OutcomeKind, quiet: bool, share_also: bool) {
        self.shared.link.outcome(Outcome {
            what,
            kind,
            block: true,
            quiet,
            share_also,
        });
    }

    /// Builds and checks the block of `solution` and writes it to the journal; `None` when it
    /// is not to be sent (a rival of a block already found, a block that fails its check).
    fn journal_solution(&mut self, solution: Solution) -> Option<Found> {
        let Some(template) = assemble::template_of(&solution) else {
            crate::elog!(
                "error: a solution of work {} came without its template",
                solution.work.id
            );
            return None;
        };
        let hash = solution.share.hash_hex();
        let what = format!("block {} {hash}", template.height);
        {
            let mut solved = self.shared.solved_prev.lock().expect("no panic while held");
            if *solved == Some(template.prev_hash) {
                // One block per parent: the others found meanwhile would be our own rivals.
                self.outcome(
                    what,
                    OutcomeKind::Stale("a block on this parent was found already".into()),
                    true,
                );
                return None;
            }
            *solved = Some(template.prev_hash);
        }
        // No more work on this parent until the node has answered.
        self.shared.link.withdraw();
        let block = match assemble::block(&template, &solution) {
            Ok(b) => b,
            Err(reason) => {
                // Never sent: a block built wrong would only be rejected.
                self.outcome(
                    what,
                    OutcomeKind::Rejected(format!("failed its local check, not sent: {reason}")),
                    false,
                );
                self.shared.unsolve(template.prev_hash);
                return None;
            }
        };
        let hex = block_hex_for(&block, &template);
        Some(self.journal(&block, hex, template.height, hash, what))
    }

    /// A block built by the job declaration coordinator: one per parent, as for solo blocks
    /// (the pool's work goes on meanwhile: it is the coordinator's to replace).
    fn journal_built(&mut self, built: BuiltBlock) -> Option<Found> {
        let prev = built.block.header.prev_blockhash;
        {
            let mut solved = self.shared.solved_prev.lock().expect("no panic while held");
            if *solved == Some(prev) {
                self.outcome(
                    built.what,
                    OutcomeKind::Stale("a block on this parent was found already".into()),
                    true,
                );
                return None;
            }
            *solved = Some(prev);
        }
        let hash = built.block.block_hash().to_string();
        let hex = block_hex(&built.block);
        let mut found = self.journal(&built.block, hex, built.height, hash, built.what);
        found.then = built.then;
        found.share_also = true;
        Some(found)
    }

    /// Writes `block` to the journal (or, when it cannot, prints it whole).
    fn journal(
        &mut self,
        block: &bitcoin::Block,
        hex: String,
        height: u32,
        hash: String,
        what: String,
    ) -> Found {
        let entry = FoundBlock {
            height,
            hash,
            prev: Some(block.header.prev_blockhash.to_string()),
            chain: Some(self.genesis.clone()),
            block: hex,
            found_at: unix_now(),
        };
        let journaled = match self.journal.append(&entry) {
            Ok(()) => true,
            Err(e) => {
                // The only copy is in memory: it is printed whole, so that it survives even
                // if the node never answers before the run ends.
                crate::elog!(
                    "error: {e}: block {} {} is sent without it; its hex (submitblock it by hand if this run cannot): {}",
                    entry.height,
                    entry.hash,
                    entry.block
                );
                false
            }
        };
        Found {
            entry,
            what,
            journaled,
            then: None,
            share_also: false,
        }
    }

    /// Sends a journaled block and acts on the answer.
    fn send(&mut self, mut found: Found) {
        let answer = self.answer(&found.entry);
        if let Some(then) = found.then.take() {
            then();
        }
        self.settle(
            &found.entry,
            answer,
            found.what,
            found.journaled,
            found.share_also,
        );
    }

    /// Acts on a definite answer (the journal entry goes) or keeps the block for a retry.
    fn settle(
        &mut self,
        entry: &FoundBlock,
        answer: Answer,
        what: String,
        journaled: bool,
        share_also: bool,
    ) {
        let definite = !matches!(answer, Answer::Unanswered(_));
        if definite {
            if let Err(e) = self.journal.remove(&entry.hash) {
                crate::elog!("error: {e}");
            }
            self.unjournaled.retain(|b| b.hash != entry.hash);
        } else if !journaled && !self.unjournaled.iter().any(|b| b.hash == entry.hash) {
            self.unjournaled.push(entry.clone());
        }
        let prev = entry
            .prev
            .as_deref()
            .and_then(|p| p.parse::<BlockHash>().ok());
        let outcome = |kind| self.outcome_of(what, kind, false, share_also);
        match answer {
            Answer::Accepted => outcome(OutcomeKind::Accepted),
            Answer::SideChain(reason) => outcome(OutcomeKind::Stale(reason)),
            Answer::Rejected(reason) => {
                outcome(OutcomeKind::Rejected(reason));
                if let Some(prev) = prev {
                    self.shared.unsolve(prev);
                }
            }
            Answer::Unanswered(reason) => {
                let kept = if journaled {
                    format!(
                        "{reason}; kept in {} and retried until the node answers",
                        self.journal.path().display()
                    )
                } else {
                    format!("{reason}; kept in memory and retried until the node answers")
                };
                outcome(OutcomeKind::Kept(kept))
            }
        }
    }

    /// Sends a block and makes sure of what the node's answer means.
    fn answer(&self, entry: &FoundBlock) -> Answer {
        let node = &self.shared.node;
        match node.submit(&entry.block) {
            Ok(SubmitOutcome::Accepted) => Answer::Accepted,
            // Bitcoin Core: "duplicate" (already known, on whichever chain), "inconclusive"
            // (valid but not on the active chain). Only the active chain counts.
            Ok(SubmitOutcome::Rejected(reason))
                if reason == "duplicate" || reason == "inconclusive" =>
            {
                match node.confirmations(&entry.hash) {
                    Ok(c) if c >= 1 => Answer::Accepted,
                    Ok(_) => Answer::SideChain(format!(
                        "the node answered {reason:?} and the block is not on its active chain (a side chain)"
                    )),
                    Err(e) => Answer::Unanswered(format!(
                        "the node answered {reason:?}; asking whether the block is on its active chain failed: {e}"
                    )),
                }
            }
            Ok(SubmitOutcome::Rejected(reason)) => Answer::Rejected(reason),
            // The node processed the call and refused it (e.g. -22 Block decode failed).
            Err(e @ RpcError::Rpc { .. }) if !e.is_transient() => Answer::Rejected(e.to_string()),
            Err(e) => Answer::Unanswered(e.to_string()),
        }
    }

    /// Sends every waiting block of this node's chain again. Entries of another chain, or
    /// whose parent this node does not know, are left for a node that can take them; the pass
    /// stops at the first block that gets no answer (the node is away), but a block the node
    /// refuses does not hold back those behind it.
    fn retry_journal(&mut self) {
        let mut pending = match self.journal.pending() {
            Ok(p) => p,
            Err(e) => {
                crate::elog!("error: {e}");
                return;
            }
        };
        pending.extend(self.unjournaled.iter().cloned());
        for entry in pending {
            if entry.chain.as_deref().is_some_and(|c| c != self.genesis) {
                if !self.foreign_reported {
                    self.foreign_reported = true;
                    crate::elog!(
                        "note: {} holds block {} {} of another chain (genesis {}); it is kept for a node of that chain",
                        self.journal.path().display(),
                        entry.height,
                        entry.hash,
                        entry.chain.as_deref().unwrap_or("?")
                    );
                }
                continue;
            }
            if let Some(prev) = &entry.prev {
                match self.shared.node.knows_block(prev) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(
                            "journal: the node does not know the parent {prev} of block {}; kept",
                            entry.hash
                        );
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!("journal retry: {e}");
                        return;
                    }
                }
            }
            let answer = self.answer(&entry);
            let away = matches!(answer, Answer::Unanswered(_));
            if away {
                tracing::debug!("journal retry of {}: no answer", entry.hash);
                return;
            }
            let what = format!("block {} {} (from the journal)", entry.height, entry.hash);
            self.settle(&entry, answer, what, true, false);
        }
    }
}
