//! One Stratum V2 mining channel as a sans-IO state machine: decoded frames in, [`Action`]s
//! out. The job bookkeeping (future, active, past and stale jobs, each capped; chain tip;
//! target; extranonce prefix; local share validation) is `channels_sv2`'s client channel, the
//! same code SRI's own proxies run; this file adds the handshake, the share lifecycle with
//! the pool's batched answers, timeouts and UpdateChannel.
//!
//! Order on a connection: SetupConnection (mining protocol; REQUIRES_VERSION_ROLLING, and
//! REQUIRES_STANDARD_JOBS for a standard channel), Open{Standard,Extended}MiningChannel with
//! the nominal hash rate, then jobs: NewMiningJob / NewExtendedMiningJob (future ones wait for
//! their SetNewPrevHash, which makes every older job stale), SetTarget, SetExtranoncePrefix;
//! shares go out as SubmitShares{Standard,Extended} with sequence numbers, acknowledged by
//! SubmitShares.Success (several at once) or refused by SubmitShares.Error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use stratum_core::channels_sv2::client::extended::ExtendedChannel;
use stratum_core::channels_sv2::client::share_accounting::ShareValidationError;
use stratum_core::channels_sv2::client::standard::StandardChannel;
use stratum_core::channels_sv2::extranonce_manager::ExtranoncePrefix;
use stratum_core::mining_sv2::{
    SetCustomMiningJobOwned, SubmitSharesExtendedOwned, SubmitSharesStandardOwned,
};
use stratum_core::parsers_sv2::{CommonMessagesOwned, MiningOwned};

use super::declare::Declared;
use super::wire::{message, Frame, FrameError};
use super::{
    ChannelKind, REQUIRES_STANDARD_JOBS, REQUIRES_VERSION_ROLLING, REQUIRES_WORK_SELECTION,
};
use crate::chain::{target_difficulty, CompactTarget, Target};
use crate::source::stratum::error::StratumError;
use crate::source::stratum::session::{Action, Outgoing, Phase, ShareResult, Throttle, WARN_EVERY};
use crate::source::stratum::v1::protocol::{ProtocolError, EXTRANONCE2_SIZES, VERSION_MASK};
use crate::source::stratum::v1::session::{held_back, share_name, MAX_PENDING};
use crate::source::stratum::JobContext;
use crate::source::Solution;
use crate::ui::output::clip;
use crate::work::{BlockTime, MerkleShape, Work};

/// How far ahead of a job's min_ntime a header's time may run (the pool allows two hours).
const NTIME_AHEAD: u32 = 3600;
/// The request id of our one OpenMiningChannel.
const OPEN_REQUEST: u32 = 1;
/// Custom jobs awaiting the pool's answer (a newer one replaces the oldest).
const MAX_CUSTOM_PENDING: usize = 8;
/// Custom jobs remembered by job id after the pool took them (for the block of a share).
const MAX_CUSTOM_JOBS: usize = 16;

/// How a channel is set up.
#[derive(Clone, Debug)]
pub struct Config {
    pub session: u64,
    pub pool: usize,
    pub user: String,
    pub kind: ChannelKind,
    /// The pool's address as dialled (SetupConnection's endpoint).
    pub host: String,
    pub port: u16,
    /// The nominal hash rate announced when the channel is opened.
    pub hash_rate: f64,
    pub answer_timeout: Duration,
    pub idle_timeout: Duration,
    /// How often the measured rate is compared with the announced one.
    pub update_every: Duration,
}

/// Runs `$call` on whichever client channel is open (`None` when none is yet), its error as
/// text (channels_sv2's errors only implement `Debug`).
macro_rules! on_open {
    ($open:expr, $c:ident => $call:expr) => {
        match $open {
            Some(Open::Standard($c)) => Some($call.map_err(|e| format!("{e:?}"))),
            Some(Open::Extended($c)) => Some($call.map_err(|e| format!("{e:?}"))),
            None => None,
        }
    };
}

/// The client channel of either kind.
enum Open {
    Standard(StandardChannel),
    Extended(ExtendedChannel),
}

struct Submitted {
    what: String,
    difficulty: f64,
}

/// One Stratum V2 mining channel.
pub struct Channel {
    cfg: Config,
    phase: Phase,
    started: Instant,
    open: Option<Open>,
    channel_id: u32,
    /// The group channel ours belongs to (0: none); the pool may address jobs to it.
    group: u32,
    next_sequence: u32,
    pending: BTreeMap<u32, Submitted>,
    clean: bool,
    last_job: Instant,
    announced: f64,
    last_update: Instant,
    /// The run's hash count when the rate was last compared (`None` before the first tick).
    hashes_at_update: Option<u64>,
    warn_ignored: Throttle,
    warn_refused: Throttle,
    /// Custom-work channel: SetCustomMiningJob requests awaiting an answer, by request id.
    custom_pending: BTreeMap<u32, (SetCustomMiningJobOwned, Arc<Declared>, Instant)>,
    /// Custom jobs the pool took, by job id (oldest dropped first).
    custom_jobs: BTreeMap<u32, Arc<Declared>>,
    /// Custom jobs the pool took on this channel.
    custom_taken: u64,
    next_custom_request: u32,
    out: Vec<Action>,
}

impl Channel {
    pub fn new(cfg: Config, now: Instant) -> Self {
        Channel {
            announced: cfg.hash_rate,
            cfg,
            phase: Phase::Connecting,
            started: now,
            open: None,
            channel_id: 0,
            group: 0,
            next_sequence: 0,
            pending: BTreeMap::new(),
            clean: false,
            last_job: now,
            last_update: now,
            hashes_at_update: None,
            warn_ignored: Throttle::default(),
            warn_refused: Throttle::default(),
            custom_pending: BTreeMap::new(),
            custom_jobs: BTreeMap::new(),
            custom_taken: 0,
            next_custom_request: OPEN_REQUEST + 1,
            out: Vec::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn has_work(&self) -> bool {
        match &self.open {
            Some(Open::Standard(c)) => c.get_active_job().is_some() && c.get_chain_tip().is_some(),
            Some(Open::Extended(c)) => c.get_active_job().is_some() && c.get_chain_tip().is_some(),
            None => false,
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn push(&mut self, action: Action) {
        self.out.push(action);
    }

    pub fn take_clean(&mut self) -> bool {
        std::mem::take(&mut self.clean)
    }

    fn send(&mut self, m: stratum_core::parsers_sv2::AnyMessageOwned) {
        self.out.push(Action::Send(Outgoing::V2(Box::new(m))));
    }

    fn close_with(&mut self, e: StratumError) {
        self.out.push(Action::Close(e));
    }

    fn protocol(&mut self, text: String) {
        self.close_with(StratumError::Protocol(ProtocolError(text)));
    }

    fn info(&mut self, text: String) {
        self.out.push(Action::Log { warn: false, text });
    }

    /// The connection is up (Noise done): SetupConnection.
    pub fn connected(&mut self, now: Instant) {
        self.phase = Phase::Subscribing;
        self.started = now;
        let flags = REQUIRES_VERSION_ROLLING
            | match self.cfg.kind {
                ChannelKind::Standard => REQUIRES_STANDARD_JOBS,
                ChannelKind::Extended => 0,
                ChannelKind::Custom => REQUIRES_WORK_SELECTION,
            };
        let m = message::setup(&self.cfg.host, self.cfg.port, flags);
        self.send(m);
    }

    /// A frame from the pool (or what was wrong with it: that ends the session).
    pub fn frame(&mut self, frame: Result<Frame, FrameError>, now: Instant) {
        match frame {
            Err(e) => self.protocol(e.0),
            Ok(Frame::Common(m)) => self.common(m, now),
            Ok(Frame::Mining(m)) => self.mining(m, now),
            Ok(Frame::Extension { ext_type, msg_type }) => self.ignored(
                format!("extension {ext_type:#06x} message {msg_type:#04x}"),
                now,
            ),
            Ok(Frame::JobDeclaration(_)) => self.ignored(
                "a job declaration message on a mining connection".into(),
                now,
            ),
        }
    }

    fn ignored(&mut self, what: String, now: Instant) {
        if let Some(held) = self.warn_ignored.allow(now, WARN_EVERY) {
            self.out.push(Action::Log {
                warn: true,
                text: format!("ignored {}{}", clip(&what, 120), held_back(held)),
            });
        }
    }

    fn common(&mut self, m: CommonMessagesOwned, now: Instant) {
        match m {
            CommonMessagesOwned::SetupConnectionSuccess(s) => {
                if self.phase != Phase::Subscribing {
                    return self.protocol("SetupConnection.Success out of order".into());
                }
                self.info(format!("connection set up (flags {:#x})", s.flags));
                self.phase = Phase::Authorizing;
                let m = message::open_channel(
                    self.cfg.kind,
                    OPEN_REQUEST,
                    &self.cfg.user,
                    self.announced as f32,
                );
                self.send(m);
            }
            CommonMessagesOwned::SetupConnectionError(e) => self.protocol(format!(
                "the pool refused SetupConnection: {}",
                text(e.error_code.as_bytes())
            )),
            CommonMessagesOwned::Reconnect(r) => {
                let host = text(r.new_host.as_bytes());
                let host = (!host.is_empty()).then_some(host);
                let port = (r.new_port != 0).then_some(r.new_port);
                let to = (host.is_some() || port.is_some()).then_some((host, port));
                self.out.push(Action::Reconnect {
                    to,
                    after: Duration::ZERO,
                });
            }
            other => self.ignored(format!("{other}"), now),
        }
    }

    /// Checks that a message is for our channel (or its group).
    fn ours(&mut self, channel_id: u32) -> bool {
        let open = self.open.is_some();
        if open && (channel_id == self.channel_id || (self.group != 0 && channel_id == self.group))
        {
            return true;
        }
        self.protocol(format!(
            "the pool sent a message for channel {channel_id}, which was never opened (ours: {})",
            if open {
                self.channel_id.to_string()
            } else {
                "none yet".into()
            }
        ));
        false
    }

    fn mining(&mut self, m: MiningOwned, now: Instant) {
        match m {
            MiningOwned::OpenStandardMiningChannelSuccess(s) => self.opened(
                s.request_id,
                s.channel_id,
                s.group_channel_id,
                Target::from_le_bytes(s.target.to_array()),
                s.extranonce_prefix.as_bytes().to_vec(),
                0,
                now,
            ),
            MiningOwned::OpenExtendedMiningChannelSuccess(s) => self.opened(
                s.request_id,
                s.channel_id,
                s.group_channel_id,
                Target::from_le_bytes(s.target.to_array()),
                s.extranonce_prefix.as_bytes().to_vec(),
                s.extranonce_size,
                now,
            ),
            MiningOwned::OpenMiningChannelError(e) => self.close_with(StratumError::LoginRefused {
                user: clip(&self.cfg.user, 80),
                reason: text(e.error_code.as_bytes()),
            }),
            MiningOwned::NewMiningJob(j) => {
                if !self.ours(j.channel_id) {
                    return;
                }
                let job_id = j.job_id;
                let active = j.min_ntime.clone().into_inner().is_some();
                let result = match self.open.as_mut() {
                    Some(Open::Standard(c)) => c.on_new_mining_job(j).map_err(|e| format!("{e:?}")),
                    _ => {
                        return self.protocol(
                            "the pool sent a standard job (NewMiningJob) on an extended channel"
                                .into(),
                        )
                    }
                };
                self.job_taken(job_id, active, result.err(), now);
            }
            MiningOwned::NewExtendedMiningJob(j) if self.cfg.kind == ChannelKind::Custom => self
                .ignored(
                    format!("the pool's job {} on a custom-work channel", j.job_id),
                    now,
                ),
            MiningOwned::SetNewPrevHash(p) if self.cfg.kind == ChannelKind::Custom => self.ignored(
                format!(
                    "the pool's SetNewPrevHash (job {}) on a custom-work channel",
                    p.job_id
                ),
                now,
            ),
            MiningOwned::NewExtendedMiningJob(j) => {
                if !self.ours(j.channel_id) {
                    return;
                }
                let job_id = j.job_id;
                let active = j.min_ntime.clone().into_inner().is_some();
                let result = match self.open.as_mut() {
                    Some(Open::Standard(c)) => {
                        c.on_new_group_channel_job(j).map_err(|e| format!("{e:?}"))
                    }
                    Some(Open::Extended(c)) => c
                        .on_new_extended_mining_job(j)
                        .map_err(|e| format!("{e:?}")),
                    None => return,
                };
                self.job_taken(job_id, active, result.err(), now);
            }
            MiningOwned::SetNewPrevHash(p) => {
                if !self.ours(p.channel_id) {
                    return;
                }
                let job_id = p.job_id;
                let Some(result) = on_open!(self.open.as_mut(), c => c.on_set_new_prev_hash(p))
                else {
                    return;
                };
                match result {
                    Ok(()) => {
                        self.clean = true;
                        self.last_job = now;
                        self.out.push(Action::Work);
                    }
                    Err(_) => self.protocol(format!(
                        "the pool sent SetNewPrevHash for job {job_id}, which it never sent"
                    )),
                }
            }
            MiningOwned::SetTarget(t) => {
                if !self.ours(t.channel_id) {
                    return;
                }
                let target = Target::from_le_bytes(t.maximum_target.to_array());
                let Some(result) = on_open!(self.open.as_mut(), c => c.set_target(target)) else {
                    return;
                };
                match result {
                    Ok(()) => {
                        self.info(format!(
                            "target {target:x} (difficulty {})",
                            target_difficulty(&target)
                        ));
                        // The target applies at once: the current job is published again.
                        if self.has_work() {
                            self.out.push(Action::Work);
                        }
                    }
                    Err(e) => self.protocol(format!("the pool sent SetTarget {target:x}: {e}")),
                }
            }
            MiningOwned::SetExtranoncePrefix(p) => {
                if !self.ours(p.channel_id) {
                    return;
                }
                let prefix =
                    match ExtranoncePrefix::from_wire(p.extranonce_prefix.as_bytes().to_vec()) {
                        Ok(prefix) => prefix,
                        Err(e) => return self.protocol(format!("SetExtranoncePrefix: {e:?}")),
                    };
                let Some(result) =
                    on_open!(self.open.as_mut(), c => c.set_extranonce_prefix(prefix))
                else {
                    return;
                };
                match result {
                    Ok(()) if self.has_work() => self.out.push(Action::Work),
                    Ok(()) => {}
                    Err(e) => self.protocol(format!("SetExtranoncePrefix: {e}")),
                }
            }
            MiningOwned::SubmitSharesSuccess(s) => {
                if self.ours(s.channel_id) {
                    self.accepted(s.last_sequence_number, s.new_submits_accepted_count);
                }
            }
            MiningOwned::SubmitSharesError(e) => {
                if self.ours(e.channel_id) {
                    self.refused(e.sequence_number, text(e.error_code.as_bytes()), now);
                }
            }
            MiningOwned::SetCustomMiningJobSuccess(s) => {
                if !self.ours(s.channel_id) {
                    return;
                }
                self.custom_job_taken(s, now);
            }
            MiningOwned::SetCustomMiningJobError(e) => {
                if !self.ours(e.channel_id) {
                    return;
                }
                let code = text(e.error_code.as_bytes());
                match self.custom_pending.remove(&e.request_id) {
                    Some((_, declared, _)) => {
                        self.out.push(Action::Log {
                            warn: true,
                            text: format!(
                                "the pool refused the custom job for block {}: {code}",
                                declared.template.height
                            ),
                        });
                        self.out.push(Action::CustomJobRefused { code });
                    }
                    None => self.ignored(
                        format!(
                            "SetCustomMiningJob.Error {code} for request {} not made",
                            e.request_id
                        ),
                        now,
                    ),
                }
            }
            MiningOwned::UpdateChannelError(e) => self.out.push(Action::Log {
                warn: true,
                text: format!("UpdateChannel refused: {}", text(e.error_code.as_bytes())),
            }),
            MiningOwned::CloseChannel(c) => {
                if self.ours(c.channel_id) {
                    self.close_with(StratumError::ChannelClosed(text(c.reason_code.as_bytes())));
                }
            }
            other => self.ignored(format!("{other}"), now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn opened(
        &mut self,
        request_id: u32,
        channel_id: u32,
        group: u32,
        target: Target,
        prefix: Vec<u8>,
        extranonce_size: u16,
        now: Instant,
    ) {
        if self.phase != Phase::Authorizing || request_id != OPEN_REQUEST {
            return self.protocol(format!(
                "the pool opened a channel for request {request_id}, which was not asked for"
            ));
        }
        let kind = self.cfg.kind;
        if kind != ChannelKind::Standard && !EXTRANONCE2_SIZES.contains(&(extranonce_size as usize))
        {
            return self.protocol(format!(
                "the pool gave an extended channel {extranonce_size} extranonce bytes (hashrig rolls {} to {})",
                EXTRANONCE2_SIZES.start(),
                EXTRANONCE2_SIZES.end()
            ));
        }
        let prefix = match ExtranoncePrefix::from_wire(prefix) {
            Ok(p) => p,
            Err(e) => return self.protocol(format!("the channel's extranonce prefix: {e:?}")),
        };
        let user = self.cfg.user.clone();
        let rate = self.announced as f32;
        let open = match kind {
            ChannelKind::Standard => {
                StandardChannel::new(channel_id, user, prefix, target, rate, None)
                    .map(Open::Standard)
                    .map_err(|e| format!("{e:?}"))
            }
            ChannelKind::Extended | ChannelKind::Custom => ExtendedChannel::new(
                channel_id,
                user,
                prefix,
                target,
                rate,
                true,
                extranonce_size,
                None,
            )
            .map(Open::Extended)
            .map_err(|e| format!("{e:?}")),
        };
        match open {
            Ok(open) => self.open = Some(open),
            Err(e) => return self.protocol(format!("the pool opened channel {channel_id}: {e}")),
        }
        self.channel_id = channel_id;
        self.group = group;
        self.phase = Phase::Ready;
        self.last_job = now;
        self.last_update = now;
        self.out.push(Action::Log {
            warn: true,
            text: format!(
                "logged in; Stratum V2 {} channel {channel_id}, difficulty {}, version rolling mask {VERSION_MASK:08x}",
                match kind {
                    ChannelKind::Standard => "standard (header-only)",
                    ChannelKind::Extended => "extended",
                    ChannelKind::Custom => "extended, custom jobs (job declaration)",
                },
                target_difficulty(&target)
            ),
        });
        self.out.push(Action::Ready);
    }

    /// A job the channel took (`refused`: why not, from channels_sv2's error).
    fn job_taken(&mut self, job_id: u32, active: bool, refused: Option<String>, now: Instant) {
        match refused {
            None if active => {
                self.last_job = now;
                self.out.push(Action::Work);
            }
            None => {}
            Some(e) => {
                if let Some(held) = self.warn_refused.allow(now, WARN_EVERY) {
                    self.out.push(Action::Log {
                        warn: true,
                        text: format!("ignored job {job_id}: {e}{}", held_back(held)),
                    });
                }
            }
        }
    }

    /// The active job as work, with its share difficulty.
    pub fn work(&self, clean: bool) -> Option<(Work, f64)> {
        let (job_id, version, rolling, min_ntime, job_target, merkle, extranonce1, tip) =
            match self.open.as_ref()? {
                Open::Standard(c) => {
                    let job = c.get_active_job()?;
                    let m = &job.job_message;
                    (
                        m.job_id,
                        m.version,
                        true,
                        m.min_ntime.clone().into_inner()?,
                        job.target.min(*c.get_target()),
                        MerkleShape::Fixed(m.merkle_root.to_array()),
                        Vec::new(),
                        c.get_chain_tip()?.clone(),
                    )
                }
                Open::Extended(c) => {
                    let job = c.get_active_job()?;
                    let m = &job.job_message;
                    (
                        m.job_id,
                        m.version,
                        m.version_rolling_allowed,
                        m.min_ntime.clone().into_inner()?,
                        job.target.min(*c.get_target()),
                        MerkleShape::Coinbase {
                            coinb1: m.coinbase_tx_prefix.as_bytes().to_vec(),
                            extranonce1: job.extranonce_prefix.clone(),
                            extranonce2_size: c.get_rollable_extranonce_size() as usize,
                            coinb2: m.coinbase_tx_suffix.as_bytes().to_vec(),
                            branch: m.merkle_path.iter().map(|h| h.to_array()).collect(),
                        },
                        job.extranonce_prefix.clone(),
                        c.get_chain_tip()?.clone(),
                    )
                }
            };
        let difficulty = target_difficulty(&job_target);
        let work = Work {
            id: format!("{}/{job_id}", self.cfg.pool),
            prev_hash: bitcoin::BlockHash::from_byte_array(tip.prev_hash().to_array()),
            version: version as i32,
            version_mask: if rolling { VERSION_MASK } else { 0 },
            time: BlockTime {
                base: min_ntime,
                since: Instant::now(),
                min: min_ntime,
                max: min_ntime.saturating_add(NTIME_AHEAD),
            },
            bits: CompactTarget::from_consensus(tip.nbits()),
            share_target: job_target,
            merkle,
            clean,
            one_block: false,
            // Stratum V2 is SHA-256d's protocol: its targets are SHA-256d targets.
            algo: crate::algo::Algo::Sha256d,
            pool: Some(self.cfg.pool),
            context: Some(Arc::new(JobContext {
                pool: self.cfg.pool,
                session: self.cfg.session,
                job: job_id.to_string(),
                difficulty,
                extranonce1,
            })),
        };
        Some((work, difficulty))
    }

    fn not_sent(&mut self, solution: &Solution, ctx: &JobContext, result: ShareResult) {
        self.out.push(Action::Share {
            what: share_name(solution, &ctx.job, ctx.difficulty, self.cfg.pool),
            difficulty: ctx.difficulty,
            result,
        });
    }

    /// SubmitShares of `solution`, after the channel's own check (a share of a job a
    /// SetNewPrevHash replaced is stale, never sent).
    pub fn submit(&mut self, solution: &Solution, _resumed: bool, _now: Instant) {
        let Some(ctx) = crate::source::stratum::context(solution) else {
            return;
        };
        let Ok(job_id) = ctx.job.parse::<u32>() else {
            return self.not_sent(
                solution,
                ctx,
                ShareResult::Stale("not sent: not a job of this channel".into()),
            );
        };
        if self.phase != Phase::Ready || self.open.is_none() {
            return self.not_sent(
                solution,
                ctx,
                ShareResult::Stale("not sent: the channel is not open".into()),
            );
        }
        let header = solution.share.header;
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        let channel_id = self.channel_id;
        let (nonce, ntime, version) = (header.nonce(), header.time(), header.version() as u32);
        let checked = match self.open.as_mut().expect("checked above") {
            Open::Standard(c) => c
                .validate_share(SubmitSharesStandardOwned {
                    channel_id,
                    sequence_number: sequence,
                    job_id,
                    nonce,
                    ntime,
                    version,
                })
                .map(|_| None),
            Open::Extended(c) => {
                let extranonce = solution.roll.extranonce2.clone();
                let Ok(field) = extranonce.clone().try_into() else {
                    return self.not_sent(
                        solution,
                        ctx,
                        ShareResult::Stale("not sent: an extranonce of over 32 bytes".into()),
                    );
                };
                let share = SubmitSharesExtendedOwned {
                    channel_id,
                    sequence_number: sequence,
                    job_id,
                    nonce,
                    ntime,
                    version,
                    extranonce: field,
                };
                c.validate_share(share).map(|_| Some(extranonce))
            }
        };
        let extranonce = match checked {
            Ok(e) => e,
            Err(e) => {
                let result = match e {
                    ShareValidationError::Stale(_) | ShareValidationError::NoChainTip => {
                        ShareResult::Stale("not sent: a SetNewPrevHash replaced its job".into())
                    }
                    ShareValidationError::InvalidJobId(_) => {
                        ShareResult::Stale("not sent: the pool's job is gone".into())
                    }
                    ShareValidationError::DoesNotMeetTarget(_) => ShareResult::Stale(
                        "not sent: below the channel's target (SetTarget raised it)".into(),
                    ),
                    ShareValidationError::DuplicateShare(_) => {
                        ShareResult::Stale("not sent: a duplicate".into())
                    }
                    other => ShareResult::Rejected(format!("not sent: local check: {other:?}")),
                };
                return self.not_sent(solution, ctx, result);
            }
        };
        if self.pending.len() >= MAX_PENDING {
            if let Some((_, sub)) = self.pending.pop_first() {
                self.out.push(Action::Share {
                    what: sub.what,
                    difficulty: sub.difficulty,
                    result: ShareResult::Unanswered("the pool has not acknowledged it".into()),
                });
            }
        }
        let what = format!(
            "share {} (job {job_id}, difficulty {:.6}, pool {})",
            &solution.share.hash_hex()[..16],
            ctx.difficulty,
            self.cfg.pool
        );
        self.pending.insert(
            sequence,
            Submitted {
                what,
                difficulty: ctx.difficulty,
            },
        );
        let m = message::submit(
            channel_id,
            sequence,
            job_id,
            nonce,
            ntime,
            version,
            extranonce.as_deref(),
        );
        self.send(m);
    }

    /// SubmitShares.Success: every share up to `last` not refused is accepted.
    fn accepted(&mut self, last: u32, count: u32) {
        let done: Vec<u32> = self.pending.range(..=last).map(|(s, _)| *s).collect();
        if done.len() as u64 != count as u64 {
            self.info(format!(
                "the pool acknowledged {count} shares up to {last}; {} were waiting",
                done.len()
            ));
        }
        for seq in done {
            if let Some(sub) = self.pending.remove(&seq) {
                self.out.push(Action::Share {
                    what: sub.what,
                    difficulty: sub.difficulty,
                    result: ShareResult::Accepted,
                });
            }
        }
    }

    fn refused(&mut self, sequence: u32, code: String, now: Instant) {
        match self.pending.remove(&sequence) {
            Some(sub) => self.out.push(Action::Share {
                what: sub.what,
                difficulty: sub.difficulty,
                result: ShareResult::Rejected(code),
            }),
            None => {
                if let Some(held) = self.warn_refused.allow(now, WARN_EVERY) {
                    self.out.push(Action::Log {
                        warn: true,
                        text: format!(
                            "ignored SubmitShares.Error for sequence number {sequence}, which is not waiting: {code}{}",
                            held_back(held)
                        ),
                    });
                }
            }
        }
    }

    /// Timeouts, and UpdateChannel when the measured rate is far from the announced one.
    pub fn tick(&mut self, now: Instant, hashes: u64) {
        let answer = self.cfg.answer_timeout;
        if self.phase < Phase::Ready && now.saturating_duration_since(self.started) > answer {
            let what = match self.phase {
                Phase::Connecting => "connect",
                Phase::Subscribing => "answer SetupConnection",
                _ => "open the channel",
            };
            return self.close_with(StratumError::Timeout {
                what,
                seconds: answer.as_secs_f64(),
            });
        }
        if self.phase != Phase::Ready {
            return;
        }
        // A custom-work channel gets no jobs from the pool by design: its jobs are ours. A
        // custom job the pool does not answer is a dead pool, though.
        let silent = if self.cfg.kind == ChannelKind::Custom {
            false
        } else {
            now.saturating_duration_since(self.last_job) > self.cfg.idle_timeout
        };
        if silent {
            return self.close_with(StratumError::Idle(self.cfg.idle_timeout.as_secs_f64()));
        }
        if self
            .custom_pending
            .values()
            .any(|(_, _, sent)| now.saturating_duration_since(*sent) > answer)
        {
            return self.close_with(StratumError::Timeout {
                what: "answer SetCustomMiningJob",
                seconds: answer.as_secs_f64(),
            });
        }
        let Some(before) = self.hashes_at_update else {
            // The first tick on the open channel: counting starts here.
            self.hashes_at_update = Some(hashes);
            self.last_update = now;
            return;
        };
        let since = now.saturating_duration_since(self.last_update);
        if since < self.cfg.update_every {
            return;
        }
        let rate = hashes.saturating_sub(before) as f64 / since.as_secs_f64();
        self.last_update = now;
        self.hashes_at_update = Some(hashes);
        let off = rate / self.announced.max(1.0);
        if (0.5..=2.0).contains(&off) || rate <= 0.0 {
            return;
        }
        self.announced = rate;
        self.out.push(Action::Log {
            warn: true,
            text: format!(
                "announcing {} (UpdateChannel; measured over the last {:.0} s)",
                crate::stats::format_hashrate(rate),
                since.as_secs_f64()
            ),
        });
        let m = message::update_channel(self.channel_id, rate as f32);
        self.send(m);
    }

    /// Ends the channel: shares waiting for an answer are reported unanswered.
    pub fn close(&mut self, why: &str) {
        for (_, sub) in std::mem::take(&mut self.pending) {
            self.out.push(Action::Share {
                what: sub.what,
                difficulty: sub.difficulty,
                result: ShareResult::Unanswered(why.to_string()),
            });
        }
    }
}

/// A pool's string field, for a log line.
fn text(bytes: &[u8]) -> String {
    clip(&String::from_utf8_lossy(bytes), 200)
}

mod custom;
#[cfg(test)]
mod tests;
