//! Per-algorithm pieces shared by every backend.

pub mod sha256d;
