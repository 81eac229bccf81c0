//! Per-algorithm pieces shared by every backend.

pub mod scrypt;
pub mod sha256d;
