//! `hashrig mine` against a scripted Stratum V2 pool (tests/common/sv2_peer.rs, on the SRI
//! crates): what pool_sv2 never does. Each misbehaviour after a valid handshake gets a line
//! naming it and a reconnect, never a panic, and mining goes on once the pool behaves.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::miner::{pool_field, run, summary, summary_field};
use common::sv2_peer::{Conn, Peer, CHANNEL};

fn mine(url: &str, extra: &[&str]) -> (String, bool) {
    let mut args: Vec<String> = [
        "mine",
        "--pool",
        url,
        "--user",
        "worker.1",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--pool-timeout",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !extra.contains(&"--hashrate") {
        args.extend(["--hashrate".to_string(), "40M".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run(&args, Duration::from_secs(60));
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn honest(_: usize, c: &mut Conn) {
    if c.open() {
        c.job(1);
        c.serve();
    }
}

fn shares_on_a_standard_channel_are_checked_and_accepted() -> common::Outcome {
    let peer = Peer::start(honest);
    let (stderr, ok) = mine(&peer.url(), &["--shares", "4"]);
    assert!(ok, "{stderr}");
    assert!(peer.record.accepted.load(Ordering::SeqCst) >= 4);
    assert!(
        peer.record.refused.lock().unwrap().is_empty(),
        "{:?}",
        peer.record.refused.lock().unwrap()
    );
    assert_eq!(
        pool_field(&stderr, 0, "accepted"),
        summary_field(summary(&stderr), "accepted")
    );
    Ok(())
}

fn malformed_frames_after_the_handshake_reconnect() -> common::Outcome {
    fn behave(n: usize, c: &mut Conn) {
        if !c.open() {
            return;
        }
        match n {
            // A NewMiningJob whose payload is 3 bytes long.
            0 => c.send_raw(
                0x8000,
                stratum_core::mining_sv2::MESSAGE_TYPE_NEW_MINING_JOB,
                &[1, 2, 3],
            ),
            // A message type nobody defined.
            1 => c.send_raw(0, 0x7e, &[0; 8]),
            // SetTarget for a channel never opened.
            2 => c.set_target(CHANNEL + 94),
            // A job for an unknown channel.
            3 => {
                c.job(1);
                let mut other = [0u8; 4];
                other.copy_from_slice(&(CHANNEL + 72).to_le_bytes());
                let mut payload = other.to_vec();
                payload.extend_from_slice(&7u32.to_le_bytes()); // job id
                payload.push(0); // min_ntime: none
                payload.extend_from_slice(&0x2000_0000u32.to_le_bytes());
                payload.extend_from_slice(&[0x11; 32]);
                c.send_raw(
                    0x8000,
                    stratum_core::mining_sv2::MESSAGE_TYPE_NEW_MINING_JOB,
                    &payload,
                );
            }
            _ => {
                c.job(1);
                return c.serve();
            }
        }
        // Keep the connection until the miner drops it.
        while c.recv().is_some() {}
    }
    let peer = Peer::start(behave);
    let (stderr, ok) = mine(&peer.url(), &["--shares", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        peer.record.connections.load(Ordering::SeqCst) >= 5,
        "{stderr}"
    );
    for expected in [
        "is not a mining message hashrig can decode",
        "message type 0x7e",
        "for channel 99, which was never opened",
        "for channel 77, which was never opened",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    assert!(peer.record.accepted.load(Ordering::SeqCst) >= 2);
    Ok(())
}

fn a_refused_share_keeps_its_error_code() -> common::Outcome {
    fn behave(_: usize, c: &mut Conn) {
        if c.open() {
            c.job(1);
            // The pool's target is harder than the one hashrig mines at: it refuses some.
            c.target[29] = 0x00;
            c.target[28] = 0x7f;
            c.serve();
        }
    }
    let peer = Peer::start(behave);
    let (stderr, _) = mine(&peer.url(), &["--duration", "3"]);
    let rejected = summary_field(summary(&stderr), "rejected");
    assert!(rejected >= 1.0, "{stderr}");
    assert!(stderr.contains("difficulty-too-low"), "{stderr}");
    assert!(stderr.contains("(\"difficulty-too-low\": "), "{stderr}");
    Ok(())
}

fn an_expired_certificate_is_refused() -> common::Outcome {
    let peer = Peer::start_signed(honest, true);
    let (stderr, ok) = mine(&peer.url(), &["--duration", "20"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("outside its validity period"), "{stderr}");
    assert!(stderr.contains("no pool can be trusted"), "{stderr}");
    assert_eq!(peer.record.accepted.load(Ordering::SeqCst), 0);
    Ok(())
}

fn reconnect_and_close_channel_are_followed() -> common::Outcome {
    // The first connection asks to go to another port of the same host; there the first
    // connection closes its channel; the next one is honest.
    let target = Peer::start(|n, c| {
        if !c.open() {
            return;
        }
        if n == 0 {
            c.send(stratum_core::parsers_sv2::AnyMessageOwned::Mining(
                stratum_core::parsers_sv2::MiningOwned::CloseChannel(
                    stratum_core::mining_sv2::CloseChannelOwned {
                        channel_id: CHANNEL,
                        reason_code: stratum_core::binary_sv2::Str0255Owned::new(
                            b"maintenance".to_vec(),
                        )
                        .unwrap(),
                    },
                ),
            ));
            while c.recv().is_some() {}
        } else {
            c.job(1);
            c.serve();
        }
    });
    let port = target.port;
    PORT.store(port as usize, Ordering::SeqCst);
    let first = Peer::start(|_, c| {
        if c.open() {
            let port = PORT.load(Ordering::SeqCst) as u16;
            c.send(stratum_core::parsers_sv2::AnyMessageOwned::Common(
                stratum_core::parsers_sv2::CommonMessagesOwned::Reconnect(
                    stratum_core::common_messages_sv2::ReconnectOwned {
                        new_host: stratum_core::binary_sv2::Str0255Owned::new(
                            b"127.0.0.1".to_vec(),
                        )
                        .unwrap(),
                        new_port: port,
                    },
                ),
            ));
            while c.recv().is_some() {}
        }
    });
    let (stderr, ok) = mine(&first.url(), &["--shares", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("reconnect to stratum2+tcp://127.0.0.1:{port}/")),
        "{stderr}"
    );
    assert!(
        stderr.contains("the pool closed the channel: maintenance"),
        "{stderr}"
    );
    assert!(target.record.accepted.load(Ordering::SeqCst) >= 2);
    Ok(())
}

fn a_far_off_announced_rate_is_corrected_with_update_channel() -> common::Outcome {
    let peer = Peer::start(honest);
    // Announced 1 TH/s; one CPU thread does some tens of MH/s.
    let (stderr, _) = mine(
        &peer.url(),
        &[
            "--duration",
            "4",
            "--hashrate",
            "1T",
            "--sv2-update-every",
            "1.5",
        ],
    );
    let rates = peer.record.rates.lock().unwrap().clone();
    assert_eq!(rates.first().copied(), Some(1e12), "{rates:?}");
    let updated = rates
        .get(1)
        .copied()
        .unwrap_or_else(|| panic!("no UpdateChannel: {rates:?}\n{stderr}"));
    assert!(updated > 1e6 && updated < 1e10, "{rates:?}");
    assert!(
        stderr.contains("(UpdateChannel; measured over the last 2 s)"),
        "{stderr}"
    );
    Ok(())
}

static PORT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

crate::tests!(
    shares_on_a_standard_channel_are_checked_and_accepted,
    malformed_frames_after_the_handshake_reconnect,
    a_refused_share_keeps_its_error_code,
    an_expired_certificate_is_refused,
    reconnect_and_close_channel_are_followed,
    a_far_off_announced_rate_is_corrected_with_update_channel,
);
