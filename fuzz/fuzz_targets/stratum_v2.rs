//! A Stratum V2 channel (standard or extended, chosen by the first byte) fed frames after its
//! handshake: each frame is a type and a payload decoded by the SRI codec, as the wire gives
//! them after decryption. Solutions of its work are submitted now and then. Invariants:
//! nothing panics, unacknowledged shares stay under the cap, work has a header.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashrig::source::stratum::session::Action;
use hashrig::source::stratum::v1::session::MAX_PENDING;
use hashrig::source::stratum::v2::channel::{Channel, Config};
use hashrig::source::stratum::v2::wire::{decode, Frame};
use hashrig::source::stratum::v2::ChannelKind;
use hashrig::source::Solution;
use hashrig::verify::Share;
use libfuzzer_sys::fuzz_target;
use stratum_core::common_messages_sv2::SetupConnectionSuccess;
use stratum_core::parsers_sv2::CommonMessagesOwned;

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let kind = if first & 1 == 0 {
        ChannelKind::Standard
    } else {
        ChannelKind::Extended
    };
    let start = Instant::now();
    let mut c = Channel::new(
        Config {
            session: 1,
            pool: 0,
            user: "fuzz".into(),
            kind,
            host: "127.0.0.1".into(),
            port: 1,
            hash_rate: 1e9,
            answer_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            update_every: Duration::from_secs(60),
        },
        start,
    );
    c.connected(start);
    if first & 2 == 0 {
        c.frame(
            Ok(Frame::Common(CommonMessagesOwned::SetupConnectionSuccess(
                SetupConnectionSuccess {
                    used_version: 2,
                    flags: 0,
                },
            ))),
            start,
        );
    }
    let mut now = start;
    let mut n = 0u64;
    // Frames: ext_type (2 bytes), msg_type (1), length (2), payload.
    while rest.len() >= 5 {
        let ext = u16::from_le_bytes([rest[0], rest[1]]);
        let kind = rest[2];
        let len = usize::from(u16::from_le_bytes([rest[3], rest[4]])).min(rest.len() - 5);
        let mut payload = rest[5..5 + len].to_vec();
        rest = &rest[5 + len..];
        n += 1;
        now += Duration::from_millis(u64::from(kind));
        c.frame(decode(ext & 0x7fff, kind, &mut payload), now);
        if n.is_multiple_of(2) {
            if let Some((work, _)) = c.work(n.is_multiple_of(3)) {
                if let Some(roll) = work.roll(n).or_else(|| work.roll(0)) {
                    let header = work.header(&roll, work.time.now()).with_nonce(n as u32);
                    let digest = hashrig::algo::sha256d::reference_digest(header.as_bytes());
                    let solution = Solution {
                        work: Arc::new(work),
                        roll,
                        share: Share {
                            header,
                            digest,
                            algo: hashrig::algo::Algo::Sha256d,
                        },
                        found_at: now,
                    };
                    c.submit(&solution, false, now);
                }
            }
        }
        if n.is_multiple_of(5) {
            c.tick(now + Duration::from_secs(61), n * 1_000_000);
        }
        for action in c.take_actions() {
            if let Action::Close(_) = action {
                // A real session ends here; going on exercises what follows anyway.
            }
        }
        assert!(c.pending() <= MAX_PENDING);
    }
    c.close("fuzz");
    let _ = c.take_actions();
});
