//! The pool manager's Stratum v1 side: the handshake (configure, subscribe, authorize), the
//! pool's messages, jobs as work, and `mining.submit`. The wire is `protocol.rs` and
//! `transport.rs`; sessions and failover are in `mod.rs`.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use serde_json::Value;

use super::protocol::{self, request, Incoming, Job, ProtocolError};
use super::transport::{self, ReadError};
use super::{
    Current, Event, JobContext, Manager, Phase, PoolUrl, Request, Session, Submitted, Wire, AGENT,
    MAX_JOBS,
};
use crate::chain::CompactTarget;
use crate::source::{Outcome, OutcomeKind, Solution};
use crate::stats::Stats;
use crate::work::{BlockTime, MerkleShape, Work};

impl Manager {
    /// A v1 connection is up: mining.configure (unless the pool dropped it before) and
    /// mining.subscribe, offering the last session id back.
    pub(super) fn v1_connected(&mut self, id: u64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.phase = Phase::Subscribing;
        let state = &self.state[s.pool];
        let result = (|| {
            if !state.skip_configure {
                s.configure_sent = true;
                s.request(request::configure, Request::Configure)?;
            }
            s.resume_offered = state.resume.clone();
            let resume = s.resume_offered.clone();
            s.request(
                |id| request::subscribe(id, AGENT, resume.as_deref()),
                Request::Subscribe,
            )
        })();
        if let Err(e) = result {
            self.fail(id, &e);
        }
    }

    pub(super) fn bad_line(&mut self, id: u64, error: ProtocolError) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.bad_lines += 1;
        let (n, pool) = (s.bad_lines, s.pool);
        if n <= 10 || n.is_power_of_two() {
            crate::elog!(
                "{}: ignored a bad message ({n} so far): {error}",
                self.name(pool)
            );
        }
    }

    pub(super) fn message(&mut self, id: u64, message: Incoming) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let pool = s.pool;
        let name = format!("pool {pool} {}", self.pools[pool].url);
        match message {
            Incoming::Response {
                id: rid,
                result,
                error,
            } => match s.requests.remove(&rid) {
                Some(r) => self.response(id, r, result, error),
                None => {
                    crate::elog!("{name}: ignored an answer to request {rid}, which is not waiting")
                }
            },
            Incoming::Notify(job) => {
                if s.subscribed.is_none() {
                    if s.early.len() < MAX_JOBS {
                        s.early.push(job);
                    }
                } else {
                    let first = s.current.is_none() && s.phase == Phase::Ready;
                    take_job(s, job);
                    if first {
                        self.promote_best();
                    }
                }
            }
            Incoming::SetDifficulty(d) => {
                tracing::info!("{name}: difficulty {d} (from the next job)");
                s.difficulty = d;
            }
            Incoming::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                tracing::info!(
                    "{name}: new extranonce1 {} ({extranonce2_size}-byte extranonce2) from the next job",
                    bitcoin::hex::DisplayHex::to_lower_hex_string(&extranonce1[..])
                );
                s.next_extranonce = Some((extranonce1, extranonce2_size));
            }
            Incoming::SetVersionMask(mask) => {
                if s.rolling_mask.is_some() {
                    let mask = mask & protocol::VERSION_MASK;
                    tracing::info!("{name}: version rolling mask {mask:08x}");
                    s.rolling_mask = Some(mask);
                    s.dirty = s.current.is_some();
                } else {
                    crate::elog!("{name}: ignored mining.set_version_mask (version rolling was not negotiated)");
                }
            }
            Incoming::Reconnect { host, port, wait } => self.reconnect(id, host, port, wait),
            Incoming::ShowMessage(text) => crate::elog!("{name} says: {text}"),
            Incoming::GetVersion(rid) => {
                if let Err(e) = s.send(&request::answer(&rid, Value::from(AGENT))) {
                    self.fail(id, &e);
                }
            }
            Incoming::Ping(rid) => {
                if let Err(e) = s.send(&request::answer(&rid, Value::from("pong"))) {
                    self.fail(id, &e);
                }
            }
            Incoming::Unknown { method, id: rid } => {
                crate::elog!("{name}: ignored unknown method {method:?}");
                if !rid.is_null() {
                    if let Err(e) = s.send(&request::refuse(&rid, "method not supported")) {
                        self.fail(id, &e);
                    }
                }
            }
        }
    }

    fn response(&mut self, id: u64, request: Request, result: Value, error: Option<String>) {
        let Some(pool) = self.sessions.get(&id).map(|s| s.pool) else {
            return;
        };
        let name = self.name(pool);
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        match request {
            Request::Configure => match (error, protocol::parse_configured(&result)) {
                (Some(e), _) => tracing::info!("{name}: no mining.configure ({e})"),
                (None, Ok(mask)) => s.rolling_mask = mask,
                (None, Err(e)) => crate::elog!("{name}: {e}; mining without version rolling"),
            },
            Request::Subscribe => {
                let subscribed = match error {
                    Some(e) => Err(format!("the pool refused mining.subscribe: {e}")),
                    None => protocol::parse_subscribed(&result).map_err(|e| e.0),
                };
                let subscribed = match subscribed {
                    Ok(sub) => sub,
                    Err(e) => {
                        // Perhaps the offered session id: start afresh next time.
                        self.state[pool].resume = None;
                        self.fail(id, &e);
                        return;
                    }
                };
                let resumed = s.resume_offered.is_some() && s.resume_offered == subscribed.session;
                self.state[pool].resume = subscribed.session.clone();
                s.subscribed = Some(subscribed);
                s.phase = Phase::Authorizing;
                if resumed {
                    tracing::info!("{name}: session resumed");
                }
                for job in std::mem::take(&mut s.early) {
                    take_job(s, job);
                }
                let config = &self.pools[pool];
                let sent = (|| {
                    if let Some(d) = self.options.suggest_difficulty {
                        s.request(|id| request::suggest_difficulty(id, d), Request::Suggest)?;
                    }
                    s.request(
                        |id| request::authorize(id, &config.user, &config.password),
                        Request::Authorize,
                    )
                })();
                if let Err(e) = sent {
                    self.fail(id, &e);
                }
            }
            Request::Authorize => {
                if error.is_some() || result != Value::Bool(true) {
                    let why = error.unwrap_or_else(|| format!("answered {result}"));
                    let user = self.pools[pool].user.clone();
                    self.fail(
                        id,
                        &format!("the pool refused the login of {user:?}: {why}"),
                    );
                    return;
                }
                s.phase = Phase::Ready;
                s.last_job = Instant::now();
                let sub = s.subscribed.as_ref().expect("subscribed before authorized");
                crate::elog!(
                    "{name}: logged in; extranonce1 {}, {}-byte extranonce2, {}",
                    bitcoin::hex::DisplayHex::to_lower_hex_string(&sub.extranonce1[..]),
                    sub.extranonce2_size,
                    match s.rolling_mask {
                        Some(m) => format!("version rolling mask {m:08x}"),
                        None => "no version rolling".into(),
                    }
                );
                Stats::add(&self.pool_stats(pool).connects, 1);
                let state = &mut self.state[pool];
                state.backoff = Duration::ZERO;
                state.untrusted = false;
                self.resend_orphans(id);
                self.promote_best();
            }
            Request::Suggest => {
                if let Some(e) = error {
                    tracing::info!("{name}: mining.suggest_difficulty refused: {e}");
                }
            }
            Request::Submit(sub) => {
                let p = self.pool_stats(pool);
                let kind = if error.is_none() && result == Value::Bool(true) {
                    p.accept(sub.difficulty);
                    OutcomeKind::Accepted
                } else {
                    let reason = error.unwrap_or_else(|| {
                        format!("answered {}", protocol::clip(&result.to_string(), 80))
                    });
                    p.reject(&reason);
                    OutcomeKind::Rejected(reason)
                };
                tracing::debug!(
                    "{name}: answer after {:.2} ms",
                    sub.sent.elapsed().as_secs_f64() * 1000.0
                );
                self.link.outcome(Outcome {
                    what: sub.what,
                    kind,
                    block: false,
                    quiet: false,
                });
            }
        }
    }

    /// `mining.submit` of `solution` on v1 session `session`.
    pub(super) fn v1_submit(&mut self, session: u64, solution: Solution, resumed: bool) {
        let Some(ctx) = super::context(&solution) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        if s.subscribed
            .as_ref()
            .is_some_and(|sub| sub.extranonce1 != ctx.extranonce1)
        {
            let pool = s.pool;
            return self.stale(pool, &solution, "the pool's session (extranonce1) changed");
        }
        if !resumed && !s.jobs.contains(&ctx.job) {
            let pool = s.pool;
            return self.stale(pool, &solution, "the pool replaced its job (clean_jobs)");
        }
        let header = &solution.share.header;
        let version_bits = s.rolling_mask.map(|m| header.version() as u32 & m);
        let user = self.pools[s.pool].user.clone();
        let what = format!(
            "share {} (job {}, difficulty {}, pool {})",
            &solution.share.hash_hex()[..16],
            ctx.job,
            ctx.difficulty,
            s.pool
        );
        let extranonce2 = solution.roll.extranonce2.clone();
        let sent = s.request(
            |id| {
                request::submit(
                    id,
                    &user,
                    &ctx.job,
                    &extranonce2,
                    header.time(),
                    header.nonce(),
                    version_bits,
                )
            },
            Request::Submit(Submitted {
                what,
                difficulty: ctx.difficulty,
                sent: Instant::now(),
            }),
        );
        match sent {
            Ok(()) => {
                if !resumed {
                    self.stats.pools()[s.pool].record_submit(solution.found_at.elapsed());
                }
            }
            Err(e) => {
                let pool = s.pool;
                self.state[pool].orphans.push(solution);
                self.fail(session, &e);
            }
        }
    }
}

/// Takes a job: the settings that apply from the next job on apply to it.
pub(super) fn take_job(s: &mut Session, job: Job) {
    let Some(sub) = s.subscribed.as_mut() else {
        return;
    };
    if let Some((extranonce1, size)) = s.next_extranonce.take() {
        sub.extranonce1 = extranonce1;
        sub.extranonce2_size = size;
        // Shares of older jobs carry the old extranonce1: none of them is valid now.
        s.jobs.clear();
    }
    if job.clean {
        s.jobs.clear();
        s.clean = true;
    }
    s.jobs.retain(|j| *j != job.id);
    s.jobs.push_back(job.id.clone());
    while s.jobs.len() > MAX_JOBS {
        s.jobs.pop_front();
    }
    s.current = Some(Current {
        difficulty: s.difficulty,
        extranonce1: sub.extranonce1.clone(),
        extranonce2_size: sub.extranonce2_size,
        job,
    });
    s.dirty = true;
    s.last_job = Instant::now();
}

pub(super) fn make_work(s: &Session, c: &Current, clean: bool) -> (Work, f64) {
    let job = &c.job;
    let work = Work {
        id: format!("{}/{}", s.pool, job.id),
        prev_hash: bitcoin::BlockHash::from_byte_array(job.prev_hash),
        version: job.version,
        version_mask: s.rolling_mask.unwrap_or(0),
        time: BlockTime::fixed(job.time),
        bits: CompactTarget::from_consensus(job.bits),
        share_target: crate::chain::difficulty_target(c.difficulty)
            .expect("difficulties are checked when they arrive"),
        merkle: MerkleShape::Coinbase {
            coinb1: job.coinb1.clone(),
            extranonce1: c.extranonce1.clone(),
            extranonce2_size: c.extranonce2_size,
            coinb2: job.coinb2.clone(),
            branch: job.branch.clone(),
        },
        clean,
        one_block: false,
        context: Some(Arc::new(JobContext {
            pool: s.pool,
            session: s.id,
            job: job.id.clone(),
            difficulty: c.difficulty,
            extranonce1: c.extranonce1.clone(),
        })),
    };
    (work, c.difficulty)
}

/// A connection's reader thread: connects, hands the writing half over, then parses lines
/// until the connection ends.
pub(super) fn read_loop(
    session: u64,
    url: &PoolUrl,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
    tx: &mpsc::Sender<Event>,
) {
    if let Some(key) = url.v2 {
        return super::channel::read_loop(session, url, key, timeout, tx);
    }
    let (mut reader, writer) = match transport::connect(url, tls, timeout) {
        Ok(halves) => halves,
        Err(reason) => {
            let _ = tx.send(Event::Closed { session, reason });
            return;
        }
    };
    let writer = Wire::V1(writer);
    if tx.send(Event::Connected { session, writer }).is_err() {
        return;
    }
    loop {
        let message = match reader.line() {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(line) => protocol::parse(&line)
                    .map_err(|e| ProtocolError(format!("{e}: {}", protocol::clip(&line, 120)))),
                Err(_) => Err(ProtocolError("a line that is not UTF-8".into())),
            },
            Err(e) => {
                let reason = match e {
                    ReadError::TooLong => format!("{e}; dropping the connection"),
                    e => e.to_string(),
                };
                let _ = tx.send(Event::Closed { session, reason });
                return;
            }
        };
        if tx.send(Event::Line { session, message }).is_err() {
            return;
        }
    }
}
