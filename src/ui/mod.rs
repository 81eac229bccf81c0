//! What the operator sees: the lines a run prints ([`output`]), the live status block
//! ([`status`], sized to the real terminal by [`terminal`]) and the monitoring API
//! ([`api`]: JSON, Prometheus metrics, the dashboard, cgminer's TCP API).

pub mod api;
pub mod output;
pub mod status;
pub mod terminal;
