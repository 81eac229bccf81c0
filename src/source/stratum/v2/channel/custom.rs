//! The custom-work side of a channel (Job Declaration): jobs hashrig sets itself with
//! SetCustomMiningJob and a token from the pool's JDS, taken as the channel's active job once
//! the pool answers Success.

use std::sync::Arc;
use std::time::Instant;

use bitcoin::hashes::Hash;

use super::{
    Action, Channel, ChannelKind, Open, MAX_CUSTOM_JOBS, MAX_CUSTOM_PENDING, OPEN_REQUEST,
};
use crate::source::stratum::v2::declare::Declared;
use crate::source::stratum::v2::wire::message;

impl Channel {
    /// The full extranonce of an open extended channel: the pool's prefix and the part rolled
    /// here (what a declared coinbase leaves room for).
    pub fn full_extranonce_size(&self) -> Option<usize> {
        match &self.open {
            Some(Open::Extended(c)) => Some(c.get_full_extranonce_size()),
            _ => None,
        }
    }

    /// Sets `declared` on a custom-work channel with the token the JDS gave for it
    /// (SetCustomMiningJob); it is mined once the pool answers Success. Jobs on the same
    /// previous block keep the first one's min_ntime, so the pool's and our channel's chain
    /// tip stays put and shares of the older jobs stay valid.
    pub fn set_custom_job(&mut self, declared: Arc<Declared>, token: &[u8], now: Instant) {
        let Some(Open::Extended(c)) = &self.open else {
            return self.info("no open extended channel to set a custom job on".into());
        };
        if self.cfg.kind != ChannelKind::Custom {
            return self.info("custom jobs need a custom-work channel".into());
        }
        let prev = declared.template.prev_hash.to_byte_array();
        let min_ntime = match c.get_chain_tip() {
            Some(tip) if tip.prev_hash().to_array() == prev => tip.min_ntime(),
            _ => declared.default_min_ntime(),
        };
        let id = self.next_custom_request;
        self.next_custom_request = self
            .next_custom_request
            .wrapping_add(1)
            .max(OPEN_REQUEST + 1);
        match declared.custom_job(self.channel_id, id, token, min_ntime) {
            Ok(m) => {
                if self.custom_pending.len() >= MAX_CUSTOM_PENDING {
                    self.custom_pending.pop_first();
                }
                self.custom_pending.insert(id, (m.clone(), declared, now));
                self.send(message::set_custom_job(m));
            }
            Err(e) => self.out.push(Action::Log {
                warn: true,
                text: format!("cannot set the custom job: {e}"),
            }),
        }
    }

    /// The pool took a custom job: it becomes the channel's active job (a new previous block
    /// first moves the channel's chain tip).
    pub(super) fn custom_job_taken(
        &mut self,
        s: stratum_core::mining_sv2::SetCustomMiningJobSuccess,
        now: Instant,
    ) {
        let Some((m, declared, _)) = self.custom_pending.remove(&s.request_id) else {
            return self.ignored(
                format!(
                    "SetCustomMiningJob.Success for request {} not made",
                    s.request_id
                ),
                now,
            );
        };
        let Some(Open::Extended(c)) = self.open.as_mut() else {
            return;
        };
        let tip = declared.chain_tip(m.min_ntime);
        let moved = c
            .get_chain_tip()
            .is_none_or(|t| t.prev_hash() != tip.prev_hash() || t.min_ntime() != tip.min_ntime());
        if moved {
            if let Err(e) = c.on_chain_tip_update(tip) {
                return self.protocol(format!("the custom job's chain tip: {e:?}"));
            }
        }
        let job_id = s.job_id;
        if let Err(e) = c.on_set_custom_mining_job_success(m, s) {
            return self.protocol(format!(
                "SetCustomMiningJob.Success for job {job_id}: {e:?}"
            ));
        }
        if self.custom_jobs.len() >= MAX_CUSTOM_JOBS {
            self.custom_jobs.pop_first();
        }
        self.custom_jobs.insert(job_id, declared);
        self.custom_taken += 1;
        self.clean |= moved;
        self.last_job = now;
        self.out.push(Action::Work);
    }

    /// Custom jobs the pool took on this channel.
    pub fn custom_jobs_taken(&self) -> u64 {
        self.custom_taken
    }

    /// The declared job behind custom job `job_id` (to build the block of a share that is one).
    pub fn declared_for(&self, job_id: u32) -> Option<Arc<Declared>> {
        self.custom_jobs.get(&job_id).cloned()
    }
}
