//! One Stratum v1 session as a sans-IO state machine: lines in, [`Action`]s out.
//!
//! Handshake: `mining.configure` (BIP 310 version rolling, subscribe-extranonce; left out for
//! a pool that dropped it before) and `mining.subscribe` (offering the last session id back),
//! then `mining.suggest_difficulty` when asked for, then `mining.authorize`. Jobs from
//! `mining.notify` become [`Work`]; `mining.set_difficulty` and `mining.set_extranonce` apply
//! to the next job, `mining.set_version_mask` at once. Submits carry the version bits once
//! rolling is negotiated and are matched to their answers by id.
//!
//! Everything a pool can make it hold is capped: jobs it remembers, jobs before the
//! subscription, submits waiting for an answer; every line it logs is clipped, escaped and
//! rate-limited.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use serde_json::Value;

use super::protocol::{self, clip, request, Incoming, Job, ProtocolError, Subscribed};
use crate::algo::Algo;
use crate::chain::CompactTarget;
use crate::secret::Secret;
use crate::source::stratum::error::StratumError;
use crate::source::stratum::session::{Action, Outgoing, Phase, ShareResult, Throttle, WARN_EVERY};
use crate::source::stratum::{JobContext, AGENT};
use crate::source::Solution;
use crate::work::{BlockTime, MerkleShape, Work};

/// Job ids of the pool's that are still valid (a share of another is stale).
pub const MAX_JOBS: usize = 64;
/// Jobs that came before the subscription's answer.
const MAX_EARLY: usize = 8;
/// Submits waiting for an answer; beyond it the oldest is given up (unanswered).
pub const MAX_PENDING: usize = 1024;

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The session's number (in its work's context, to route solutions back).
    pub session: u64,
    /// The pool's place in the failover list.
    pub pool: usize,
    pub user: String,
    pub password: Secret,
    pub suggest_difficulty: Option<f64>,
    /// Send `mining.configure` (false for a pool that closed the connection on it).
    pub configure: bool,
    /// The session id to offer back (`mining.subscribe`'s second parameter).
    pub resume: Option<String>,
    /// Each handshake answer and each submit answer must come within this.
    pub answer_timeout: Duration,
    /// A pool that sends no new job for this long is left.
    pub idle_timeout: Duration,
    /// The pool's proof of work: its difficulties are on this algorithm's scale.
    pub algo: Algo,
}

enum Request {
    Configure,
    Subscribe,
    Authorize,
    Suggest,
    Submit(Submitted),
}

struct Submitted {
    what: String,
    difficulty: f64,
    sent: Instant,
}

/// The latest job, with the session settings it is mined under.
#[derive(Clone)]
struct Current {
    job: Job,
    difficulty: f64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
}

/// One Stratum v1 session.
pub struct Session {
    cfg: Config,
    phase: Phase,
    started: Instant,
    next_id: u64,
    requests: BTreeMap<u64, Request>,
    configure_sent: bool,
    rolling_mask: Option<u32>,
    subscribed: Option<Subscribed>,
    /// For the next job.
    difficulty: f64,
    next_extranonce: Option<(Vec<u8>, usize)>,
    /// Jobs the pool has not replaced (oldest first).
    jobs: VecDeque<String>,
    /// Jobs that came before the subscribe answer.
    early: Vec<Job>,
    current: Option<Current>,
    /// A clean job (or new extranonce) came since the last publish.
    clean: bool,
    last_job: Instant,
    bad_lines: u64,
    warn_bad: Throttle,
    warn_message: Throttle,
    warn_unknown: Throttle,
    warn_answer: Throttle,
    out: Vec<Action>,
}

impl Session {
    pub fn new(cfg: Config, now: Instant) -> Self {
        Session {
            cfg,
            phase: Phase::Connecting,
            started: now,
            next_id: 1,
            requests: BTreeMap::new(),
            configure_sent: false,
            rolling_mask: None,
            subscribed: None,
            difficulty: 1.0,
            next_extranonce: None,
            jobs: VecDeque::new(),
            early: Vec::new(),
            current: None,
            clean: false,
            last_job: now,
            bad_lines: 0,
            warn_bad: Throttle::default(),
            warn_message: Throttle::default(),
            warn_unknown: Throttle::default(),
            warn_answer: Throttle::default(),
            out: Vec::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn has_work(&self) -> bool {
        self.current.is_some()
    }

    pub fn pending(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r, Request::Submit(_)))
            .count()
    }

    /// What the session holds: (job ids, jobs before the subscription, submits waiting).
    /// Each is capped ([`MAX_JOBS`], 8, [`MAX_PENDING`]); the fuzzers check it.
    #[doc(hidden)]
    pub fn held(&self) -> (usize, usize, usize) {
        (self.jobs.len(), self.early.len(), self.requests.len())
    }

    /// The version-rolling mask the pool granted, if any.
    pub fn rolling_mask(&self) -> Option<u32> {
        self.rolling_mask
    }

    pub fn configure_unanswered(&self) -> bool {
        self.configure_sent
            && self.phase == Phase::Subscribing
            && self
                .requests
                .values()
                .any(|r| matches!(r, Request::Subscribe))
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn push(&mut self, action: Action) {
        self.out.push(action);
    }

    fn warn(&mut self, text: String) {
        self.out.push(Action::Log { warn: true, text });
    }

    fn info(&mut self, text: String) {
        self.out.push(Action::Log { warn: false, text });
    }

    fn close_with(&mut self, error: StratumError) {
        self.out.push(Action::Close(error));
    }

    fn send(&mut self, line: String) {
        self.out.push(Action::Send(Outgoing::Line(line)));
    }

    fn request(&mut self, make: impl FnOnce(u64) -> String, kind: Request) {
        let id = self.next_id;
        self.next_id += 1;
        self.send(make(id));
        self.requests.insert(id, kind);
    }

    /// The connection is up: configure (unless left out) and subscribe.
    pub fn connected(&mut self, now: Instant) {
        self.phase = Phase::Subscribing;
        self.started = now;
        if self.cfg.configure {
            self.configure_sent = true;
            self.request(request::configure, Request::Configure);
        }
        let resume = self.cfg.resume.clone();
        self.request(
            |id| request::subscribe(id, AGENT, resume.as_deref()),
            Request::Subscribe,
        );
    }

    /// A line from the pool (or what was wrong with it).
    pub fn line(&mut self, line: Result<Incoming, ProtocolError>, now: Instant) {
        match line {
            Ok(message) => self.message(message, now),
            Err(e) => {
                self.bad_lines += 1;
                if let Some(held) = self.warn_bad.allow(now, WARN_EVERY) {
                    let n = self.bad_lines;
                    self.warn(format!(
                        "ignored a bad message ({n} so far{}): {e}",
                        held_back(held)
                    ));
                }
            }
        }
    }

    fn message(&mut self, message: Incoming, now: Instant) {
        match message {
            Incoming::Response { id, result, error } => match self.requests.remove(&id) {
                Some(r) => self.response(r, result, error, now),
                None => {
                    if let Some(held) = self.warn_answer.allow(now, WARN_EVERY) {
                        self.warn(format!(
                            "ignored an answer to request {id}, which is not waiting{}",
                            held_back(held)
                        ));
                    }
                }
            },
            Incoming::Notify(job) => {
                if self.subscribed.is_none() {
                    if self.early.len() < MAX_EARLY {
                        self.early.push(job);
                    }
                } else {
                    self.take_job(job, now);
                }
            }
            Incoming::SetDifficulty(d) => {
                self.info(format!("difficulty {d} (from the next job)"));
                self.difficulty = d;
            }
            Incoming::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                self.info(format!(
                    "new extranonce1 {} ({extranonce2_size}-byte extranonce2) from the next job",
                    bitcoin::hex::DisplayHex::to_lower_hex_string(&extranonce1[..])
                ));
                self.next_extranonce = Some((extranonce1, extranonce2_size));
            }
            Incoming::SetVersionMask(mask) => {
                if self.rolling_mask.is_some() {
                    let mask = mask & protocol::VERSION_MASK;
                    self.info(format!("version rolling mask {mask:08x}"));
                    self.rolling_mask = Some(mask);
                    if self.current.is_some() {
                        self.out.push(Action::Work);
                    }
                } else {
                    self.warn(
                        "ignored mining.set_version_mask (version rolling was not negotiated)"
                            .into(),
                    );
                }
            }
            Incoming::Reconnect { host, port, wait } => {
                let to = (host.is_some() || port.is_some()).then_some((host, port));
                self.out.push(Action::Reconnect {
                    to,
                    after: Duration::from_secs(wait),
                });
            }
            Incoming::ShowMessage(text) => {
                if let Some(held) = self.warn_message.allow(now, WARN_EVERY) {
                    self.warn(format!("says: {}{}", clip(&text, 200), held_back(held)));
                }
            }
            Incoming::GetVersion(rid) => self.send(request::answer(&rid, Value::from(AGENT))),
            Incoming::Ping(rid) => self.send(request::answer(&rid, Value::from("pong"))),
            Incoming::Unknown { method, id } => {
                if let Some(held) = self.warn_unknown.allow(now, WARN_EVERY) {
                    self.warn(format!(
                        "ignored unknown method {:?}{}",
                        clip(&method, 80),
                        held_back(held)
                    ));
                }
                if !id.is_null() {
                    self.send(request::refuse(&id, "method not supported"));
                }
            }
        }
    }

    fn response(&mut self, request: Request, result: Value, error: Option<String>, now: Instant) {
        match request {
            Request::Configure => match (error, protocol::parse_configured(&result)) {
                (Some(e), _) => self.info(format!("no mining.configure ({e})")),
                (None, Ok(mask)) => self.rolling_mask = mask,
                (None, Err(e)) => self.warn(format!("{e}; mining without version rolling")),
            },
            Request::Subscribe => {
                let subscribed = match error {
                    Some(e) => Err(ProtocolError(format!(
                        "the pool refused mining.subscribe: {e}"
                    ))),
                    None => protocol::parse_subscribed(&result),
                };
                let subscribed = match subscribed {
                    Ok(sub) => sub,
                    Err(e) => {
                        // Perhaps the offered session id: start afresh next time.
                        self.out.push(Action::Subscribed { resume: None });
                        return self.close_with(e.into());
                    }
                };
                let resumed = self.cfg.resume.is_some() && self.cfg.resume == subscribed.session;
                self.out.push(Action::Subscribed {
                    resume: subscribed.session.clone(),
                });
                self.subscribed = Some(subscribed);
                self.phase = Phase::Authorizing;
                if resumed {
                    self.info("session resumed".into());
                }
                for job in std::mem::take(&mut self.early) {
                    self.take_job(job, now);
                }
                if let Some(d) = self.cfg.suggest_difficulty {
                    self.request(|id| request::suggest_difficulty(id, d), Request::Suggest);
                }
                let (user, password) = (self.cfg.user.clone(), self.cfg.password.clone());
                self.request(
                    |id| request::authorize(id, &user, password.expose()),
                    Request::Authorize,
                );
            }
            Request::Authorize => {
                if error.is_some() || result != Value::Bool(true) {
                    let reason = error
                        .unwrap_or_else(|| format!("answered {}", clip(&result.to_string(), 80)));
                    return self.close_with(StratumError::LoginRefused {
                        user: clip(&self.cfg.user, 80),
                        reason,
                    });
                }
                self.phase = Phase::Ready;
                self.last_job = now;
                let sub = self
                    .subscribed
                    .as_ref()
                    .expect("subscribed before authorized");
                let text = format!(
                    "logged in; extranonce1 {}, {}-byte extranonce2, {}",
                    bitcoin::hex::DisplayHex::to_lower_hex_string(&sub.extranonce1[..]),
                    sub.extranonce2_size,
                    match self.rolling_mask {
                        Some(m) => format!("version rolling mask {m:08x}"),
                        None => "no version rolling".into(),
                    }
                );
                self.warn(text);
                self.out.push(Action::Ready);
                if self.current.is_some() {
                    self.out.push(Action::Work);
                }
            }
            Request::Suggest => {
                if let Some(e) = error {
                    self.info(format!("mining.suggest_difficulty refused: {e}"));
                }
            }
            Request::Submit(sub) => {
                let result =
                    if error.is_none() && result == Value::Bool(true) {
                        ShareResult::Accepted
                    } else {
                        ShareResult::Rejected(error.unwrap_or_else(|| {
                            format!("answered {}", clip(&result.to_string(), 80))
                        }))
                    };
                self.out.push(Action::Share {
                    what: sub.what,
                    difficulty: sub.difficulty,
                    result,
                });
            }
        }
    }

    /// Takes a job: the settings that apply from the next job on apply to it.
    fn take_job(&mut self, job: Job, now: Instant) {
        let Some(sub) = self.subscribed.as_mut() else {
            return;
        };
        if let Some((extranonce1, size)) = self.next_extranonce.take() {
            sub.extranonce1 = extranonce1;
            sub.extranonce2_size = size;
            // Shares of older jobs carry the old extranonce1: none of them is valid now.
            self.jobs.clear();
            self.clean = true;
        }
        if job.clean {
            self.jobs.clear();
            self.clean = true;
        }
        self.jobs.retain(|j| *j != job.id);
        self.jobs.push_back(job.id.clone());
        while self.jobs.len() > MAX_JOBS {
            self.jobs.pop_front();
        }
        self.current = Some(Current {
            difficulty: self.difficulty,
            extranonce1: sub.extranonce1.clone(),
            extranonce2_size: sub.extranonce2_size,
            job,
        });
        self.last_job = now;
        if self.phase == Phase::Ready {
            self.out.push(Action::Work);
        }
    }

    pub fn take_clean(&mut self) -> bool {
        std::mem::take(&mut self.clean)
    }

    /// The current job as work.
    pub fn work(&self, clean: bool) -> Option<(Work, f64)> {
        let c = self.current.as_ref()?;
        let job = &c.job;
        let share_target = self.cfg.algo.share_target(c.difficulty)?;
        let work = Work {
            id: format!("{}/{}", self.cfg.pool, job.id),
            prev_hash: bitcoin::BlockHash::from_byte_array(job.prev_hash),
            version: job.version,
            version_mask: self.rolling_mask.unwrap_or(0),
            time: BlockTime::fixed(job.time),
            bits: CompactTarget::from_consensus(job.bits),
            share_target,
            merkle: MerkleShape::Coinbase {
                coinb1: job.coinb1.clone(),
                extranonce1: c.extranonce1.clone(),
                extranonce2_size: c.extranonce2_size,
                coinb2: job.coinb2.clone(),
                branch: job.branch.clone(),
            },
            clean,
            one_block: false,
            algo: self.cfg.algo,
            pool: Some(self.cfg.pool),
            context: Some(Arc::new(JobContext {
                pool: self.cfg.pool,
                session: self.cfg.session,
                job: job.id.clone(),
                difficulty: c.difficulty,
                extranonce1: c.extranonce1.clone(),
            })),
        };
        Some((work, c.difficulty))
    }

    fn stale(&mut self, solution: &Solution, ctx: &JobContext, reason: &str) {
        self.out.push(Action::Share {
            what: share_name(solution, &ctx.job, ctx.difficulty, self.cfg.pool),
            difficulty: ctx.difficulty,
            result: ShareResult::Stale(format!("not sent: {reason}")),
        });
    }

    /// `mining.submit` of `solution`; `resumed` for a share of the session this one resumed
    /// (its job may still be valid at the pool).
    pub fn submit(&mut self, solution: &Solution, resumed: bool, now: Instant) {
        let Some(ctx) = super::super::context(solution) else {
            return;
        };
        if self.phase != Phase::Ready {
            return self.stale(solution, ctx, "the session is not logged in");
        }
        if self
            .subscribed
            .as_ref()
            .is_some_and(|sub| sub.extranonce1 != ctx.extranonce1)
        {
            return self.stale(solution, ctx, "the pool's session (extranonce1) changed");
        }
        if !resumed && !self.jobs.contains(&ctx.job) {
            return self.stale(solution, ctx, "the pool replaced its job (clean_jobs)");
        }
        if self.pending() >= MAX_PENDING {
            self.give_up_oldest("too many submits wait for an answer");
        }
        let header = &solution.share.header;
        let version_bits = self.rolling_mask.map(|m| header.version() as u32 & m);
        let user = self.cfg.user.clone();
        let what = share_name(solution, &ctx.job, ctx.difficulty, self.cfg.pool);
        let extranonce2 = solution.roll.extranonce2.clone();
        let job = ctx.job.clone();
        self.request(
            |id| {
                request::submit(
                    id,
                    &user,
                    &job,
                    &extranonce2,
                    header.time(),
                    header.nonce(),
                    version_bits,
                )
            },
            Request::Submit(Submitted {
                what,
                difficulty: ctx.difficulty,
                sent: now,
            }),
        );
    }

    fn give_up_oldest(&mut self, why: &str) {
        let oldest = self
            .requests
            .iter()
            .find(|(_, r)| matches!(r, Request::Submit(_)))
            .map(|(id, _)| *id);
        if let Some(Request::Submit(sub)) = oldest.and_then(|id| self.requests.remove(&id)) {
            self.out.push(Action::Share {
                what: sub.what,
                difficulty: sub.difficulty,
                result: ShareResult::Unanswered(why.to_string()),
            });
        }
    }

    /// Timeouts: the handshake, an idle pool, submits without an answer.
    pub fn tick(&mut self, now: Instant) {
        let answer = self.cfg.answer_timeout;
        if self.phase < Phase::Ready && now.saturating_duration_since(self.started) > answer {
            let what = match self.phase {
                Phase::Connecting => "connect",
                Phase::Subscribing => "answer mining.subscribe",
                _ => "answer mining.authorize",
            };
            return self.close_with(StratumError::Timeout {
                what,
                seconds: answer.as_secs_f64(),
            });
        }
        if self.phase == Phase::Ready
            && now.saturating_duration_since(self.last_job) > self.cfg.idle_timeout
        {
            return self.close_with(StratumError::Idle(self.cfg.idle_timeout.as_secs_f64()));
        }
        let overdue: Vec<u64> = self
            .requests
            .iter()
            .filter_map(|(id, r)| match r {
                Request::Submit(s) if now.saturating_duration_since(s.sent) > answer => Some(*id),
                _ => None,
            })
            .collect();
        for id in overdue {
            if let Some(Request::Submit(sub)) = self.requests.remove(&id) {
                self.out.push(Action::Share {
                    what: sub.what,
                    difficulty: sub.difficulty,
                    result: ShareResult::Unanswered(format!(
                        "the pool did not answer within {} s (not resent)",
                        answer.as_secs_f64()
                    )),
                });
            }
        }
    }

    /// Ends the session: shares waiting for an answer are reported unanswered.
    pub fn close(&mut self, why: &str) {
        for (_, r) in std::mem::take(&mut self.requests) {
            if let Request::Submit(sub) = r {
                self.out.push(Action::Share {
                    what: sub.what,
                    difficulty: sub.difficulty,
                    result: ShareResult::Unanswered(why.to_string()),
                });
            }
        }
    }
}

/// "share 00000000a1b2c3d4 (job 1f, difficulty 0.5, pool 0)".
pub(crate) fn share_name(solution: &Solution, job: &str, difficulty: f64, pool: usize) -> String {
    format!(
        "share {} (job {}, difficulty {difficulty}, pool {pool})",
        &solution.share.hash_hex()[..16],
        clip(job, 64)
    )
}

/// ", 3 more held back" when lines of the kind were held back.
pub(crate) fn held_back(held: u64) -> String {
    if held == 0 {
        String::new()
    } else {
        format!("; {held} more held back")
    }
}

#[cfg(test)]
mod tests;
