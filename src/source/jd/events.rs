//! The coordinator's events: what the pool channel and the JD session ask for, carried out.

use super::*;

impl Coordinator {
    // ---- events ------------------------------------------------------------------------

    /// Handles `event`; a panic while doing so (a bug hostile input found) ends the pool and
    /// JDS sessions (mining falls back to solo and reconnects), never the miner.
    pub(super) fn guarded(&mut self, event: Event, submit: &SyncSender<ToSubmit>) {
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(event, submit)));
        if handled.is_err() {
            crate::elog!("error: an internal error while handling the pool's or the JDS's input (a bug: please report it); both sessions are dropped");
            let now = Instant::now();
            self.pool_down("internal error".into(), now);
            self.jd_down("internal error".into(), now);
        }
    }

    pub(super) fn handle(&mut self, event: Event, submit: &SyncSender<ToSubmit>) {
        let now = Instant::now();
        match event {
            Event::Connected { session, conn } => {
                if let Some(p) = self.pool.as_mut().filter(|p| p.id == session) {
                    p.conn = Some(conn);
                    p.channel.connected(now);
                    self.apply_pool(now);
                } else if let Some(j) = self.jd.as_mut().filter(|j| j.id == session) {
                    j.conn = Some(conn);
                    j.session.connected(now);
                    self.apply_jd(now);
                } else {
                    conn.close();
                }
            }
            Event::Input { session, input } => {
                if let Some(p) = self.pool.as_mut().filter(|p| p.id == session) {
                    match input {
                        Input::Frame(f) => p.channel.frame(f, now),
                        Input::Line(_) => p
                            .channel
                            .frame(Err(v2::FrameError("a Stratum v1 line".into())), now),
                    }
                    self.apply_pool(now);
                } else if let Some(j) = self.jd.as_mut().filter(|j| j.id == session) {
                    match input {
                        Input::Frame(f) => j.session.frame(f, now),
                        Input::Line(_) => j
                            .session
                            .frame(Err(v2::FrameError("a Stratum v1 line".into())), now),
                    }
                    self.apply_jd(now);
                }
            }
            Event::Closed { session, error } => {
                if self.pool.as_ref().is_some_and(|p| p.id == session) {
                    self.pool_down(error.to_string(), now);
                } else if self.jd.as_ref().is_some_and(|j| j.id == session) {
                    self.jd_down(error.to_string(), now);
                }
            }
            Event::Solution(s) => self.solution(*s, submit),
            Event::SolutionsClosed => self.closing = Some(now),
        }
    }

    /// Carries out the pool channel's actions.
    pub(super) fn apply_pool(&mut self, now: Instant) {
        loop {
            let Some(p) = self.pool.as_mut() else {
                return;
            };
            let actions = p.channel.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                if !self.pool_action(action, now) {
                    return;
                }
            }
        }
    }

    /// One action of the pool channel; false once the channel has ended.
    pub(super) fn pool_action(&mut self, action: Action, now: Instant) -> bool {
        let Some(p) = self.pool.as_mut() else {
            return false;
        };
        match action {
            Action::Send(m) => {
                let sent = match &p.conn {
                    Some(c) => c.send(m),
                    None => Err(StratumError::Closed),
                };
                if let Err(e) = sent {
                    self.pool_down(e.to_string(), now);
                    return false;
                }
            }
            Action::Work => self.dirty = true,
            Action::Ready => {
                self.pool_retry.reset();
                self.pool_reason = None;
                let ps = &self.stats.pools()[0];
                Stats::add(&ps.connects, 1);
                ps.connected.store(true, Ordering::Relaxed);
                crate::elog!("{}: custom-work channel open", self.pool_name());
                // The channel's extranonce size is known now: declare.
                self.declared_seq = 0;
            }
            Action::Subscribed { .. } => {}
            Action::Share {
                what,
                difficulty,
                result,
            } => self.share(what, difficulty, result),
            Action::Log { warn, text } => {
                if warn {
                    crate::elog!("{}: {text}", self.pool_name());
                } else {
                    tracing::info!("{}: {text}", self.pool_name());
                }
            }
            Action::CustomJobRefused { code } => {
                self.status.custom_refused += 1;
                if code == "invalid-mining-job-token" && self.token_retries < TOKEN_RETRIES {
                    // The token expired before the pool saw it: a new declaration, a new token.
                    self.token_retries += 1;
                    crate::elog!(
                        "{}: the pool refused the custom job's token ({code}); declaring again",
                        self.pool_name()
                    );
                    self.declared_seq = 0;
                } else {
                    self.refusal = Some(format!("the pool refused our custom job: {code}"));
                }
            }
            Action::Reconnect { after, .. } => {
                self.pool_down("the pool asked to reconnect".into(), now);
                self.pool_retry.at = Some(now + after);
                return false;
            }
            Action::Close(e) => {
                self.pool_down(e.to_string(), now);
                return false;
            }
        }
        true
    }

    pub(super) fn share(&self, what: String, difficulty: f64, result: ShareResult) {
        result.report(&self.stats.pools()[0], &self.link, what, difficulty);
    }

    /// Carries out the JD session's actions.
    pub(super) fn apply_jd(&mut self, now: Instant) {
        loop {
            let Some(j) = self.jd.as_mut() else {
                return;
            };
            let actions = j.session.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                if !self.jd_action(action, now) {
                    return;
                }
            }
        }
    }

    pub(super) fn jd_action(&mut self, action: JdAction, now: Instant) -> bool {
        let Some(j) = self.jd.as_mut() else {
            return false;
        };
        match action {
            JdAction::Send(m) => {
                let sent = match &j.conn {
                    Some(c) => c.send(Outgoing::V2(m)),
                    None => Err(StratumError::Closed),
                };
                if let Err(e) = sent {
                    self.jd_down(e.to_string(), now);
                    return false;
                }
            }
            JdAction::Accepted { declared, token } => {
                self.refusal = None;
                self.stale_retries = 0;
                // A declaration overtaken by a new block is not set (its work is stale).
                let newest = self.shared.latest().1;
                if newest.is_some_and(|t| t.prev_hash != declared.template.prev_hash) {
                    tracing::info!(
                        "the JDS accepted the job for block {}, which a newer block replaced",
                        declared.template.height
                    );
                    return true;
                }
                match self
                    .pool
                    .as_mut()
                    .filter(|p| p.channel.phase() == Phase::Ready)
                {
                    Some(p) => {
                        p.channel.set_custom_job(declared, &token, now);
                        self.apply_pool(now);
                    }
                    None => tracing::info!(
                        "the JDS accepted the job for block {}, but the pool is not connected",
                        declared.template.height
                    ),
                }
            }
            JdAction::Refused {
                declared,
                code,
                retry,
            } => {
                if retry {
                    let wait =
                        (STALE_RETRY * 2u32.saturating_pow(self.stale_retries)).min(MAX_BACKOFF);
                    self.stale_retries = (self.stale_retries + 1).min(16);
                    self.redeclare_at = Some(now + wait);
                } else {
                    self.refusal = Some(format!(
                        "the JDS refused the job for block {}: {code}",
                        declared.template.height
                    ));
                }
            }
            JdAction::Log { warn, text } => {
                if warn {
                    crate::elog!("JDS {}: {text}", self.jds_url);
                } else {
                    tracing::info!("JDS {}: {text}", self.jds_url);
                }
            }
            JdAction::Down(reason) => {
                self.jd_down(reason, now);
                return false;
            }
        }
        true
    }
}
