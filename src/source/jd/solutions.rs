//! The coordinator's solutions: solo ones go to the submit thread, a declared job's shares to
//! the pool, and a share that is also a block is built from its declared job, handed to the
//! submit thread (journal, our node) and then pushed to the JDS.

use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use super::*;

impl Coordinator {
    // ---- solutions ---------------------------------------------------------------------

    pub(super) fn solution(&mut self, solution: Solution, submit: &SyncSender<ToSubmit>) {
        let Some(ctx) = context(&solution) else {
            // Solo work (our template): the submit thread builds and sends its block (kept
            // here while its queue is full). On one parent only the first block counts, so a
            // long wait means a flood of rivals (regtest): past the cap they are dropped.
            if self.to_submit.len() >= MAX_WAITING {
                self.link.outcome(Outcome {
                    what: format!("block {}", solution.share.hash_hex()),
                    kind: OutcomeKind::Stale("too many blocks wait for the node".into()),
                    block: true,
                    quiet: true,
                    share_also: false,
                });
                return;
            }
            self.to_submit.push_back(ToSubmit::Solution(solution));
            self.flush_blocks(submit);
            return;
        };
        let session = ctx.session;
        let job = ctx.job.clone();
        let full_extranonce: Vec<u8> = ctx
            .extranonce1
            .iter()
            .chain(solution.roll.extranonce2.iter())
            .copied()
            .collect();
        // A block first: to our node (journaled), then the share and PushSolution.
        if hash_meets(&solution.share.digest, &solution.work.block_target()) {
            self.block(&solution, &job, &full_extranonce, submit);
        }
        match self.pool.as_mut().filter(|p| p.id == session) {
            Some(p) if p.channel.phase() == Phase::Ready && p.conn.is_some() => {
                p.channel.submit(&solution, false, Instant::now());
                self.stats.pools()[0].record_submit(solution.found_at.elapsed());
                self.apply_pool(Instant::now());
            }
            _ => self.share(
                format!("share {}", solution.share.hash_hex()),
                ctx.difficulty,
                ShareResult::Stale("not sent: its pool session ended".into()),
            ),
        }
    }

    /// The block of a share of declared job `job`: built, checked, handed to the submit
    /// thread, then pushed to the JDS.
    fn block(
        &mut self,
        solution: &Solution,
        job: &str,
        full_extranonce: &[u8],
        submit: &SyncSender<ToSubmit>,
    ) {
        let hash = solution.share.hash_hex();
        let declared: Option<Arc<Declared>> = job
            .parse::<u32>()
            .ok()
            .and_then(|id| self.pool.as_ref().and_then(|p| p.channel.declared_for(id)));
        let Some(declared) = declared else {
            crate::elog!(
                "error: block {hash} of job {} has no declared template (not sent to the node; the share goes to the pool)",
                clip(job, 32)
            );
            return;
        };
        let what = format!("block {} {hash} (declared)", declared.template.height);
        let built = declared
            .coinbase(full_extranonce)
            .map_err(|e| e.to_string())
            .and_then(|cb| {
                let mut txdata = vec![cb];
                txdata.extend(declared.template.transactions.iter().cloned());
                let block = bitcoin::Block {
                    header: solution.share.header.to_bitcoin(),
                    txdata,
                };
                check_block(&block, &declared.template)
                    .map(|()| block)
                    .map_err(|e| e.to_string())
            });
        let block = match built {
            Ok(b) => b,
            Err(reason) => {
                self.link.outcome(Outcome {
                    what,
                    kind: OutcomeKind::Rejected(format!(
                        "failed its local check, not sent: {reason}"
                    )),
                    block: true,
                    quiet: false,
                    share_also: false,
                });
                return;
            }
        };
        crate::elog!(
            "block found on the declared job: {hash} at height {}; sending it to the node, the pool and the JDS",
            declared.template.height
        );
        Stats::add(&self.stats.pools()[0].block_candidates, 1);
        // PushSolution goes once our own node has the block.
        let push = self.jd.as_ref().and_then(|j| {
            let later = j.conn.as_ref()?.later();
            let m = wire::message::push_solution(full_extranonce.to_vec(), &solution.share.header)?;
            Some(Box::new(move || later(Outgoing::V2(Box::new(m)))) as Box<dyn FnOnce() + Send>)
        });
        self.to_submit.push_back(ToSubmit::Built(BuiltBlock {
            block,
            height: declared.template.height,
            what,
            then: push,
        }));
        self.flush_blocks(submit);
    }

    /// Hands waiting blocks to the submit thread (kept while its queue is full).
    pub(super) fn flush_blocks(&mut self, submit: &SyncSender<ToSubmit>) {
        while let Some(b) = self.to_submit.pop_front() {
            match submit.try_send(b) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(b)) => {
                    self.to_submit.push_front(b);
                    return;
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return,
            }
        }
    }

    pub(super) fn finish(&mut self, submit: &SyncSender<ToSubmit>) {
        // A block never stays behind: the submit thread takes it (waiting if it must).
        while let Some(b) = self.to_submit.pop_front() {
            let _ = submit.send(b);
        }
        if let Some(mut p) = self.pool.take() {
            self.past_custom += p.channel.custom_jobs_taken();
            if let Some(c) = p.conn.take() {
                c.close();
            }
            p.channel.close("the run ended before the pool answered");
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
        }
        if let Some(mut j) = self.jd.take() {
            if let Some(c) = j.conn.take() {
                c.close();
            }
            add_counts(&mut self.past, j.session.counts());
        }
        self.stats.pools()[0].in_use.store(false, Ordering::Relaxed);
        self.publish_status();
    }
}
