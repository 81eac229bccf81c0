//! Hostile pools (Stratum v1 and V2): each row of issue 15's table that a pool can do.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::common;
use crate::watch;
use common::miner::{pool_field, spawn};
use common::pool::{honest_pool, Conn, Pool, EASY};

/// `hashrig mine` on `pools`, one CPU thread, quick timeouts, and `extra`.
fn args(pools: &[String], extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["mine".into()];
    for p in pools {
        a.extend(["--pool".into(), p.clone()]);
    }
    for (flag, value) in [
        ("--user", "worker.1"),
        ("--backend", "cpu"),
        ("--threads", "1"),
        ("--pool-timeout", "3"),
    ] {
        if !extra.contains(&flag) {
            a.extend([flag.into(), value.into()]);
        }
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Row: "a pool sends mining.set_difficulty 1e-300": every hash became a share, 3 GB in 16 s,
/// the rate at 2%. The devices search a clamped target; shares go at a bounded rate.
fn a_difficulty_of_1e_300_is_clamped_and_memory_stays_flat() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(1e-300);
        c.notify(true);
        c.serve(|_| false);
    });
    let run = watch(
        spawn(&args(&[pool.url()], &[])),
        Duration::from_secs(8),
        "-TERM",
    );
    run.assert_bounded("difficulty 1e-300");
    let stderr = run.stderr();
    assert!(stderr.contains("searching at difficulty"), "{stderr}");
    let accepted = pool.record.accepted();
    let most = (4.0 * 32.0 * run.seconds) as usize + 256;
    assert!(
        (1..=most).contains(&accepted),
        "{accepted} shares in {:.1} s",
        run.seconds
    );
    let rate = run.hashes() as f64 / run.seconds;
    assert!(rate > 5e6, "the rate fell to {rate:.0} H/s");
    Ok(())
}

/// Row: "a V2 SetTarget of all ff should do the same".
fn a_v2_target_of_all_ff_is_clamped_too() -> common::Outcome {
    use common::sv2_peer::Peer;
    let peer = Peer::start(|_, c| {
        c.target = [0xff; 32];
        if c.open() {
            c.job(1);
            c.serve();
        }
    });
    let child = spawn(&args(&[peer.url()], &["--hashrate", "40M"]));
    let run = watch(child, Duration::from_secs(8), "-TERM");
    run.assert_bounded("V2 target all ff");
    assert!(
        run.stderr().contains("searching at difficulty"),
        "{}",
        run.stderr()
    );
    let accepted = peer.record.accepted.load(Ordering::SeqCst);
    assert!(
        (1..=(4.0 * 32.0 * run.seconds) as usize + 256).contains(&accepted),
        "{accepted}"
    );
    Ok(())
}

/// Row: "a pool stops reading submits while flooding notifies": the one manager thread
/// blocked in a write while the reader queued 2.5 GB; failover stalled. Each connection now
/// writes from its own bounded queue: the flooding pool is dropped, the next one mined.
fn a_pool_that_stops_reading_while_flooding_is_dropped_and_another_mined() -> common::Outcome {
    let flooding = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        // Requests that want an answer, and jobs, as fast as the socket takes them; nothing
        // is read any more.
        for n in 0u64.. {
            c.send_json(json!({"id": n, "method": "mining.ping", "params": []}));
            if n % 16 == 0 {
                c.notify(false);
            }
            if c.closed {
                return;
            }
        }
    });
    let honest = honest_pool();
    let child = spawn(&args(&[flooding.url(), honest.url()], &[]));
    let record = std::sync::Arc::clone(&honest.record);
    let run = crate::watch_until(child, Duration::from_secs(30), "-TERM", |_| {
        record.accepted() >= 3
    });
    run.assert_bounded("a flooding pool that does not read");
    let stderr = run.stderr();
    assert!(
        honest.record.accepted() >= 3,
        "{}",
        common::clip_text(&stderr, 4000)
    );
    assert!(
        stderr.contains("not reading what is sent to it") || stderr.contains("writing to the pool"),
        "{}",
        common::clip_text(&stderr, 4000)
    );
    Ok(())
}

/// Row: "client.reconnect to itself with wait 0": 915 connections a second.
fn reconnect_requests_are_rate_limited() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        c.send_json(json!({"id": null, "method": "client.reconnect", "params": []}));
        c.serve(|_| false);
    });
    let run = watch(
        spawn(&args(&[pool.url()], &[])),
        Duration::from_secs(10),
        "-TERM",
    );
    run.assert_bounded("reconnect loop");
    let n = pool.record.connections.load(Ordering::SeqCst);
    // A floor of 1 s and a doubling backoff: 0, 1, 2, 4, 8 s.
    assert!(
        (2..=7).contains(&n),
        "{n} connections in {:.1} s",
        run.seconds
    );
    Ok(())
}

/// Row: "an over-1 MiB line right after login": the backoff reset at each login.
fn an_over_long_line_after_each_login_backs_off() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.send(&"x".repeat((1 << 20) + 4096));
        c.serve(|_| false);
    });
    let run = watch(
        spawn(&args(&[pool.url()], &[])),
        Duration::from_secs(10),
        "-TERM",
    );
    run.assert_bounded("over-long lines");
    let n = pool.record.connections.load(Ordering::SeqCst);
    assert!(
        (2..=7).contains(&n),
        "{n} connections in {:.1} s",
        run.seconds
    );
    assert!(run.stderr().contains("a line of over 1048576 bytes"));
    Ok(())
}

/// Row: "each share rejected with a different reason": 19k map entries, a 3.3 MB summary
/// line.
fn a_new_reject_reason_for_every_share_is_capped() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(0.0002);
        c.notify(true);
        let mut n = 0;
        loop {
            let Some(request) = c.recv(Duration::from_millis(100)) else {
                if c.closed {
                    return;
                }
                continue;
            };
            if request["method"] == "mining.submit" {
                n += 1;
                c.error(&request, 20, &format!("reason {n} {}", "y".repeat(300)));
            }
        }
    });
    let run = watch(
        spawn(&args(&[pool.url()], &[])),
        Duration::from_secs(8),
        "-TERM",
    );
    run.assert_bounded("reject reasons");
    let stderr = run.stderr();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("pool 0 ") && l.contains(" connects "))
        .unwrap();
    let rejected = pool_field(&stderr, 0, "rejected");
    assert!(rejected > 20.0, "{rejected}: {line}");
    assert!(line.len() < 3000, "{} bytes", line.len());
    assert!(line.contains("(other reasons)"), "{line}");
    Ok(())
}

/// Row: "show_message with escape codes": raw ESC/OSC sequences reached the operator's
/// terminal.
fn escape_codes_from_a_pool_never_reach_the_terminal() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        let evil = format!(
            "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m{}",
            "A".repeat(100_000)
        );
        for _ in 0..500 {
            c.send_json(json!({"id": null, "method": "client.show_message", "params": [evil]}));
            c.send_json(json!({"id": 1, "method": evil, "params": []}));
        }
        c.serve(|_| false);
    });
    let run = watch(
        spawn(&args(&[pool.url()], &[])),
        Duration::from_secs(4),
        "-TERM",
    );
    run.assert_bounded("escape codes");
    for text in [run.stderr(), run.stdout()] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\u{7}'));
        assert!(text.len() < 64_000, "{} bytes of output", text.len());
    }
    assert!(
        run.stderr().contains("says: \\u{1b}]0;pwned"),
        "{}",
        common::clip_text(&run.stderr(), 3000)
    );
    Ok(())
}

/// Row: "stratum+tcp://user:pw@host that fails to connect: the error prints the password".
fn a_password_in_a_pool_url_is_never_printed() -> common::Outcome {
    let run = watch(
        spawn(&args(
            &["stratum+tcp://worker.9:s3cret@127.0.0.1:9".into()],
            &["--pool-timeout", "1", "-vv"],
        )),
        Duration::from_secs(3),
        "-TERM",
    );
    run.assert_bounded("a refused connection");
    let all = format!("{}{}", run.stderr(), run.stdout());
    assert!(all.contains("connecting to 127.0.0.1:9"), "{all}");
    assert!(!all.contains("s3cret"), "{all}");
    Ok(())
}

/// SIGINT while a submit is in flight to a pool that never answers: exit 0 within 2 s, the
/// share counted as unanswered.
fn sigint_with_a_submit_in_flight_exits_at_once() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        // Reads, never answers.
        while !c.closed {
            let _ = c.recv(Duration::from_millis(100));
        }
    });
    let child = spawn(&args(&[pool.url()], &["--pool-timeout", "60"]));
    let run = watch(child, Duration::from_secs(4), "-INT");
    run.assert_bounded("SIGINT with submits in flight");
    let unanswered = pool_field(&run.stderr(), 0, "unanswered");
    assert!(unanswered >= 1.0, "{}", run.stderr());
    let _ = std::io::stderr().flush();
    Ok(())
}

crate::tests!(
    a_difficulty_of_1e_300_is_clamped_and_memory_stays_flat,
    a_v2_target_of_all_ff_is_clamped_too,
    a_pool_that_stops_reading_while_flooding_is_dropped_and_another_mined,
    reconnect_requests_are_rate_limited,
    an_over_long_line_after_each_login_backs_off,
    a_new_reject_reason_for_every_share_is_capped,
    escape_codes_from_a_pool_never_reach_the_terminal,
    a_password_in_a_pool_url_is_never_printed,
    sigint_with_a_submit_in_flight_exits_at_once,
);
