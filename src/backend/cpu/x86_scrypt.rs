//! scrypt's ROMix for 8 (AVX2) and 16 (AVX-512) hashes at once: the lanes code of
//! `algo::scrypt` ([`romix_lanes`]) compiled with those instruction sets enabled, so its
//! per-lane loops become 256- and 512-bit vector operations (rotates become `vprold` on
//! AVX-512) and each lane's read of its own scratchpad entry a gather.

use crate::algo::scrypt::{romix_lanes, LaneBlock, LaneScratch};

#[target_feature(enable = "avx2")]
fn romix8(x: &mut LaneBlock<8>, scratch: &mut LaneScratch<8>) {
    romix_lanes(x, scratch)
}

#[target_feature(enable = "avx512f,avx512vl")]
fn romix16(x: &mut LaneBlock<16>, scratch: &mut LaneScratch<16>) {
    romix_lanes(x, scratch)
}

/// ROMix of 8 hashes with AVX2; `None` when this CPU lacks AVX2.
pub fn romix_avx2(x: &mut LaneBlock<8>, scratch: &mut LaneScratch<8>) -> Option<()> {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return None;
    }
    // SAFETY: AVX2 was detected on this CPU just above.
    unsafe { romix8(x, scratch) };
    Some(())
}

/// ROMix of 16 hashes with AVX-512; `None` when this CPU lacks AVX-512F/VL.
pub fn romix_avx512(x: &mut LaneBlock<16>, scratch: &mut LaneScratch<16>) -> Option<()> {
    if !(std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl"))
    {
        return None;
    }
    // SAFETY: AVX-512F and AVX-512VL were detected on this CPU just above.
    unsafe { romix16(x, scratch) };
    Some(())
}
