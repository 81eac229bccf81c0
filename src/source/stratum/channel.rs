//! The pool manager's Stratum V2 side: one mining channel per session (standard: header-only,
//! or extended: the coinbase built here), its jobs, and its shares. The wire is `v2.rs`.
//!
//! Order on a connection: Noise NX handshake (in the reader thread), SetupConnection (mining
//! protocol; REQUIRES_VERSION_ROLLING, and REQUIRES_STANDARD_JOBS for a standard channel),
//! Open{Standard,Extended}MiningChannel with the nominal hash rate, then jobs: NewMiningJob
//! (future ones wait for their SetNewPrevHash, which makes every older job stale), SetTarget,
//! SetExtranoncePrefix; shares go out as SubmitShares{Standard,Extended} with sequence
//! numbers, acknowledged by SubmitShares.Success (possibly several at once) or refused by
//! SubmitShares.Error.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;

use super::v2::{self, ChannelKind, V2In};
use super::{Event, JobContext, Manager, Phase, PoolUrl, Request, Submitted, Wire, MAX_JOBS};
use crate::chain::{CompactTarget, Target};
use crate::source::{Outcome, OutcomeKind, Solution};
use crate::stats::Stats;
use crate::work::{BlockTime, MerkleShape, Work};

/// The version bits every backend may roll (BIP 320); the pool allows them once
/// REQUIRES_VERSION_ROLLING is set (and BIP 323 widens what pools accept, not what we roll).
const VERSION_MASK: u32 = super::protocol::VERSION_MASK;
/// How far ahead of a job's min_ntime a header's time may run.
const NTIME_AHEAD: u32 = 3600;
const MAX_PENDING: usize = 10_000;

#[derive(Clone, Debug)]
enum JobShape {
    Standard {
        merkle_root: [u8; 32],
    },
    Extended {
        rolling: bool,
        merkle_path: Vec<[u8; 32]>,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
struct Job {
    id: u32,
    version: u32,
    shape: JobShape,
}

#[derive(Clone, Debug)]
pub(super) struct Active {
    job: Job,
    prev_hash: [u8; 32],
    nbits: u32,
    min_ntime: u32,
    since: Instant,
}

/// A V2 session's channel.
pub(super) struct V2Session {
    kind: ChannelKind,
    channel: Option<u32>,
    /// The group channel ours belongs to (0: none).
    group: u32,
    target: [u8; 32],
    extranonce_prefix: Vec<u8>,
    extranonce_size: usize,
    future: HashMap<u32, Job>,
    /// The last SetNewPrevHash (jobs with a min_ntime build on it).
    prev: Option<(u32, [u8; 32], u32, u32)>,
    pub(super) active: Option<Active>,
    /// Jobs not made stale by a SetNewPrevHash since (oldest first).
    valid: VecDeque<u32>,
    next_sequence: u32,
    announced: f64,
    last_update: Instant,
    hashes_at_update: u64,
}

impl V2Session {
    pub(super) fn new(kind: ChannelKind) -> Self {
        V2Session {
            kind,
            channel: None,
            group: 0,
            target: [0xff; 32],
            extranonce_prefix: Vec::new(),
            extranonce_size: 0,
            future: HashMap::new(),
            prev: None,
            active: None,
            valid: VecDeque::new(),
            next_sequence: 0,
            announced: 0.0,
            last_update: Instant::now(),
            hashes_at_update: 0,
        }
    }

    /// The active job as work, with its share difficulty.
    pub(super) fn work(&self, pool: usize, session: u64, clean: bool) -> Option<(Work, f64)> {
        let a = self.active.as_ref()?;
        let difficulty = target_difficulty(&self.target);
        let (merkle, rolling, extranonce1) = match &a.job.shape {
            JobShape::Standard { merkle_root } => (MerkleShape::Fixed(*merkle_root), true, vec![]),
            JobShape::Extended {
                rolling,
                merkle_path,
                prefix,
                suffix,
            } => (
                MerkleShape::Coinbase {
                    coinb1: prefix.clone(),
                    extranonce1: self.extranonce_prefix.clone(),
                    extranonce2_size: self.extranonce_size,
                    coinb2: suffix.clone(),
                    branch: merkle_path.clone(),
                },
                *rolling,
                self.extranonce_prefix.clone(),
            ),
        };
        let work = Work {
            id: format!("{pool}/{}", a.job.id),
            prev_hash: bitcoin::BlockHash::from_byte_array(a.prev_hash),
            version: a.job.version as i32,
            version_mask: if rolling { VERSION_MASK } else { 0 },
            time: BlockTime {
                base: a.min_ntime,
                since: a.since,
                min: a.min_ntime,
                max: a.min_ntime.saturating_add(NTIME_AHEAD),
            },
            bits: CompactTarget::from_consensus(a.nbits),
            share_target: Target::from_le_bytes(self.target),
            merkle,
            clean,
            one_block: false,
            context: Some(Arc::new(JobContext {
                pool,
                session,
                job: a.job.id.to_string(),
                difficulty,
                extranonce1,
            })),
        };
        Some((work, difficulty))
    }

    fn valid(&mut self, job: u32, clean: bool) {
        if clean {
            self.valid.clear();
        }
        self.valid.retain(|j| *j != job);
        self.valid.push_back(job);
        while self.valid.len() > MAX_JOBS {
            self.valid.pop_front();
        }
    }
}

/// A target's pool difficulty (difficulty 1 = `0xffff * 2^208`).
fn target_difficulty(target: &[u8; 32]) -> f64 {
    let t = target
        .iter()
        .rev()
        .fold(0f64, |acc, &b| acc * 256.0 + b as f64);
    if t == 0.0 {
        return f64::INFINITY;
    }
    65535.0 * 2f64.powi(208) / t
}

/// The reader thread of a V2 connection: handshake, then decoded frames until it ends.
pub(super) fn read_loop(
    session: u64,
    url: &PoolUrl,
    key: v2::AuthorityKey,
    timeout: Duration,
    tx: &mpsc::Sender<Event>,
) {
    let (mut reader, writer) = match v2::connect(&url.host, url.port, key, timeout) {
        Ok(halves) => halves,
        Err(reason) => {
            let _ = tx.send(Event::Closed { session, reason });
            return;
        }
    };
    let writer = Wire::V2(writer);
    if tx.send(Event::Connected { session, writer }).is_err() {
        return;
    }
    loop {
        match reader.message() {
            Ok(message) => {
                if tx.send(Event::Frame { session, message }).is_err() {
                    return;
                }
            }
            Err(reason) => {
                let _ = tx.send(Event::Closed { session, reason });
                return;
            }
        }
    }
}

impl Manager {
    fn v2_writer(&mut self, id: u64) -> Option<&mut v2::V2Writer> {
        match self.sessions.get_mut(&id)?.writer.as_mut()? {
            Wire::V2(w) => Some(w),
            Wire::V1(_) => None,
        }
    }

    /// The nominal hash rate to announce: the flag, the rate measured so far, or a guess.
    fn nominal_rate(&self) -> f64 {
        if let Some(h) = self.options.hash_rate {
            return h;
        }
        let up = self.stats.uptime().as_secs_f64();
        let measured = self.stats.hashes() as f64 / up.max(1e-9);
        if up > 5.0 && measured > 0.0 {
            measured
        } else if self.stats.nominal() > 0.0 {
            // Measured for half a second before mining started.
            self.stats.nominal()
        } else {
            // A guess; UpdateChannel corrects it after a minute.
            1e8 * self.stats.backends.len().max(1) as f64
        }
    }

    pub(super) fn v2_connected(&mut self, id: u64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.phase = Phase::Subscribing;
        let (host, port) = (s.url.host.clone(), s.url.port);
        let kind =
            s.v2.as_ref()
                .map(|v| v.kind)
                .unwrap_or(ChannelKind::Standard);
        let flags = v2::REQUIRES_VERSION_ROLLING
            | match kind {
                ChannelKind::Standard => v2::REQUIRES_STANDARD_JOBS,
                ChannelKind::Extended => 0,
            };
        let sent = self
            .v2_writer(id)
            .map(|w| w.setup(&host, port, flags))
            .unwrap_or(Err("not connected".into()));
        if let Err(e) = sent {
            self.fail(id, &e);
        }
    }

    /// Handles one message of a V2 session. A message for a channel that was never opened,
    /// or one out of order, ends the session (it is reopened).
    pub(super) fn frame(&mut self, id: u64, m: V2In) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let pool = s.pool;
        let name = self.name(pool);
        let channel = s.v2.as_ref().and_then(|v| v.channel);
        let group = s.v2.as_ref().map_or(0, |v| v.group);
        let phase = s.phase;
        // Jobs and previous hashes may come for the whole group.
        let on_channel = |c: u32| {
            if channel == Some(c) || (group != 0 && c == group && channel.is_some()) {
                Ok(())
            } else {
                Err(format!(
                    "the pool sent a message for channel {c}, which was never opened (ours: {})",
                    channel.map_or("none yet".to_string(), |c| c.to_string())
                ))
            }
        };
        let result: Result<(), String> = match m {
            V2In::SetupSuccess { flags } => {
                if phase != Phase::Subscribing {
                    Err("SetupConnection.Success out of order".into())
                } else {
                    tracing::info!("{name}: connection set up (flags {flags:#x})");
                    let rate = self.nominal_rate() as f32;
                    let user = self.pools[pool].user.clone();
                    let kind =
                        s.v2.as_ref()
                            .map(|v| v.kind)
                            .unwrap_or(ChannelKind::Standard);
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.phase = Phase::Authorizing;
                        if let Some(v) = s.v2.as_mut() {
                            v.announced = rate as f64;
                        }
                    }
                    self.v2_writer(id)
                        .map(|w| w.open_channel(kind, 1, &user, rate))
                        .unwrap_or(Err("not connected".into()))
                }
            }
            V2In::SetupError { code } => Err(format!("the pool refused SetupConnection: {code}")),
            V2In::ChannelOpened {
                request_id,
                channel_id,
                target,
                extranonce_prefix,
                extranonce_size,
                group_channel_id,
            } => {
                if phase != Phase::Authorizing || request_id != 1 {
                    Err(format!(
                        "the pool opened a channel for request {request_id}, which was not asked for"
                    ))
                } else {
                    if let Some(v) = self.sessions.get_mut(&id).and_then(|s| s.v2.as_mut()) {
                        v.group = group_channel_id;
                    }
                    return self.v2_opened(
                        id,
                        channel_id,
                        target,
                        extranonce_prefix,
                        extranonce_size,
                    );
                }
            }
            V2In::ChannelError { code, .. } => {
                let user = self.pools[pool].user.clone();
                Err(format!("the pool refused the login of {user:?}: {code}"))
            }
            V2In::NewJob {
                channel_id,
                job_id,
                min_ntime,
                version,
                merkle_root,
            } => on_channel(channel_id).and_then(|()| {
                self.v2_job(
                    id,
                    Job {
                        id: job_id,
                        version,
                        shape: JobShape::Standard { merkle_root },
                    },
                    min_ntime,
                )
            }),
            V2In::NewExtendedJob {
                channel_id,
                job_id,
                min_ntime,
                version,
                version_rolling_allowed,
                merkle_path,
                coinbase_prefix,
                coinbase_suffix,
            } => on_channel(channel_id).and_then(|()| {
                self.v2_job(
                    id,
                    Job {
                        id: job_id,
                        version,
                        shape: JobShape::Extended {
                            rolling: version_rolling_allowed,
                            merkle_path,
                            prefix: coinbase_prefix,
                            suffix: coinbase_suffix,
                        },
                    },
                    min_ntime,
                )
            }),
            V2In::PrevHash {
                channel_id,
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => on_channel(channel_id)
                .and_then(|()| self.v2_prev_hash(id, job_id, prev_hash, min_ntime, nbits)),
            V2In::SetTarget { channel_id, target } => on_channel(channel_id).map(|()| {
                let s = self.sessions.get_mut(&id).expect("looked up above");
                if let Some(v) = s.v2.as_mut() {
                    v.target = target;
                    tracing::info!(
                        "{name}: target {} (difficulty {})",
                        bitcoin::hex::DisplayHex::to_lower_hex_string(
                            &target.iter().rev().copied().collect::<Vec<_>>()[..]
                        ),
                        target_difficulty(&target)
                    );
                }
                // The target applies at once: the current job is published again.
                s.dirty = s.has_work();
            }),
            V2In::SetExtranoncePrefix { channel_id, prefix } => on_channel(channel_id).map(|()| {
                let s = self.sessions.get_mut(&id).expect("looked up above");
                if let Some(v) = s.v2.as_mut() {
                    v.extranonce_prefix = prefix;
                }
                s.dirty = s.has_work();
            }),
            V2In::SharesAccepted {
                channel_id,
                last_sequence_number,
                count,
            } => on_channel(channel_id).map(|()| self.v2_accepted(id, last_sequence_number, count)),
            V2In::ShareError {
                channel_id,
                sequence_number,
                code,
            } => on_channel(channel_id).map(|()| self.v2_refused(id, sequence_number, code)),
            V2In::UpdateChannelError { code, .. } => {
                crate::elog!("{name}: UpdateChannel refused: {code}");
                Ok(())
            }
            V2In::Reconnect { host, port } => {
                let host = (!host.is_empty()).then_some(host);
                self.reconnect(id, host, (port != 0).then_some(port), 0);
                Ok(())
            }
            V2In::CloseChannel { channel_id, reason } => on_channel(channel_id)
                .and_then(|()| Err(format!("the pool closed the channel: {reason}"))),
            V2In::Other(what) => {
                crate::elog!("{name}: ignored {}", super::protocol::clip(&what, 120));
                Ok(())
            }
        };
        if let Err(e) = result {
            self.fail(id, &e);
        }
    }

    fn v2_opened(
        &mut self,
        id: u64,
        channel_id: u32,
        target: [u8; 32],
        prefix: Vec<u8>,
        extranonce_size: u16,
    ) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let pool = s.pool;
        let Some(v) = s.v2.as_mut() else {
            return;
        };
        if v.kind == ChannelKind::Extended
            && !super::protocol::EXTRANONCE2_SIZES.contains(&(extranonce_size as usize))
        {
            let e = format!(
                "the pool gave an extended channel {extranonce_size} extranonce bytes (hashrig rolls 1 to 16)"
            );
            return self.fail(id, &e);
        }
        v.channel = Some(channel_id);
        v.target = target;
        v.extranonce_prefix = prefix;
        v.extranonce_size = extranonce_size as usize;
        v.last_update = Instant::now();
        v.hashes_at_update = self.stats.hashes();
        s.phase = Phase::Ready;
        s.last_job = Instant::now();
        let kind = v.kind;
        crate::elog!(
            "{}: logged in; Stratum V2 {} channel {channel_id}, difficulty {}, version rolling mask {VERSION_MASK:08x}",
            self.name(pool),
            match kind {
                ChannelKind::Standard => "standard (header-only)",
                ChannelKind::Extended => "extended",
            },
            target_difficulty(&target)
        );
        Stats::add(&self.pool_stats(pool).connects, 1);
        let state = &mut self.state[pool];
        state.backoff = Duration::ZERO;
        state.untrusted = false;
        self.resend_orphans(id);
        self.promote_best();
    }

    fn v2_job(&mut self, id: u64, job: Job, min_ntime: Option<u32>) -> Result<(), String> {
        let s = self.sessions.get_mut(&id).ok_or("no session")?;
        let v = s.v2.as_mut().ok_or("not a V2 session")?;
        match min_ntime {
            None => {
                // A future job: mined once its SetNewPrevHash comes.
                if v.future.len() >= MAX_JOBS {
                    v.future.clear();
                }
                v.future.insert(job.id, job);
                Ok(())
            }
            Some(ntime) => {
                let Some((_, prev_hash, _, nbits)) = v.prev else {
                    return Err(format!(
                        "the pool sent job {} to mine now before any SetNewPrevHash",
                        job.id
                    ));
                };
                v.valid(job.id, false);
                v.active = Some(Active {
                    job,
                    prev_hash,
                    nbits,
                    min_ntime: ntime,
                    since: Instant::now(),
                });
                let first = !s.dirty && s.phase == Phase::Ready;
                s.dirty = true;
                s.last_job = Instant::now();
                if first {
                    self.promote_best();
                }
                Ok(())
            }
        }
    }

    fn v2_prev_hash(
        &mut self,
        id: u64,
        job_id: u32,
        prev_hash: [u8; 32],
        min_ntime: u32,
        nbits: u32,
    ) -> Result<(), String> {
        let s = self.sessions.get_mut(&id).ok_or("no session")?;
        let v = s.v2.as_mut().ok_or("not a V2 session")?;
        let job = v
            .future
            .remove(&job_id)
            .or_else(|| {
                v.active
                    .as_ref()
                    .filter(|a| a.job.id == job_id)
                    .map(|a| a.job.clone())
            })
            .ok_or_else(|| {
                format!("the pool sent SetNewPrevHash for job {job_id}, which it never sent")
            })?;
        // The other future jobs were for the old previous block.
        v.future.clear();
        v.prev = Some((job_id, prev_hash, min_ntime, nbits));
        v.valid(job_id, true);
        v.active = Some(Active {
            job,
            prev_hash,
            nbits,
            min_ntime,
            since: Instant::now(),
        });
        s.dirty = true;
        s.clean = true;
        s.last_job = Instant::now();
        self.promote_best();
        Ok(())
    }

    pub(super) fn v2_submit(&mut self, session: u64, solution: Solution, resumed: bool) {
        let Some(ctx) = super::context(&solution) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let pool = s.pool;
        let Some(v) = s.v2.as_mut() else {
            return;
        };
        let (Some(channel), Ok(job)) = (v.channel, ctx.job.parse::<u32>()) else {
            return self.stale(pool, &solution, "the channel is not open");
        };
        if !resumed && !v.valid.contains(&job) {
            return self.stale(pool, &solution, "a SetNewPrevHash replaced its job");
        }
        if v.kind == ChannelKind::Extended && ctx.extranonce1 != v.extranonce_prefix {
            return self.stale(pool, &solution, "the pool's extranonce prefix changed");
        }
        if v.next_sequence as usize >= u32::MAX as usize - 1 {
            v.next_sequence = 0;
        }
        let sequence = v.next_sequence;
        v.next_sequence += 1;
        let header = solution.share.header;
        let extranonce =
            (v.kind == ChannelKind::Extended).then(|| solution.roll.extranonce2.clone());
        let what = format!(
            "share {} (job {job}, difficulty {:.6}, pool {pool})",
            &solution.share.hash_hex()[..16],
            ctx.difficulty
        );
        if s.requests.len() >= MAX_PENDING {
            if let Some(oldest) = s.requests.keys().min().copied() {
                if let Some(Request::Submit(sub)) = s.requests.remove(&oldest) {
                    Stats::add(&self.stats.pools()[pool].unanswered, 1);
                    self.link.outcome(Outcome {
                        what: sub.what,
                        kind: OutcomeKind::Unanswered("the pool has not acknowledged it".into()),
                        block: false,
                        quiet: false,
                    });
                }
            }
        }
        let s = self.sessions.get_mut(&session).expect("looked up above");
        s.requests.insert(
            sequence as u64,
            Request::Submit(Submitted {
                what,
                difficulty: ctx.difficulty,
                sent: Instant::now(),
            }),
        );
        let sent = self
            .v2_writer(session)
            .map(|w| {
                w.submit(
                    channel,
                    sequence,
                    job,
                    header.nonce(),
                    header.time(),
                    header.version() as u32,
                    extranonce.as_deref(),
                )
            })
            .unwrap_or(Err("not connected".into()));
        match sent {
            Ok(()) => {
                if !resumed {
                    self.stats.pools()[pool].record_submit(solution.found_at.elapsed());
                }
            }
            Err(e) => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.requests.remove(&(sequence as u64));
                }
                self.state[pool].orphans.push(solution);
                self.fail(session, &e);
            }
        }
    }

    /// SubmitShares.Success: every share up to `last` not refused is accepted.
    fn v2_accepted(&mut self, id: u64, last: u32, count: u32) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let pool = s.pool;
        let mut done: Vec<u64> = s
            .requests
            .iter()
            .filter(|(seq, r)| **seq <= last as u64 && matches!(r, Request::Submit(_)))
            .map(|(seq, _)| *seq)
            .collect();
        done.sort_unstable();
        if done.len() as u64 != count as u64 {
            tracing::info!(
                "pool {pool}: the pool acknowledged {count} shares up to {last}; {} were waiting",
                done.len()
            );
        }
        for seq in done {
            if let Some(Request::Submit(sub)) = s.requests.remove(&seq) {
                self.stats.pools()[pool].accept(sub.difficulty);
                self.link.outcome(Outcome {
                    what: sub.what,
                    kind: OutcomeKind::Accepted,
                    block: false,
                    quiet: false,
                });
            }
        }
    }

    fn v2_refused(&mut self, id: u64, sequence: u32, code: String) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let pool = s.pool;
        match s.requests.remove(&(sequence as u64)) {
            Some(Request::Submit(sub)) => {
                self.stats.pools()[pool].reject(&code);
                self.link.outcome(Outcome {
                    what: sub.what,
                    kind: OutcomeKind::Rejected(code),
                    block: false,
                    quiet: false,
                });
            }
            _ => crate::elog!(
                "{}: ignored SubmitShares.Error for sequence number {sequence}, which is not waiting: {code}",
                self.name(pool)
            ),
        }
    }

    /// Announces the measured hash rate when it is far from the one announced.
    pub(super) fn v2_housekeeping(&mut self) {
        let hashes = self.stats.hashes();
        let ids: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| s.phase == Phase::Ready && Some(s.id) == self.active)
            .filter(|s| {
                s.v2.as_ref()
                    .is_some_and(|v| v.last_update.elapsed() >= self.options.update_every)
            })
            .map(|s| s.id)
            .collect();
        for id in ids {
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            let pool = s.pool;
            let Some(v) = s.v2.as_mut() else {
                continue;
            };
            let rate = hashes.saturating_sub(v.hashes_at_update) as f64
                / v.last_update.elapsed().as_secs_f64();
            v.last_update = Instant::now();
            v.hashes_at_update = hashes;
            let off = rate / v.announced.max(1.0);
            if (0.5..=2.0).contains(&off) || rate <= 0.0 {
                continue;
            }
            v.announced = rate;
            let channel = v.channel;
            crate::elog!(
                "{}: announcing {} (UpdateChannel; measured over the last {:.0} s)",
                self.name(pool),
                crate::stats::format_hashrate(rate),
                self.options.update_every.as_secs_f64()
            );
            let sent = match (channel, self.v2_writer(id)) {
                (Some(c), Some(w)) => w.update_channel(c, rate as f32),
                _ => Ok(()),
            };
            if let Err(e) = sent {
                self.fail(id, &e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_of_targets() {
        let one = Target::MAX.to_le_bytes();
        assert!((target_difficulty(&one) - 1.0).abs() < 1e-12);
        let mut half = [0u8; 32];
        half[25..28].copy_from_slice(&[0x80, 0xff, 0x7f]);
        assert!((target_difficulty(&half) - 2.0).abs() < 1e-9);
        assert_eq!(target_difficulty(&[0; 32]), f64::INFINITY);
    }
}
