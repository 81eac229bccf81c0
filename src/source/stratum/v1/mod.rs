//! Stratum v1: the wire format (`protocol.rs`: one JSON object per line, every field checked)
//! and one session as a sans-IO state machine (`session.rs`).

pub mod protocol;
pub mod session;

pub use session::Session;
