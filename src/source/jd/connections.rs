//! The coordinator's connections: dialing the pool and the JDS, and losing them.

use super::*;

impl Coordinator {
    // ---- connections -------------------------------------------------------------------

    pub(super) fn connect(&mut self, now: Instant) {
        if self.pool.is_none() && self.pool_retry.due(now) {
            let id = self.next_id;
            self.next_id += 1;
            let url = self.pool_cfg.url.clone();
            let channel = v2::Channel::new(
                v2::channel::Config {
                    session: id,
                    pool: 0,
                    user: self.pool_cfg.user.clone(),
                    kind: v2::ChannelKind::Custom,
                    host: url.host.clone(),
                    port: url.port,
                    hash_rate: self.nominal_rate(),
                    answer_timeout: self.options.answer_timeout,
                    idle_timeout: self.options.idle_timeout,
                    update_every: self.options.update_every,
                },
                now,
            );
            self.pool = Some(PoolLive {
                id,
                channel,
                conn: None,
            });
            self.dial(id, url, now);
        }
        if self.jd.is_none() && self.jd_retry.due(now) {
            let id = self.next_id;
            self.next_id += 1;
            let url = self.jds_url.clone();
            let session = JdSession::new(JdConfig {
                host: url.host.clone(),
                port: url.port,
                user: self.pool_cfg.user.clone(),
                answer_timeout: self.options.answer_timeout,
            });
            self.jd = Some(JdLive {
                id,
                session,
                conn: None,
            });
            self.dial(id, url, now);
        }
    }

    pub(super) fn dial(&mut self, session: u64, url: PoolUrl, now: Instant) {
        let dial = Dial {
            session,
            url,
            tls: None,
            timeout: self.options.answer_timeout,
        };
        if let Err(e) = driver::spawn(dial, self.events.clone()) {
            if self.pool.as_ref().is_some_and(|p| p.id == session) {
                self.pool_down(e.to_string(), now);
            } else {
                self.jd_down(e.to_string(), now);
            }
        }
    }

    /// The hash rate to announce to the pool (as the pool source does).
    pub(super) fn nominal_rate(&self) -> f64 {
        if let Some(h) = self.options.hash_rate {
            return h;
        }
        let up = self.stats.uptime().as_secs_f64();
        let measured = self.stats.hashes() as f64 / up.max(1e-9);
        if up > 5.0 && measured > 0.0 {
            measured
        } else if self.stats.nominal() > 0.0 {
            self.stats.nominal()
        } else {
            1e8 * self.stats.backends.len().max(1) as f64
        }
    }

    pub(super) fn pool_down(&mut self, reason: String, now: Instant) {
        let Some(mut p) = self.pool.take() else {
            return;
        };
        if let Some(c) = p.conn.take() {
            c.close();
        }
        p.channel
            .close("the pool connection ended before it answered");
        for action in p.channel.take_actions() {
            if let Action::Share {
                what,
                difficulty,
                result,
            } = action
            {
                self.share(what, difficulty, result);
            }
        }
        let ps = &self.stats.pools()[0];
        ps.connected.store(false, Ordering::Relaxed);
        let wait = self.pool_retry.failed(now);
        crate::elog!(
            "{}: {}; retrying in {} s",
            self.pool_name(),
            clip(&reason, 200),
            wait.as_secs()
        );
        self.pool_reason = Some(format!("the pool is away: {}", clip(&reason, 120)));
        self.dirty = false;
        self.declared_seq = 0;
        self.past_custom += p.channel.custom_jobs_taken();
    }

    pub(super) fn jd_down(&mut self, reason: String, now: Instant) {
        let Some(mut j) = self.jd.take() else {
            return;
        };
        if let Some(c) = j.conn.take() {
            c.close();
        }
        add_counts(&mut self.past, j.session.counts());
        let wait = self.jd_retry.failed(now);
        crate::elog!(
            "JDS {}: {}; retrying in {} s",
            self.jds_url,
            clip(&reason, 200),
            wait.as_secs()
        );
        self.jd_reason = Some(format!("the JDS is away: {}", clip(&reason, 120)));
        self.declared_seq = 0;
    }
}
