//! The portable reference kernel: the generic SHA-256d core on plain `u32`, one nonce at a time.
//! Always compiled, uses the same precomputation and early reject as the SIMD kernels.

use crate::algo::sha256d::Prepared;
use crate::job::NonceRange;

use super::Hit;

pub(super) fn scan(p: &Prepared, range: NonceRange, target_top: u32, hits: &mut Vec<Hit>) {
    super::lanes::scan::<u32>(p, range, target_top, hits);
}
