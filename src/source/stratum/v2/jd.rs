//! The Job Declaration client's connection to a pool's Job Declaration Server (Stratum V2
//! spec, section 6, Full-Template mode) as a sans-IO state machine: it takes frames, the
//! node's templates and ticks, and queues [`JdAction`]s (messages to send, a declaration the
//! pool may now be told about, a refusal, the JDS lost).
//!
//! Order on a connection: SetupConnection (JobDeclaration, DECLARE_TX_DATA), then
//! AllocateMiningJobToken (one token is kept ahead, so a new template is declared without a
//! round trip); each template is declared with a token: DeclareMiningJob with the coinbase
//! prefix/suffix and the wtxid list; the JDS may ask for transactions it lacks
//! (ProvideMissingTransactions, answered from the template) and answers
//! DeclareMiningJob.Success with the token for SetCustomMiningJob, or .Error with a code.
//!
//! Spec: <https://github.com/stratum-mining/sv2-spec/blob/main/06-Job-Declaration-Protocol.md>

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratum_core::common_messages_sv2::Protocol;
use stratum_core::job_declaration_sv2::ERROR_CODE_DECLARE_MINING_JOB_STALE_CHAIN_TIP;
use stratum_core::parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, JobDeclarationOwned};

use super::declare::{Declared, PoolOutputs};
use super::wire::{message, Frame, FrameError};
use crate::chain::block::Template;
use crate::ui::output::clip;

/// SetupConnection flag of the Job Declaration protocol: the client reveals the template's
/// transactions (spec 6.4.1).
pub const DECLARE_TX_DATA: u32 = 1;
/// Declarations awaiting an answer at once (a new template replaces the oldest).
pub const MAX_PENDING: usize = 8;
/// Unused tokens kept (one ahead is what we ask for; a JDS that sends more is not trusted
/// with more memory).
pub const MAX_TOKENS: usize = 4;
/// Refusal codes counted separately (the rest under "other").
const MAX_CODES: usize = 16;

#[derive(Clone, Debug)]
pub struct JdConfig {
    /// The JDS as dialled (SetupConnection's endpoint).
    pub host: String,
    pub port: u16,
    /// The user named in AllocateMiningJobToken.
    pub user: String,
    /// How long an answer may take before the JDS counts as gone.
    pub answer_timeout: Duration,
}

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JdPhase {
    /// Not connected yet, or SetupConnection sent.
    Connecting,
    /// Set up; declaring whenever there is a token and a template.
    Ready,
    /// Closed (see the [`JdAction::Down`] that said why).
    Down,
}

/// What the JD session asks of the code around it.
#[derive(Debug)]
pub enum JdAction {
    /// Write this to the JDS.
    Send(Box<AnyMessageOwned>),
    /// The JDS accepted `declared`: set it on the pool channel with `token` (single use, valid
    /// about 10 s with pool_sv2).
    Accepted {
        declared: Arc<Declared>,
        token: Vec<u8>,
    },
    /// The JDS refused `declared` with `code`. `retry`: the refusal is about timing
    /// (`stale-chain-tip`: the JDS's node is behind or ahead): declare the next template; else
    /// fall back to solo until the JDS accepts again.
    Refused {
        declared: Arc<Declared>,
        code: String,
        retry: bool,
    },
    /// A line for the operator (clipped); `warn` lines go to the terminal.
    Log { warn: bool, text: String },
    /// The JDS cannot be used now (refused setup, a protocol error, no answer): close the
    /// connection and fall back.
    Down(String),
}

/// Counters for the views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JdCounts {
    pub declared: u64,
    pub accepted: u64,
    /// Refusals by error code.
    pub refused: BTreeMap<String, u64>,
    /// Transactions the JDS asked for and got.
    pub provided: u64,
}

pub struct JdSession {
    cfg: JdConfig,
    phase: JdPhase,
    next_request: u32,
    /// Unused tokens with the outputs they pay.
    tokens: VecDeque<(Vec<u8>, PoolOutputs)>,
    /// Outstanding AllocateMiningJobToken requests, by id, with when they went.
    token_requests: BTreeMap<u32, Instant>,
    /// Outstanding declarations, by request id.
    pending: BTreeMap<u32, (Arc<Declared>, Instant)>,
    /// The newest template, waiting for a token (with the channel's full extranonce size).
    waiting: Option<(Arc<Template>, usize)>,
    setup_sent: Option<Instant>,
    counts: JdCounts,
    out: Vec<JdAction>,
}

impl JdSession {
    pub fn new(cfg: JdConfig) -> Self {
        JdSession {
            cfg,
            phase: JdPhase::Connecting,
            next_request: 1,
            tokens: VecDeque::new(),
            token_requests: BTreeMap::new(),
            pending: BTreeMap::new(),
            waiting: None,
            setup_sent: None,
            counts: JdCounts::default(),
            out: Vec::new(),
        }
    }

    pub fn phase(&self) -> JdPhase {
        self.phase
    }

    pub fn counts(&self) -> &JdCounts {
        &self.counts
    }

    /// Declarations awaiting an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn take_actions(&mut self) -> Vec<JdAction> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, m: AnyMessageOwned) {
        self.out.push(JdAction::Send(Box::new(m)));
    }

    fn request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        id
    }

    fn log(&mut self, warn: bool, text: String) {
        self.out.push(JdAction::Log {
            warn,
            text: clip(&text, 200),
        });
    }

    fn down(&mut self, why: String) {
        if self.phase == JdPhase::Down {
            return;
        }
        self.phase = JdPhase::Down;
        self.pending.clear();
        self.tokens.clear();
        self.token_requests.clear();
        self.out.push(JdAction::Down(clip(&why, 200)));
    }

    /// The connection is up (Noise done): SetupConnection.
    pub fn connected(&mut self, now: Instant) {
        self.setup_sent = Some(now);
        let m = message::setup_for(
            Protocol::JobDeclarationProtocol,
            &self.cfg.host,
            self.cfg.port,
            DECLARE_TX_DATA,
        );
        self.send(m);
    }

    /// Keeps one unused token ahead.
    fn want_token(&mut self, now: Instant) {
        if self.phase != JdPhase::Ready || self.tokens.len() + self.token_requests.len() >= 1 {
            return;
        }
        let id = self.request_id();
        self.token_requests.insert(id, now);
        let m = message::allocate_token(&self.cfg.user, id);
        self.send(m);
    }

    /// A new template from the node, for a pool channel whose full extranonce (prefix and
    /// rollable part) is `full_extranonce_size` bytes: declared as soon as there is a token.
    /// An older template still waiting is replaced.
    pub fn template(&mut self, template: Arc<Template>, full_extranonce_size: usize, now: Instant) {
        if self.phase == JdPhase::Down {
            return;
        }
        self.waiting = Some((template, full_extranonce_size));
        self.declare_waiting(now);
    }

    fn declare_waiting(&mut self, now: Instant) {
        if self.phase != JdPhase::Ready {
            return;
        }
        let Some((token, outputs)) = self.tokens.pop_front() else {
            self.want_token(now);
            return;
        };
        let Some((template, size)) = self.waiting.take() else {
            self.tokens.push_front((token, outputs));
            return;
        };
        let declared = match Declared::new(template, &outputs, size) {
            Ok(d) => Arc::new(d),
            Err(e) => {
                // The pool's outputs (or the template with them) cannot make a valid block:
                // nothing to declare; mining goes on without the pool.
                self.tokens.push_front((token, outputs));
                self.down(format!("cannot declare the template: {e}"));
                return;
            }
        };
        let id = self.request_id();
        match declared.declare(id, &token) {
            Ok(m) => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_first();
                }
                self.pending.insert(id, (declared, now));
                self.counts.declared += 1;
                self.send(message::declare(m));
            }
            Err(e) => {
                self.down(format!("cannot declare the template: {e}"));
                return;
            }
        }
        self.want_token(now);
    }

    /// A frame from the JDS.
    pub fn frame(&mut self, frame: Result<Frame, FrameError>, now: Instant) {
        match frame {
            Err(e) => self.down(format!(
                "the JDS sent a frame that does not decode: {}",
                e.0
            )),
            Ok(Frame::Common(m)) => self.common(m, now),
            Ok(Frame::JobDeclaration(m)) => self.job_declaration(m, now),
            Ok(Frame::Mining(_)) => {
                self.log(true, "ignored a mining message from the JDS".into());
            }
            Ok(Frame::Extension { ext_type, msg_type }) => self.log(
                false,
                format!("ignored extension {ext_type:#06x} message {msg_type:#04x} from the JDS"),
            ),
        }
    }

    fn common(&mut self, m: CommonMessagesOwned, now: Instant) {
        match m {
            CommonMessagesOwned::SetupConnectionSuccess(_) if self.phase == JdPhase::Connecting => {
                self.phase = JdPhase::Ready;
                self.setup_sent = None;
                self.log(false, "job declaration connection set up".into());
                self.want_token(now);
                self.declare_waiting(now);
            }
            CommonMessagesOwned::SetupConnectionError(e) => self.down(format!(
                "the JDS refused SetupConnection: {}",
                String::from_utf8_lossy(e.error_code.as_bytes())
            )),
            CommonMessagesOwned::Reconnect(_) => {
                self.down("the JDS asked to reconnect".into());
            }
            _ => self.log(
                true,
                "ignored a common message from the JDS out of place".into(),
            ),
        }
    }

    fn job_declaration(&mut self, m: JobDeclarationOwned, now: Instant) {
        match m {
            JobDeclarationOwned::AllocateMiningJobTokenSuccess(s) => {
                if self.token_requests.remove(&s.request_id).is_none() {
                    return self.down(format!(
                        "AllocateMiningJobToken.Success for request {} that was not made",
                        s.request_id
                    ));
                }
                match PoolOutputs::parse(s.coinbase_outputs.as_bytes()) {
                    Ok(outputs) => {
                        if self.tokens.len() >= MAX_TOKENS {
                            self.tokens.pop_front();
                        }
                        self.tokens
                            .push_back((s.mining_job_token.as_bytes().to_vec(), outputs));
                        self.declare_waiting(now);
                    }
                    Err(e) => self.down(e.to_string()),
                }
            }
            JobDeclarationOwned::ProvideMissingTransactions(p) => {
                let Some((declared, _)) = self.pending.get(&p.request_id) else {
                    // A declaration we gave up on (replaced): nothing to answer with.
                    return self.not_pending("ProvideMissingTransactions", p.request_id);
                };
                let positions: Vec<u16> = p.unknown_tx_position_list.iter().copied().collect();
                match declared.missing(&positions) {
                    Ok(txs) => {
                        let n = txs.len() as u64;
                        match message::provide_missing(p.request_id, txs) {
                            Some(m) => {
                                self.counts.provided += n;
                                self.send(m);
                            }
                            None => self.down(
                                "the transactions the JDS asked for do not fit one message".into(),
                            ),
                        }
                    }
                    Err(e) => self.down(format!("ProvideMissingTransactions: {e}")),
                }
            }
            JobDeclarationOwned::DeclareMiningJobSuccess(s) => {
                let Some((declared, _)) = self.pending.remove(&s.request_id) else {
                    return self.not_pending("DeclareMiningJob.Success", s.request_id);
                };
                self.counts.accepted += 1;
                self.out.push(JdAction::Accepted {
                    declared,
                    token: s.new_mining_job_token.as_bytes().to_vec(),
                });
            }
            JobDeclarationOwned::DeclareMiningJobError(e) => {
                let code = clip(&String::from_utf8_lossy(e.error_code.as_bytes()), 64);
                let Some((declared, _)) = self.pending.remove(&e.request_id) else {
                    return self
                        .not_pending(&format!("DeclareMiningJob.Error {code}"), e.request_id);
                };
                let key = if self.counts.refused.len() < MAX_CODES
                    || self.counts.refused.contains_key(&code)
                {
                    code.clone()
                } else {
                    "other".to_string()
                };
                *self.counts.refused.entry(key).or_default() += 1;
                let retry = code == ERROR_CODE_DECLARE_MINING_JOB_STALE_CHAIN_TIP;
                let details = clip(&String::from_utf8_lossy(e.error_details.as_bytes()), 120);
                self.log(
                    true,
                    format!(
                        "the JDS refused the job for block {}: {code}{}{}",
                        declared.template.height,
                        if details.is_empty() { "" } else { ": " },
                        details
                    ),
                );
                self.out.push(JdAction::Refused {
                    declared,
                    code,
                    retry,
                });
            }
            _ => self.log(
                true,
                "ignored a job declaration message the JDS should not send".into(),
            ),
        }
    }

    /// An answer about a declaration given up on (replaced by a newer one): logged only.
    fn not_pending(&mut self, what: &str, request_id: u32) {
        self.log(
            false,
            format!("{what} for declaration {request_id}, which is no longer pending"),
        );
    }

    /// The clock: a JDS that does not answer SetupConnection, a token request or a
    /// declaration within the answer timeout is gone.
    pub fn tick(&mut self, now: Instant) {
        let late =
            |since: &Instant| now.saturating_duration_since(*since) > self.cfg.answer_timeout;
        if self.setup_sent.as_ref().is_some_and(late) {
            return self.down("the JDS did not answer SetupConnection".into());
        }
        if self.token_requests.values().any(late) {
            return self.down("the JDS did not answer AllocateMiningJobToken".into());
        }
        if self.pending.values().any(|(_, t)| late(t)) {
            self.down("the JDS did not answer a DeclareMiningJob".into());
        }
    }
}

#[cfg(test)]
mod tests;
