//! Hostile monitoring-API clients: each row of issue 15's table that a client of `--api` can
//! do. The miner is pointed at a pool that answers (so it has work) and watched.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common;
use crate::watch_until;
use common::bcoin::free_port;
use common::pool::honest_pool;

/// `hashrig mine` on `pool` with the API on `port`, one CPU thread, run through `sh` with
/// the open-file limit at `nofile`.
fn miner(pool: &str, port: u16, nofile: u32) -> std::process::Child {
    let bin = std::env::var_os("HASHRIG_TEST_BIN")
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_hashrig").to_string());
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args([
            "mine",
            "--pool",
            pool,
            "--user",
            "w",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--api",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// One GET with `host`, within `limit`: the status line and the body.
fn get(port: u16, path: &str, host: &str, limit: Duration) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

fn summary_ok(port: u16) -> bool {
    get(port, "/v1/summary", "127.0.0.1", Duration::from_secs(2))
        .is_some_and(|(status, body)| status.contains("200") && body.contains("\"hashes\""))
}

/// Row: "~510 concurrent connections to --api with the usual open-file limit of 1024 (200
/// with a limit of 256)": the whole miner aborted, or the API stopped accepting for good.
fn hundreds_of_connections_under_a_low_fd_limit_take_nothing_down() -> common::Outcome {
    let pool = honest_pool();
    let port = free_port();
    let child = miner(&pool.url(), port, 256);
    let start = Instant::now();
    let mut held: Vec<TcpStream> = Vec::new();
    let mut phase = 0;
    let run = watch_until(child, Duration::from_secs(40), "-TERM", |_| {
        match phase {
            0 => {
                if summary_ok(port) {
                    phase = 1;
                }
            }
            1 => {
                // 600 connections held open: past the cap, and past the fd limit.
                for _ in 0..600 {
                    if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                        held.push(s);
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
                phase = 2;
            }
            2 => {
                held.clear();
                phase = 3;
            }
            3 => {
                // Once they are gone, the API answers again.
                if summary_ok(port) {
                    phase = 4;
                    return true;
                }
            }
            _ => return true,
        }
        start.elapsed() > Duration::from_secs(35)
    });
    run.assert_bounded("600 connections");
    assert_eq!(phase, 4, "the API never answered again\n{}", run.stderr());
    assert!(run.hashes() > 0);
    Ok(())
}

/// Rows: "a header line without CRLF, a 1 GB body, a stalled body, an unread pipeline to
/// --api": memory grew 1:1 before the token check; the single response thread was held and
/// the API was gone for everyone.
fn slow_huge_and_pipelined_requests_hold_only_their_own_connection() -> common::Outcome {
    let pool = honest_pool();
    let port = free_port();
    let child = miner(&pool.url(), port, 1024);
    let mut attacks: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let mut phase = 0;
    let mut served_during = 0;
    let mut missed = 0;
    let run = watch_until(child, Duration::from_secs(40), "-TERM", |_| {
        match phase {
            0 => {
                if summary_ok(port) {
                    phase = 1;
                }
                false
            }
            1 => {
                // A header line that never ends.
                attacks.push(std::thread::spawn(move || {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: ");
                        let chunk = vec![b'a'; 64 * 1024];
                        for _ in 0..1600 {
                            if s.write_all(&chunk).is_err() {
                                return;
                            }
                        }
                    }
                }));
                // A 1 GB body.
                attacks.push(std::thread::spawn(move || {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let _ = s.write_all(b"POST /v1/summary HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n");
                        let chunk = vec![b'b'; 64 * 1024];
                        for _ in 0..1600 {
                            if s.write_all(&chunk).is_err() {
                                return;
                            }
                        }
                    }
                }));
                // A body that stalls, held open.
                attacks.push(std::thread::spawn(move || {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let _ = s.write_all(b"GET /v1/summary HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789");
                        std::thread::sleep(Duration::from_secs(8));
                    }
                }));
                // A pipeline of requests whose answers are never read.
                attacks.push(std::thread::spawn(move || {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let one =
                            b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(20_000);
                        let _ = s.set_write_timeout(Some(Duration::from_secs(8)));
                        let _ = s.write_all(&one);
                        std::thread::sleep(Duration::from_secs(8));
                    }
                }));
                // Headers that trickle in, a byte at a time.
                attacks.push(std::thread::spawn(move || {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        for b in b"GET /v1/summary HTTP/1.1\r\nHost: localhost\r\n"
                            .iter()
                            .cycle()
                            .take(200)
                        {
                            if s.write_all(&[*b]).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }));
                phase = 2;
                false
            }
            2 => {
                // Everyone else is served meanwhile, promptly, for as long as the attacks
                // last.
                let asked = Instant::now();
                if summary_ok(port) && asked.elapsed() < Duration::from_secs(1) {
                    served_during += 1;
                } else {
                    missed += 1;
                }
                if served_during + missed >= 40 {
                    phase = 3;
                }
                std::thread::sleep(Duration::from_millis(100));
                false
            }
            _ => true,
        }
    });
    run.assert_bounded("slow and huge requests");
    assert_eq!(phase, 3, "served {served_during}\n{}", run.stderr());
    assert_eq!(
        missed, 0,
        "{missed} requests not served within 1 s during the attacks"
    );
    for a in attacks {
        let _ = a.join();
    }
    Ok(())
}

/// DNS rebinding: a page of another site whose name points at 127.0.0.1 reads the API.
fn another_sites_host_header_is_refused() -> common::Outcome {
    let pool = honest_pool();
    let port = free_port();
    let child = miner(&pool.url(), port, 1024);
    let mut seen = None;
    let run = watch_until(child, Duration::from_secs(20), "-TERM", |_| {
        if !summary_ok(port) {
            return false;
        }
        seen = get(port, "/v1/summary", "evil.example", Duration::from_secs(2));
        true
    });
    run.assert_bounded("Host check");
    let (status, body) = seen.expect("an answer");
    assert!(status.contains("421"), "{status} {body}");
    assert!(!body.contains("\"hashes\""));
    Ok(())
}

crate::tests!(
    hundreds_of_connections_under_a_low_fd_limit_take_nothing_down,
    slow_huge_and_pipelined_requests_hold_only_their_own_connection,
    another_sites_host_header_is_refused,
);
