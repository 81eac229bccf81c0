//! What a pool session (a Stratum v1 session, a Stratum V2 channel) and the code around it
//! say to each other. A session is a sans-IO state machine: it takes decoded input (a line,
//! a frame, a solution, a tick with the time) and queues [`Action`]s; the coordinator
//! (`pool.rs`) carries them out (writes through the connection's driver, publishes work,
//! counts outcomes, reconnects). No socket, thread or clock lives in a session, so every
//! message and every failure is unit-tested without a network.

use std::time::{Duration, Instant};

use stratum_core::parsers_sv2::AnyMessageOwned;

use super::error::StratumError;
use super::v1::protocol::{Incoming, ProtocolError};
use super::v2::{Frame, FrameError};
use crate::source::Solution;
use crate::work::Work;

/// Something to write to the pool.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// A Stratum v1 line (newline included).
    Line(String),
    /// A Stratum V2 message (framed and encrypted by the writer).
    V2(Box<AnyMessageOwned>),
}

/// Decoded input from the pool.
#[derive(Debug)]
pub enum Input {
    Line(Result<Incoming, ProtocolError>),
    Frame(Result<Frame, FrameError>),
}

/// What became of a share.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareResult {
    Accepted,
    Rejected(String),
    /// Not sent (its job was replaced, the session changed), or called stale.
    Stale(String),
    /// Sent, never answered.
    Unanswered(String),
}

/// What a session asks of the code around it.
#[derive(Debug)]
pub enum Action {
    /// Write this to the pool.
    Send(Outgoing),
    /// The session's work changed: publish it (with `clean`) if this session is mined.
    Work,
    /// Logged in and mining may start once there is work.
    Ready,
    /// The subscription (v1): the session id to offer back on the next connection.
    Subscribed { resume: Option<String> },
    /// A share's fate, for the stats and the mining loop.
    Share {
        what: String,
        difficulty: f64,
        result: ShareResult,
    },
    /// A line for the operator (already clipped and escaped); `warn` lines go to the
    /// terminal, the others to the log.
    Log { warn: bool, text: String },
    /// The pool refused a job we set (SetCustomMiningJob.Error) with this code: mining it
    /// earns nothing.
    CustomJobRefused { code: String },
    /// Close this session and connect again after `after`, to `to` (host, port) if given.
    Reconnect {
        to: Option<(Option<String>, Option<u16>)>,
        after: Duration,
    },
    /// End the session for this reason.
    Close(StratumError),
}

/// Lines of one kind: the first [`Throttle::BURST`] go, then at most one every `every`, with a
/// count of what was held back.
#[derive(Debug, Default)]
pub struct Throttle {
    sent: u64,
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    pub const BURST: u64 = 10;

    /// `Some(held back since the last one)` when a line may go now.
    pub fn allow(&mut self, now: Instant, every: Duration) -> Option<u64> {
        let quiet = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        if self.sent < Self::BURST || quiet {
            self.sent += 1;
            self.last = Some(now);
            Some(std::mem::take(&mut self.held))
        } else {
            self.held += 1;
            None
        }
    }
}

/// How often a warning of one kind may be printed per session.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

impl ShareResult {
    /// Counts this fate in `pool`'s counters and tells the mining loop (as `what`).
    pub fn report(
        self,
        pool: &crate::stats::PoolStats,
        link: &crate::source::Link,
        what: String,
        difficulty: f64,
    ) {
        use crate::source::{Outcome, OutcomeKind};
        let kind = match self {
            ShareResult::Accepted => {
                pool.accept(difficulty);
                OutcomeKind::Accepted
            }
            ShareResult::Rejected(reason) => {
                pool.reject(&reason, difficulty);
                OutcomeKind::Rejected(crate::ui::output::clip(&reason, 200))
            }
            ShareResult::Stale(reason) => {
                pool.stale(difficulty);
                OutcomeKind::Stale(reason)
            }
            ShareResult::Unanswered(reason) => {
                crate::stats::Stats::add(&pool.unanswered, 1);
                OutcomeKind::Unanswered(reason)
            }
        };
        link.outcome(Outcome {
            what,
            kind,
            block: false,
            quiet: false,
            share_also: false,
        });
    }
}

/// A session's place in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Connecting,
    /// v1: configure/subscribe sent; V2: SetupConnection sent.
    Subscribing,
    /// v1: authorize sent; V2: the channel asked for.
    Authorizing,
    Ready,
}

/// One session with a pool, of either protocol.
pub enum Session {
    V1(Box<super::v1::Session>),
    V2(Box<super::v2::Channel>),
}

impl Session {
    /// The connection is up: the handshake starts.
    pub fn connected(&mut self, now: Instant) {
        match self {
            Session::V1(s) => s.connected(now),
            Session::V2(c) => c.connected(now),
        }
    }

    /// Input from the pool.
    pub fn input(&mut self, input: Input, now: Instant) {
        match (self, input) {
            (Session::V1(s), Input::Line(line)) => s.line(line, now),
            (Session::V2(c), Input::Frame(frame)) => c.frame(frame, now),
            (s, _) => s.push(Action::Close(StratumError::Protocol(ProtocolError(
                "input of the other protocol".into(),
            )))),
        }
    }

    /// Submits `solution` (`resumed`: a share of the session this one resumed).
    pub fn submit(&mut self, solution: &Solution, resumed: bool, now: Instant) {
        match self {
            Session::V1(s) => s.submit(solution, resumed, now),
            Session::V2(c) => c.submit(solution, resumed, now),
        }
    }

    /// Timeouts and periodic work; `hashes` is the run's hash count so far.
    pub fn tick(&mut self, now: Instant, hashes: u64) {
        match self {
            Session::V1(s) => s.tick(now),
            Session::V2(c) => c.tick(now, hashes),
        }
    }

    /// The session's current work (and its share difficulty), if any.
    pub fn work(&self, clean: bool) -> Option<(Work, f64)> {
        match self {
            Session::V1(s) => s.work(clean),
            Session::V2(c) => c.work(clean),
        }
    }

    /// True when the newest work replaced the older (a clean job, a new previous hash)
    /// since the last publish; reading it resets it.
    pub fn take_clean(&mut self) -> bool {
        match self {
            Session::V1(s) => s.take_clean(),
            Session::V2(c) => c.take_clean(),
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            Session::V1(s) => s.phase(),
            Session::V2(c) => c.phase(),
        }
    }

    pub fn has_work(&self) -> bool {
        match self {
            Session::V1(s) => s.has_work(),
            Session::V2(c) => c.has_work(),
        }
    }

    /// Shares sent and not answered yet.
    pub fn pending(&self) -> usize {
        match self {
            Session::V1(s) => s.pending(),
            Session::V2(c) => c.pending(),
        }
    }

    /// True when the pool closed the connection before answering the subscription (some old
    /// pools do that to `mining.configure`, a method they do not know).
    pub fn closed_at_configure(&self) -> bool {
        match self {
            Session::V1(s) => s.configure_unanswered(),
            Session::V2(_) => false,
        }
    }

    /// Ends the session: every share still waiting for an answer is reported unanswered.
    pub fn close(&mut self, why: &str) {
        match self {
            Session::V1(s) => s.close(why),
            Session::V2(c) => c.close(why),
        }
    }

    /// The actions queued since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        match self {
            Session::V1(s) => s.take_actions(),
            Session::V2(c) => c.take_actions(),
        }
    }

    fn push(&mut self, action: Action) {
        match self {
            Session::V1(s) => s.push(action),
            Session::V2(c) => c.push(action),
        }
    }
}

/// What session tests read out of a session's actions.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Action, ShareResult};

    /// The fates of the shares the actions report.
    pub fn shares(actions: &[Action]) -> Vec<ShareResult> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Share { result, .. } => Some(result.clone()),
                _ => None,
            })
            .collect()
    }

    /// Why the session closed, if it did.
    pub fn closed(actions: &[Action]) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::Close(e) => Some(e.to_string()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_through_per_period_and_counts_the_rest() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..Throttle::BURST {
            assert_eq!(t.allow(t0, WARN_EVERY), Some(0));
        }
        for i in 1..100 {
            assert_eq!(t.allow(t0 + Duration::from_millis(i), WARN_EVERY), None);
        }
        assert_eq!(t.allow(t0 + WARN_EVERY, WARN_EVERY), Some(99));
        assert_eq!(t.allow(t0 + WARN_EVERY, WARN_EVERY), None);
    }
}
