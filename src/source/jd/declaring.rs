//! The coordinator's declaring: the newest template to the JDS, and which work is mined.

use super::*;

impl Coordinator {
    // ---- declaring ---------------------------------------------------------------------

    /// Gives the JD session the newest template when it is new (or must be declared again).
    pub(super) fn declare_if_new(&mut self, now: Instant) {
        let (seq, latest) = self.shared.latest();
        let Some(template) = latest else {
            return;
        };
        let again = self.redeclare_at.is_some_and(|t| now >= t);
        if seq == self.declared_seq && !again {
            return;
        }
        if self.refusal.is_some() && seq == self.refused_seq && !again {
            return;
        }
        let Some(size) = self
            .pool
            .as_ref()
            .filter(|p| p.channel.phase() == Phase::Ready)
            .and_then(|p| p.channel.full_extranonce_size())
        else {
            return;
        };
        let Some(j) = self
            .jd
            .as_mut()
            .filter(|j| j.session.phase() == JdPhase::Ready)
        else {
            return;
        };
        if seq != self.refused_seq {
            // A new template: whatever was refused before does not hold for it.
            self.refusal = None;
        }
        self.declared_seq = seq;
        self.refused_seq = seq;
        self.redeclare_at = None;
        j.session.template(template, size, now);
        self.apply_jd(now);
    }

    /// The pool's current job, when it is on the newest template's previous block.
    pub(super) fn pool_job_current(&self) -> bool {
        let Some(p) = &self.pool else {
            return false;
        };
        if p.channel.phase() != Phase::Ready || !p.channel.has_work() {
            return false;
        }
        let Some(template) = self.shared.latest().1 else {
            return false;
        };
        p.channel
            .work(false)
            .is_some_and(|(w, _)| w.prev_hash == template.prev_hash)
    }

    /// Why the pool's job cannot be mined now, if anything but a declaration in flight.
    pub(super) fn trouble(&self) -> Option<String> {
        self.pool_reason
            .clone()
            .or_else(|| self.jd_reason.clone())
            .or_else(|| self.refusal.clone())
    }

    /// Decides what is mined, publishes it when it changed, and says so in one line.
    pub(super) fn choose(&mut self) {
        if self
            .jd
            .as_ref()
            .is_some_and(|j| j.session.phase() == JdPhase::Ready)
            && self.jd_reason.is_some()
        {
            self.jd_reason = None;
            self.jd_retry.reset();
        }
        let now = Instant::now();
        let trouble = self.trouble();
        let next = match trouble {
            None if self.pool_job_current() => Mode::Declared,
            _ if self.shared.latest().1.is_none() => Mode::Starting,
            None => Mode::Pending,
            Some(why) => Mode::Fallback(why),
        };
        if next != self.mode {
            self.announce(&next);
            let was_declared = self.mode == Mode::Declared;
            self.mode = next.clone();
            match next {
                Mode::Declared => {
                    self.token_retries = 0;
                    self.ever_declared = true;
                    if let Err(e) = self.shared.set_solo(false, false) {
                        crate::elog!("error: {e}");
                    }
                    self.dirty = true;
                    self.switched = true;
                }
                Mode::Pending => {
                    // The work mined so far is on an older block (or nothing is mined yet):
                    // wait a moment for the pool's job rather than mine our template solo.
                    self.pending_since = now;
                    self.pending_solo = false;
                    if let Err(e) = self.shared.set_solo(false, false) {
                        crate::elog!("error: {e}");
                    }
                    if was_declared {
                        self.link.withdraw();
                    }
                }
                Mode::Fallback(_) => {
                    if let Err(e) = self.shared.set_solo(true, true) {
                        crate::elog!("error: {e}");
                    }
                }
                Mode::Starting => {}
            }
            self.stats.pools()[0]
                .in_use
                .store(self.mode == Mode::Declared, Ordering::Relaxed);
        }
        // A declaration that takes long: our template is mined solo until the pool's job comes
        // (the first one may take the whole answer timeout: connections, token, transactions).
        let grace = if self.ever_declared {
            PENDING_IDLE
        } else {
            self.options.answer_timeout
        };
        if self.mode == Mode::Pending
            && !self.pending_solo
            && now.saturating_duration_since(self.pending_since) >= grace
        {
            self.pending_solo = true;
            tracing::info!(
                "job declaration: no job of ours on the pool after {:.1} s; mining our template solo meanwhile",
                grace.as_secs_f64()
            );
            if let Err(e) = self.shared.set_solo(true, true) {
                crate::elog!("error: {e}");
            }
        }
        if self.mode == Mode::Declared && self.dirty {
            if let Some(p) = self.pool.as_mut() {
                let clean = p.channel.take_clean() || self.switched;
                if let Some((work, difficulty)) = p.channel.work(clean) {
                    self.dirty = false;
                    self.switched = false;
                    self.stats.pools()[0].set_difficulty(difficulty);
                    self.link.work(work);
                }
            }
        }
    }

    pub(super) fn announce(&mut self, next: &Mode) {
        match (next, &self.mode) {
            (Mode::Declared, _) if !self.ever_declared || self.fell_back => {
                self.fell_back = false;
                crate::elog!(
                    "job declaration: mining our own template on {} (the pool pays; JDS {})",
                    self.pool_name(),
                    self.jds_url
                );
            }
            (Mode::Fallback(why), Mode::Fallback(_)) => {
                tracing::info!("job declaration: still solo: {why}");
            }
            (Mode::Fallback(why), _) => {
                self.status.fallbacks += 1;
                self.fell_back = true;
                crate::elog!(
                    "job declaration: mining solo on the node with the fallback payout: {why}"
                );
            }
            _ => {}
        }
    }

    pub(super) fn tick(&mut self, now: Instant) {
        let hashes = self.stats.hashes();
        if let Some(p) = self.pool.as_mut() {
            p.channel.tick(now, hashes);
            self.apply_pool(now);
        }
        if let Some(j) = self.jd.as_mut() {
            j.session.tick(now);
            self.apply_jd(now);
        }
    }

    pub(super) fn publish_status(&mut self) {
        let mut counts = self.past.clone();
        if let Some(j) = &self.jd {
            add_counts(&mut counts, j.session.counts());
        }
        let s = &mut self.status;
        s.declared = counts.declared;
        s.accepted = counts.accepted;
        s.refused = counts.refused;
        s.provided = counts.provided;
        let (state, reason) = match &self.mode {
            Mode::Declared => ("declared", String::new()),
            Mode::Pending | Mode::Starting => ("pending", String::new()),
            Mode::Fallback(why) => ("fallback", why.clone()),
        };
        s.state = state;
        s.reason = reason;
        s.custom_jobs = self.past_custom
            + self
                .pool
                .as_ref()
                .map_or(0, |p| p.channel.custom_jobs_taken());
        s.height = match self.mode {
            Mode::Declared => self.shared.latest().1.map_or(0, |t| t.height),
            _ => 0,
        };
        self.stats.set_jd(self.status.clone());
    }
}
