//! Job declaration mode as the views show it.

use std::collections::BTreeMap;

/// Job declaration mode as the views show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JdStatus {
    /// The pool's Job Declaration Server.
    pub jds: String,
    /// `declared` (the pool's custom job on our template is mined), `pending` (a declaration
    /// of the newest template is in flight: our template is mined solo meanwhile) or
    /// `fallback` (solo on the fallback payout).
    pub state: &'static str,
    /// Why it is in fallback ("" otherwise).
    pub reason: String,
    /// The height of the declared job being mined (0 when none).
    pub height: u32,
    /// Templates declared, accepted by the JDS, refused (by error code), and transactions
    /// the JDS asked for and got.
    pub declared: u64,
    pub accepted: u64,
    pub refused: BTreeMap<String, u64>,
    pub provided: u64,
    /// Custom jobs the pool took, and refused.
    pub custom_jobs: u64,
    pub custom_refused: u64,
    /// Times mining fell back to solo.
    pub fallbacks: u64,
}

impl JdStatus {
    /// Declarations refused, all codes together.
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    /// One line for the summary (tests read it).
    pub fn line(&self) -> String {
        let codes: Vec<String> = self
            .refused
            .iter()
            .map(|(c, n)| format!("{c:?}: {n}"))
            .collect();
        format!(
            "job declaration {}: state {}{} declarations {} accepted {} refused {}{} provided {} custom_jobs {} custom_refused {} fallbacks {}",
            self.jds,
            self.state,
            if self.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.reason)
            },
            self.declared,
            self.accepted,
            self.refused_total(),
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            },
            self.provided,
            self.custom_jobs,
            self.custom_refused,
            self.fallbacks,
        )
    }
}
