//! `hashrig mine --pool` against scripted Stratum v1 servers (tests/common/pool.rs): an honest
//! one that checks every share with its own header assembly, and every kind of misbehaviour
//! a pool or a proxy can show. None of these needs anything installed.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::miner::{pool_field, run, spawn, wait_for};
use common::pool::{honest_pool, Conn, Pool, Record, EASY, MASK};
use serde_json::{json, Value};

/// `hashrig mine` on `pools` with one CPU thread, quick timeouts and `extra` flags.
fn args(pools: &[String], extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["mine".into()];
    for p in pools {
        a.push("--pool".into());
        a.push(p.clone());
    }
    // Defaults, unless `extra` gives the flag itself.
    for (flag, value) in [
        ("--user", "worker.1"),
        ("--backend", "cpu"),
        ("--threads", "1"),
        ("--nonces-per-roll", "4194304"),
        ("--pool-timeout", "3"),
    ] {
        if !extra.contains(&flag) {
            a.push(flag.into());
            a.push(value.into());
        }
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn mine(pools: &[String], extra: &[&str]) -> (String, String, bool) {
    let out = run(&args(pools, extra), Duration::from_secs(60));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// A scrypt pool: its difficulty is 2^16 times easier than SHA-256d's (difficulty 1 is the
/// target `0xffff * 2^224`), and it checks each share's scrypt hash against that. At
/// difficulty 0.01 a share takes about 655 scrypt hashes: ignoring the factor would make it
/// 2^16 times harder (no share in a minute), applying it twice would send shares the pool
/// refuses as low difficulty.
fn scrypt_shares_meet_the_pools_difficulty_times_2_16() -> common::Outcome {
    let pool = Pool::start(|_, c| {
        c.scrypt = true;
        c.difficulty = 0.01;
        c.honest();
    });
    let (stdout, stderr, ok) = mine(&[pool.url()], &["--algo", "scrypt", "--shares", "5"]);
    assert!(ok, "{stderr}");
    let r = &pool.record;
    assert!(r.accepted() >= 5, "{stderr}");
    assert!(
        r.rejected.lock().unwrap().is_empty(),
        "{:?}\n{stderr}",
        r.rejected.lock().unwrap()
    );
    assert_eq!(stdout.matches("accepted share").count(), r.accepted());
    // Mined with this CPU's best scrypt kernel.
    let best = hashrig::backend::cpu::scrypt::ScryptKernel::best();
    assert!(
        stderr.contains(&format!("cpu {} x1", best.name())),
        "{stderr}"
    );
    // The pool's difficulty is shown on its own scale.
    assert_eq!(pool_field(&stderr, 0, "difficulty"), 0.01, "{stderr}");
    // Stratum V2 is SHA-256d's: a scrypt run refuses a stratum2 pool.
    let (_, stderr, ok) = mine(
        &["stratum2+tcp://127.0.0.1:1/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72".into()],
        &["--algo", "scrypt"],
    );
    assert!(
        !ok && stderr.contains("Stratum V2 is SHA-256d's"),
        "{stderr}"
    );
    Ok(())
}

fn shares_are_accepted_with_rolled_version_bits() -> common::Outcome {
    let pool = honest_pool();
    let (stdout, stderr, ok) = mine(&[pool.url()], &["--shares", "8"]);
    assert!(ok, "{stderr}");
    let r = &pool.record;
    assert!(r.accepted() >= 8, "{stderr}");
    assert!(
        r.rejected.lock().unwrap().is_empty(),
        "{:?}",
        r.rejected.lock().unwrap()
    );
    assert_eq!(
        stdout.matches("accepted share").count(),
        r.accepted(),
        "{stdout}"
    );
    let rolled = r.rolled.lock().unwrap().clone();
    assert!(rolled.iter().all(|b| b & !MASK == 0), "{rolled:x?}");
    assert!(
        rolled.iter().any(|&b| b != 0),
        "no share had rolled version bits: {rolled:x?}"
    );
    // Every submit carried the version field once rolling was negotiated.
    for (_, req) in r.requests.lock().unwrap().iter() {
        if req["method"] == "mining.submit" {
            assert_eq!(req["params"].as_array().unwrap().len(), 6, "{req}");
        }
    }
    assert_eq!(pool_field(&stderr, 0, "accepted"), r.accepted() as f64);
    assert_eq!(pool_field(&stderr, 0, "connects"), 1.0);
    // The submit path (backend report to the line on the socket) is measured.
    let max = pool_field(&stderr, 0, "submit_ms_max");
    eprintln!(
        "submit path: mean {} ms, max {max} ms",
        pool_field(&stderr, 0, "submit_ms_mean")
    );
    assert!(max > 0.0, "{stderr}");
    assert!(stderr.contains("version rolling mask 1fffe000"), "{stderr}");
    Ok(())
}

fn without_version_rolling_submits_have_five_fields() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        // An old pool: mining.configure is an unknown method.
        let Some(req) = c.recv(Duration::from_secs(5)) else {
            return;
        };
        assert_eq!(req["method"], "mining.configure");
        c.error(&req, -3, "Method not found");
        c.honest();
    });
    let (_, stderr, ok) = mine(
        &[pool.url()],
        &["--shares", "3", "--suggest-difficulty", "0.5"],
    );
    assert!(ok, "{stderr}");
    let requests = pool.record.requests.lock().unwrap().clone();
    let submits: Vec<&Value> = requests
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["method"] == "mining.submit")
        .collect();
    assert!(submits.len() >= 3);
    assert!(submits
        .iter()
        .all(|r| r["params"].as_array().unwrap().len() == 5));
    assert!(stderr.contains("no version rolling"), "{stderr}");
    // suggest_difficulty goes before authorize.
    let methods = pool.record.methods();
    let at = |m: &str| methods.iter().position(|x| x == m).unwrap();
    assert!(
        at("mining.suggest_difficulty") < at("mining.authorize"),
        "{methods:?}"
    );
    assert_eq!(
        requests
            .iter()
            .find(|(_, r)| r["method"] == "mining.suggest_difficulty")
            .unwrap()
            .1["params"],
        json!([0.5])
    );
    Ok(())
}

fn a_new_difficulty_applies_from_the_next_job() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        let r = c.record();
        c.serve(|_| r.accepted() >= 2);
        // Very hard from the next job: shares of the current job still count at EASY.
        c.send_json(json!({"id": null, "method": "mining.set_difficulty", "params": [1e300]}));
        c.serve(|_| r.accepted() >= 4);
        c.notify(false);
        c.serve(|_| false);
    });
    let (_, stderr, _) = mine(&[pool.url()], &["--duration", "4"]);
    let accepted = pool.record.accepted();
    assert!(
        accepted >= 4,
        "shares of the old job stopped at the new difficulty:\n{stderr}"
    );
    // Nothing meets difficulty 1e300: no share of the new job.
    let rejected = pool.record.rejected.lock().unwrap().clone();
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(pool_field(&stderr, 0, "difficulty"), 1e300);
    Ok(())
}

fn garbage_and_unknown_messages_are_ignored_and_mining_goes_on() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        let good = c.notify(true);
        let r = c.record();
        c.serve(|_| r.accepted() >= 1);
        for line in [
            "garbage\n",
            "[1,2,3]\n",
            "{\"id\":999,\"result\":true,\"error\":null}\n",
            "{\"id\":42,\"method\":\"mining.bogus\",\"params\":[]}\n",
            "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"x1\",\"zz\",\"\",\"\",[],\"20000000\",\"207fffff\",\"65000000\",true]}\n",
            "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"x2\"]}\n",
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[-1]}\n",
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0]}\n",
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[\"NaN\"]}\n",
            "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1e999]}\n",
            "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"00\",0]}\n",
            "{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"00\",64]}\n",
            "\u{0}\u{1}\u{2}\n",
            "{\"id\":null,\"method\":\"client.show_message\",\"params\":[\"maintenance at noon\"]}\n",
            "{\"id\":77,\"method\":\"client.get_version\",\"params\":[]}\n",
        ] {
            c.send(line);
        }
        let _ = good;
        c.serve(|_| false);
    });
    let (_, stderr, ok) = mine(&[pool.url()], &["--shares", "4"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        pool.record.connections.load(Ordering::SeqCst),
        1,
        "{stderr}"
    );
    assert!(pool.record.rejected.lock().unwrap().is_empty());
    for expected in [
        "ignored a bad message",
        "not JSON",
        "ignored an answer to request 999",
        "ignored unknown method \"mining.bogus\"",
        "prevhash is not hex",
        "9 expected",
        "a difficulty must be a finite number above 0",
        "extranonce2_size 0 is outside",
        "extranonce2_size 64 is outside",
        "says: maintenance at noon",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
    let requests = pool.record.requests.lock().unwrap().clone();
    let answer = |id: i64| {
        requests
            .iter()
            .find(|(_, r)| r["id"] == id && r.get("method").is_none())
            .map(|(_, r)| r.clone())
    };
    assert_eq!(
        answer(77).unwrap()["result"],
        json!(concat!("hashrig/", env!("CARGO_PKG_VERSION")))
    );
    assert!(!answer(42).unwrap()["error"].is_null());
    Ok(())
}

/// Runs hashrig against a pool whose first connections misbehave with `bad` and whose later
/// ones are honest; returns stderr after `--shares 2` on the honest one.
fn misbehaves_then_honest(
    bad_connections: usize,
    bad: fn(usize, &mut Conn),
    extra: &[&str],
) -> String {
    let pool = Pool::start(move |n, c: &mut Conn| {
        if n < bad_connections {
            bad(n, c)
        } else {
            c.honest()
        }
    });
    let mut flags = vec!["--shares", "2"];
    flags.extend_from_slice(extra);
    let (_, stderr, ok) = mine(&[pool.url()], &flags);
    assert!(ok, "{stderr}");
    assert!(
        pool.record.connections.load(Ordering::SeqCst) > bad_connections,
        "{stderr}"
    );
    assert!(pool.record.accepted() >= 2, "{stderr}");
    stderr
}

fn a_10_mb_line_drops_the_connection() -> common::Outcome {
    let stderr = misbehaves_then_honest(
        1,
        |_, c| {
            if c.handshake() {
                let chunk = "x".repeat(64 * 1024);
                for _ in 0..160 {
                    c.send(&chunk);
                    if c.closed {
                        return;
                    }
                }
                c.serve(|_| false);
            }
        },
        &[],
    );
    assert!(stderr.contains("a line of over 1048576 bytes"), "{stderr}");
    Ok(())
}

fn a_wrong_extranonce2_size_is_refused() -> common::Outcome {
    let stderr = misbehaves_then_honest(
        2,
        |n, c| {
            c.extranonce2_size = if n == 0 { 0 } else { 64 };
            c.handshake();
            c.serve(|_| false);
        },
        &[],
    );
    assert!(
        stderr.contains("extranonce2_size 0 is outside 1..=16"),
        "{stderr}"
    );
    assert!(
        stderr.contains("extranonce2_size 64 is outside 1..=16"),
        "{stderr}"
    );
    Ok(())
}

fn a_pool_that_does_not_answer_subscribe_is_left() -> common::Outcome {
    let stderr = misbehaves_then_honest(
        1,
        |_, c| {
            // Reads everything, answers nothing.
            while c.recv(Duration::from_secs(10)).is_some() {}
        },
        &["--pool-timeout", "1"],
    );
    assert!(
        stderr.contains("did not answer mining.subscribe within 1 s"),
        "{stderr}"
    );
    Ok(())
}

fn a_silent_pool_is_left() -> common::Outcome {
    let stderr = misbehaves_then_honest(
        1,
        |_, c| {
            // Logged in, but never a job.
            if c.handshake() {
                c.serve(|_| false);
            }
        },
        &["--pool-idle", "1"],
    );
    assert!(
        stderr.contains("no new job from the pool for 1 s"),
        "{stderr}"
    );
    Ok(())
}

fn an_abrupt_close_reconnects() -> common::Outcome {
    let stderr = misbehaves_then_honest(
        1,
        |_, c| {
            if !c.handshake() {
                return;
            }
            c.set_difficulty(EASY);
            c.notify(true);
            // The first share is never answered: the connection just ends.
            while let Some(req) = c.recv(Duration::from_secs(10)) {
                if req["method"] == "mining.submit" {
                    c.close();
                    return;
                }
            }
        },
        &[],
    );
    assert!(
        stderr.contains("the pool closed the connection"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the connection ended before the pool answered"),
        "{stderr}"
    );
    assert!(common::miner::summary_field(common::miner::summary(&stderr), "unanswered") >= 1.0);
    Ok(())
}

fn a_reconnect_offers_the_last_session_id_back() -> common::Outcome {
    let pool = Pool::start(|n, c: &mut Conn| {
        if n == 0 {
            if c.handshake() {
                c.close();
            }
        } else {
            c.honest();
        }
    });
    let (_, stderr, ok) = mine(&[pool.url()], &["--shares", "1"]);
    assert!(ok, "{stderr}");
    let subscribes: Vec<(usize, Value)> = pool
        .record
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["method"] == "mining.subscribe")
        .cloned()
        .collect();
    assert_eq!(subscribes[0].1["params"].as_array().unwrap().len(), 1);
    // The first connection's notify subscription id ("s0") comes back on the second.
    assert_eq!(subscribes[1].0, 1);
    assert_eq!(subscribes[1].1["params"][1], "s0", "{subscribes:?}");
    Ok(())
}

fn an_old_pool_that_drops_mining_configure_is_mined_without_it() -> common::Outcome {
    let pool = Pool::start(|n, c: &mut Conn| {
        if n == 0 {
            // Old servers close the connection on a method they do not know.
            if let Some(req) = c.recv(Duration::from_secs(5)) {
                assert_eq!(req["method"], "mining.configure");
            }
            c.close();
        } else {
            c.honest();
        }
    });
    let (_, stderr, ok) = mine(&[pool.url()], &["--shares", "2"]);
    assert!(ok, "{stderr}");
    let requests = pool.record.requests.lock().unwrap().clone();
    let first_of = |conn: usize| {
        requests
            .iter()
            .find(|(n, _)| *n == conn)
            .map(|(_, r)| r["method"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        first_of(1).as_deref(),
        Some("mining.subscribe"),
        "{requests:?}"
    );
    assert!(stderr.contains("no version rolling"), "{stderr}");
    Ok(())
}

fn the_password_can_come_from_the_environment() -> common::Outcome {
    let pool = honest_pool();
    let out = common::miner::hashrig()
        .args(args(&[pool.url()], &["--shares", "1"]))
        .env("HASHRIG_POOL_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = pool.record.requests.lock().unwrap().clone();
    let authorize = requests
        .iter()
        .find(|(_, r)| r["method"] == "mining.authorize")
        .unwrap();
    assert_eq!(authorize.1["params"], json!(["worker.1", "s3cret"]));
    // The password is in no log line.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
    Ok(())
}

fn a_flood_of_notifies_is_coalesced() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        for i in 0..5000 {
            c.notify(i % 100 == 0);
        }
        c.serve(|_| false);
    });
    let (_, stderr, ok) = mine(&[pool.url()], &["--shares", "3"]);
    assert!(ok, "{stderr}");
    let switches = common::miner::summary_field(common::miner::summary(&stderr), "switches");
    assert!(
        switches < 2500.0,
        "{switches} switches for 5000 notifies:\n{stderr}"
    );
    // A share found on a job hashrig was still mining while the rest of the flood was in
    // flight can reach the pool after a later clean job: the pool calls it stale (21). No
    // share may be refused for anything else, and none for the last job.
    let rejected = pool.record.rejected.lock().unwrap().clone();
    assert!(
        rejected
            .iter()
            .all(|(job, why)| why.starts_with("21 ") && job != "j5000"),
        "{rejected:?}"
    );
    Ok(())
}

fn a_refused_login_fails_over_to_the_next_pool() -> common::Outcome {
    let refusing = Pool::start(|_, c: &mut Conn| loop {
        let Some(req) = c.recv(Duration::from_secs(10)) else {
            return;
        };
        match req["method"].as_str() {
            Some("mining.authorize") => c.answer(&req, json!(false)),
            Some("mining.subscribe") => c.answer(&req, json!([[], "00000001", 4])),
            _ => c.error(&req, 20, "no"),
        }
    });
    let good = honest_pool();
    let (_, stderr, ok) = mine(&[refusing.url(), good.url()], &["--shares", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("refused the login of \"worker.1\""),
        "{stderr}"
    );
    assert!(good.record.accepted() >= 2);
    assert_eq!(
        pool_field(&stderr, 1, "accepted"),
        good.record.accepted() as f64
    );
    Ok(())
}

fn failover_and_return_to_the_primary() -> common::Outcome {
    let record = Arc::new(Record::default());
    let behave: Arc<common::pool::Behave> = Arc::new(|_, c: &mut Conn| c.honest());
    let primary = Pool::start_on(0, Arc::clone(&record), Arc::clone(&behave));
    let port = primary.port;
    let secondary = honest_pool();
    let mut child = spawn(&args(
        &[primary.url(), secondary.url()],
        &["--pool-failback", "1", "--duration", "50"],
    ));
    wait_for("shares on the primary", Duration::from_secs(20), || {
        record.accepted() >= 2
    });
    primary.stop();
    drop(primary);
    let moved = Instant::now();
    wait_for("shares on the secondary", Duration::from_secs(20), || {
        secondary.record.accepted() >= 2
    });
    let to_secondary = moved.elapsed();
    let before = record.accepted();
    let _primary = Pool::start_on(port, Arc::clone(&record), behave);
    wait_for(
        "shares on the primary again",
        Duration::from_secs(20),
        || record.accepted() >= before + 2,
    );
    common::miner::stop(&mut child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(to_secondary < Duration::from_secs(10), "{to_secondary:?}");
    assert!(pool_field(&stderr, 0, "connects") >= 2.0, "{stderr}");
    assert!(pool_field(&stderr, 0, "failovers") >= 1.0, "{stderr}");
    assert!(pool_field(&stderr, 1, "failovers") >= 1.0, "{stderr}");
    assert!(stderr.contains("leaving pool 1"), "{stderr}");
    // Every share is accounted for: each one sent was answered, or counted as unanswered.
    let sent = record.accepted() + secondary.record.accepted();
    let accepted =
        common::miner::summary_field(common::miner::summary(&stderr), "accepted") as usize;
    assert_eq!(accepted, sent, "{stderr}");
    Ok(())
}

fn client_reconnect_to_the_same_host_is_followed_another_host_is_not() -> common::Outcome {
    let target = honest_pool();
    let port = target.port;
    let first = Pool::start(move |_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.send_json(
            json!({"id": null, "method": "client.reconnect", "params": ["evil.example", 3333, 0]}),
        );
        c.send_json(
            json!({"id": null, "method": "client.reconnect", "params": ["127.0.0.1", port, 0]}),
        );
        c.serve(|_| false);
    });
    let (_, stderr, ok) = mine(&[first.url()], &["--shares", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("ignored client.reconnect to another host \"evil.example\""),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("reconnect to stratum+tcp://127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(target.record.accepted() >= 2);
    Ok(())
}

fn set_extranonce_applies_to_the_next_job() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(EASY);
        c.notify(true);
        let r = c.record();
        c.serve(|_| r.accepted() >= 1);
        c.extranonce1 = vec![0xbe, 0xef, 0x00, 0x01];
        c.extranonce2_size = 3;
        c.send_json(
            json!({"id": null, "method": "mining.set_extranonce", "params": ["beef0001", 3]}),
        );
        // Only the new job is valid now (its shares are checked with the new extranonce).
        c.notify(true);
        c.serve(|_| false);
    });
    let (_, stderr, ok) = mine(&[pool.url()], &["--shares", "4"]);
    assert!(ok, "{stderr}");
    let rejected = pool.record.rejected.lock().unwrap().clone();
    // A share of the old job in flight when the switch came may be refused; no share of
    // the new job may be.
    assert!(rejected.iter().all(|(job, _)| job == "j1"), "{rejected:?}");
    let requests = pool.record.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|(_, r)| r["method"] == "mining.submit"
        && r["params"][1] == "j2"
        && r["params"][2].as_str().unwrap().len() == 6));
    Ok(())
}

/// Clean-job switch latency, per backend: time from a clean notify reaching the dispatcher
/// to each backend leaving the old job (printed; the bound only catches a hang).
fn clean_job_switch_latency_per_backend() -> common::Outcome {
    let pool = Pool::start(|_, c: &mut Conn| {
        if !c.handshake() {
            return;
        }
        c.set_difficulty(1e6);
        for _ in 0..20 {
            c.notify(true);
            let until = Instant::now() + Duration::from_millis(150);
            c.serve(|_| Instant::now() >= until);
        }
        c.serve(|_| false);
    });
    let (_, stderr, _) = mine(&[pool.url()], &["--duration", "4", "--threads", "2"]);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("backend cpu"))
        .unwrap_or_else(|| panic!("{stderr}"));
    eprintln!("{line}");
    let ms = common::miner::summary_field(line, "max_switch_ms");
    assert!(
        common::miner::summary_field(common::miner::summary(&stderr), "switches") >= 15.0,
        "{stderr}"
    );
    assert!(ms > 0.0 && ms < 2000.0, "{line}");
    Ok(())
}

fn tls_front_with_pool_ca_and_refused_without() -> common::Outcome {
    let pool = honest_pool();
    let front = common::tls::TlsFront::start(pool.port);
    let url = format!("stratum+ssl://127.0.0.1:{}", front.port);
    let ca = front.ca_file.display().to_string();
    let (_, stderr, ok) = mine(
        std::slice::from_ref(&url),
        &["--shares", "2", "--pool-ca", &ca],
    );
    assert!(ok, "{stderr}");
    assert!(pool.record.accepted() >= 2);
    // Without the CA (system roots only) the self-signed chain is refused.
    let before = pool.record.accepted();
    let (_, stderr, _) = mine(&[url], &["--duration", "3"]);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    assert!(
        stderr.contains("UnknownIssuer") || stderr.contains("unknown issuer"),
        "{stderr}"
    );
    assert_eq!(pool.record.accepted(), before);
    Ok(())
}

crate::tests!(
    scrypt_shares_meet_the_pools_difficulty_times_2_16,
    shares_are_accepted_with_rolled_version_bits,
    without_version_rolling_submits_have_five_fields,
    a_new_difficulty_applies_from_the_next_job,
    garbage_and_unknown_messages_are_ignored_and_mining_goes_on,
    a_10_mb_line_drops_the_connection,
    a_wrong_extranonce2_size_is_refused,
    a_pool_that_does_not_answer_subscribe_is_left,
    a_silent_pool_is_left,
    an_abrupt_close_reconnects,
    a_reconnect_offers_the_last_session_id_back,
    an_old_pool_that_drops_mining_configure_is_mined_without_it,
    the_password_can_come_from_the_environment,
    a_flood_of_notifies_is_coalesced,
    a_refused_login_fails_over_to_the_next_pool,
    failover_and_return_to_the_primary,
    client_reconnect_to_the_same_host_is_followed_another_host_is_not,
    set_extranonce_applies_to_the_next_job,
    clean_job_switch_latency_per_backend,
    tls_front_with_pool_ca_and_refused_without,
);
