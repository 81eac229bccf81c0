//! The monitoring API (`--api`) while hashrig mines against a scripted pool: every shape as
//! documented, counters equal to the miner's own summary, `/metrics` read by a Prometheus text
//! parser, the dashboard page served, and the remote rules.

use crate::common;

use std::time::Duration;

use common::bcoin::{free_port, http};
use common::miner::{hashrig, run, spawn, stop, summary, summary_field, wait_for};
use common::pool::{Conn, Pool, EASY};
use serde_json::{json, Value};

/// A GET with an Accept header; the whole answer (head, lower-cased, and body).
fn raw_get(port: u16, path: &str, accept: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) => format!("{}\r\n\r\n{body}", head.to_ascii_lowercase()),
        None => text,
    }
}

fn get(port: u16, path: &str) -> Option<Value> {
    let body = http(port, "GET", path, "").ok()?;
    serde_json::from_str(&body).ok()
}

/// A pool that gives 3 shares' worth of easy work, then work nothing meets (the counters
/// stop moving, so the API and the summary can be compared).
fn three_then_frozen(_: usize, c: &mut Conn) {
    if !c.handshake() {
        return;
    }
    c.set_difficulty(EASY);
    c.notify(true);
    let r = c.record();
    c.serve(|_| r.accepted() >= 3);
    c.set_difficulty(1e300);
    c.notify(true);
    c.serve(|_| false);
}

fn api_shapes_and_counters_agree_with_the_summary() -> common::Outcome {
    let pool = Pool::start(three_then_frozen);
    let port = free_port();
    let mut child = spawn(&[
        "mine".into(),
        "--pool".into(),
        pool.url(),
        "--user".into(),
        "worker.1".into(),
        "--backend".into(),
        "cpu".into(),
        "--threads".into(),
        "1".into(),
        "--api".into(),
        format!("127.0.0.1:{port}"),
        "--duration".into(),
        "60".into(),
    ]);
    wait_for(
        "three accepted shares in the API",
        Duration::from_secs(30),
        || get(port, "/v1/summary").is_some_and(|s| s["accepted"] == 3),
    );
    // Let the rate history fill a little (two rates: three samples, one a second).
    wait_for(
        "two rate samples in the API",
        Duration::from_secs(20),
        || {
            get(port, "/v1/history")
                .is_some_and(|h| h["samples"].as_array().is_some_and(|s| s.len() >= 2))
        },
    );
    let summary_json = get(port, "/v1/summary").unwrap();
    let devices = get(port, "/v1/devices").unwrap();
    let pools = get(port, "/v1/pools").unwrap();
    let history = get(port, "/v1/history").unwrap();
    let metrics = http(port, "GET", "/metrics", "").unwrap();
    let openmetrics = raw_get(
        port,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    );
    let page = http(port, "GET", "/", "").unwrap();
    let missing = http(port, "GET", "/nope", "").unwrap();
    stop(&mut child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("monitoring API on http://127.0.0.1:{port}/")),
        "{stderr}"
    );

    // /v1/summary: the documented fields, equal to the summary line at exit.
    let line = summary(&stderr);
    for key in ["accepted", "rejected", "stale", "unanswered", "kept"] {
        assert_eq!(
            summary_json[key].as_f64().unwrap(),
            summary_field(line, key),
            "{key}: {summary_json}"
        );
    }
    for key in [
        "source",
        "uptime_s",
        "hashrate_5s",
        "hashrate_avg",
        "hashes",
        "hw_errors",
        "blocks",
        "switches",
        "pool_in_use",
    ] {
        assert!(
            summary_json.get(key).is_some(),
            "{key} missing: {summary_json}"
        );
    }
    assert_eq!(summary_json["pool_in_use"], 0);
    assert!(
        summary_json["hashrate_5s"].as_f64().unwrap() > 0.0,
        "{summary_json}"
    );
    // /v1/devices: one CPU backend, hashing.
    let d = &devices.as_array().unwrap()[0];
    assert!(d["name"].as_str().unwrap().starts_with("cpu "), "{d}");
    for key in [
        "index",
        "hashrate_5s",
        "hashrate_avg",
        "hashes",
        "hw_errors",
        "failed",
        "max_switch_ms",
    ] {
        assert!(d.get(key).is_some(), "{key} missing: {d}");
    }
    // /v1/pools: the pool's own count of accepted shares.
    let p = &pools.as_array().unwrap()[0];
    assert_eq!(p["url"], pool.url());
    assert_eq!(
        p["accepted"].as_u64().unwrap() as usize,
        pool.record.accepted()
    );
    assert_eq!(p["in_use"], true);
    assert_eq!(p["rejected_by_reason"], json!({}));
    for key in [
        "stale",
        "unanswered",
        "block_candidates",
        "difficulty",
        "connects",
        "failovers",
        "effective_hashrate",
        "submit_ms_mean",
        "submit_ms_max",
    ] {
        assert!(p.get(key).is_some(), "{key} missing: {p}");
    }
    assert_eq!(p["difficulty"], 1e300);
    // /v1/history: samples of [t, rate per device].
    assert_eq!(history["devices"].as_array().unwrap().len(), 1);
    assert!(
        history["samples"].as_array().unwrap().len() >= 2,
        "{history}"
    );
    // /metrics: Prometheus text, and the counters agree.
    let lines = metrics.lines().map(|l| Ok(l.to_string()));
    let scrape =
        prometheus_parse::Scrape::parse(lines).expect("a Prometheus text parser reads /metrics");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} {label:?} not in:\n{metrics}"))
    };
    assert_eq!(
        value("hashrig_shares_total", Some(("result", "accepted"))),
        3.0
    );
    assert_eq!(
        value("hashrig_solutions_total", Some(("result", "accepted"))),
        3.0
    );
    assert_eq!(
        value("hashrig_pool_in_use", Some(("pool", &pool.url()))),
        1.0
    );
    assert_eq!(
        value("hashrig_pool_connected", Some(("pool", &pool.url()))),
        1.0
    );
    // Devices labelled by backend, kernel and index; the build named.
    let rate = scrape
        .samples
        .iter()
        .find(|s| s.metric == "hashrig_hashrate_hashes_per_second")
        .unwrap_or_else(|| panic!("no hash rate in:\n{metrics}"));
    assert_eq!(rate.labels.get("backend"), Some("cpu"), "{metrics}");
    assert_eq!(rate.labels.get("index"), Some("0"), "{metrics}");
    assert!(
        rate.labels.get("kernel").is_some_and(|k| !k.is_empty()),
        "{metrics}"
    );
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "hashrig_build_info")
        .unwrap_or_else(|| panic!("no build info in:\n{metrics}"));
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.labels.get("commit").is_some());
    // The classic text format unless OpenMetrics is asked for (as Prometheus does).
    assert!(!metrics.contains("# EOF"), "{metrics}");
    assert!(
        metrics.contains("# TYPE hashrig_hashes_total counter"),
        "{metrics}"
    );
    assert!(
        openmetrics.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{openmetrics}"
    );
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");
    assert!(value("hashrig_hashes_total", None) > 0.0);
    assert!(value("hashrig_uptime_seconds", None) > 0.0);
    for name in [
        "hashrig_hashrate_hashes_per_second",
        "hashrig_hardware_errors_total",
        "hashrig_blocks_total",
        "hashrig_pool_difficulty",
        "hashrig_pool_failovers_total",
    ] {
        value(name, None);
    }
    // The dashboard is one self-contained page.
    assert!(page.contains("<canvas id=\"chart\""), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "outside assets in the page"
    );
    assert!(missing.contains("no such path"));
    Ok(())
}

fn remote_addresses_need_the_flag_and_a_token() -> common::Outcome {
    // Refused at start, with exit status 2 (a usage error), before anything listens:
    // 192.0.2.1 is a documentation address (TEST-NET-1), never bound here.
    let out = run(
        &[
            "mine",
            "--pool",
            "stratum+tcp://127.0.0.1:9",
            "--user",
            "u",
            "--api",
            "192.0.2.1:4999",
            "--duration",
            "1",
        ]
        .map(String::from),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let out = run(
        &[
            "mine",
            "--pool",
            "stratum+tcp://127.0.0.1:9",
            "--user",
            "u",
            "--api",
            "192.0.2.1:4999",
            "--api-allow-remote",
            "--duration",
            "1",
        ]
        .map(String::from),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --api-token"));
    // With a token, every request must carry it (shown on loopback: tests never listen
    // beyond 127.0.0.1, so the allowed remote case is not started here).
    let port = free_port();
    let mut child = hashrig()
        .args([
            "mine",
            "--pool",
            "stratum+tcp://127.0.0.1:9",
            "--user",
            "u",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--duration",
            "20",
        ])
        .arg("--api")
        .arg(format!("127.0.0.1:{port}"))
        .env("HASHRIG_API_TOKEN", "s3cret")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the API", Duration::from_secs(20), || {
        http(port, "GET", "/v1/summary", "").is_ok()
    });
    let plain = http(port, "GET", "/v1/summary", "").unwrap();
    assert!(plain.contains("a bearer token is required"), "{plain}");
    let authed = bearer(port, "/v1/summary", "s3cret");
    assert!(authed.contains("\"accepted\""), "{authed}");
    let wrong = bearer(port, "/v1/summary", "nope");
    assert!(wrong.contains("a bearer token is required"), "{wrong}");
    assert!(bearer(port, "/metrics", "nope").starts_with("HTTP/1.1 401"));
    stop(&mut child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("s3cret"));
    Ok(())
}

/// Counts the lines of `child`'s stdout that start with `prefix`, in a thread.
fn count_lines(
    child: &mut std::process::Child,
    prefix: &'static str,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n2 = std::sync::Arc::clone(&n);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with(prefix) {
                n2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    n
}

fn load(n: &std::sync::atomic::AtomicUsize) -> u64 {
    n.load(std::sync::atomic::Ordering::SeqCst) as u64
}

/// Solo against bcoin: the API's block count is the miner's own, and bcoin's.
fn api_while_solo_mining_on_bcoin() -> common::Outcome {
    let node = common::bcoin::Bcoin::start(false)?;
    let port = free_port();
    let journal = common::miner::journal_path("api-solo");
    let mut args = common::miner::mine_args(&node.url(), &journal);
    args.extend(["--threads", "1", "--duration", "60", "--api"].map(String::from));
    args.push(format!("127.0.0.1:{port}"));
    let mut child = spawn(&args);
    let blocks = count_lines(&mut child, "accepted block ");
    let mut seen = None;
    wait_for(
        "the API to show the miner's blocks",
        Duration::from_secs(40),
        || {
            let Some(s) = get(port, "/v1/summary") else {
                return false;
            };
            let api = s["blocks"].as_u64().unwrap_or(0);
            if api >= 2 && api == load(&blocks) {
                seen = Some((api, s));
            }
            seen.is_some()
        },
    );
    let (api_blocks, summary_json) = seen.unwrap();
    let height = node.height();
    stop(&mut child);
    let _ = child.wait_with_output();
    assert!(
        height >= api_blocks,
        "bcoin at {height}, the API says {api_blocks}"
    );
    assert!(
        summary_json["source"]
            .as_str()
            .unwrap()
            .starts_with("node "),
        "{summary_json}"
    );
    assert_eq!(get(port, "/v1/pools"), None, "the API ended with the run");
    // Solo: regtest's network difficulty (4.66e-10) and the time to a block at this rate.
    let network = summary_json["network_difficulty"].as_f64().unwrap();
    assert!((network - 4.656e-10).abs() < 1e-12, "{summary_json}");
    let expected = summary_json["expected_block_s"].as_f64().unwrap();
    assert!(expected > 0.0 && expected < 1.0, "{summary_json}");
    // Every block beat the network difficulty: so did the best share.
    assert!(
        summary_json["best_share"].as_f64().unwrap() >= network,
        "{summary_json}"
    );
    Ok(())
}

/// Through translator_sv2: the API's accepted count is the pool's own, at one moment.
fn api_while_pool_mining_through_the_reference_stack() -> common::Outcome {
    let stack = common::sv2::Stack::start()?;
    let translator = stack.translator("api");
    let port = free_port();
    let mut child = spawn(&[
        "mine".into(),
        "--pool".into(),
        format!("stratum+tcp://127.0.0.1:{}", translator.port),
        "--user".into(),
        "worker.1".into(),
        "--backend".into(),
        "cpu".into(),
        "--threads".into(),
        "1".into(),
        "--duration".into(),
        "60".into(),
        "--api".into(),
        format!("127.0.0.1:{port}"),
    ]);
    let mut agreed = None;
    wait_for(
        "the API to agree with the pool",
        Duration::from_secs(40),
        || {
            let Some(pools) = get(port, "/v1/pools") else {
                return false;
            };
            let api = pools[0]["accepted"].as_f64().unwrap_or(0.0);
            let pool = stack.metric("sv2_client_shares_accepted_total");
            if api >= 3.0 && api == pool {
                agreed = Some(api);
            }
            agreed.is_some()
        },
    );
    let metrics = http(port, "GET", "/metrics", "").unwrap();
    stop(&mut child);
    let _ = child.wait_with_output();
    let url = format!("stratum+tcp://127.0.0.1:{}", translator.port);
    assert!(
        metrics.contains(&format!("hashrig_pool_in_use{{pool=\"{url}\"}} 1")),
        "{metrics}"
    );
    Ok(())
}

/// GET with a bearer token (raw HTTP: the helper sends basic auth).
fn bearer(port: u16, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

crate::tests!(
    api_while_solo_mining_on_bcoin,
    api_while_pool_mining_through_the_reference_stack,
    api_shapes_and_counters_agree_with_the_summary,
    remote_addresses_need_the_flag_and_a_token,
);
