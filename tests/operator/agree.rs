//! Every view counts the same: while hashrig mines against a scripted pool that refuses some
//! shares and replaces its job every few milliseconds (so solutions go stale in the miner's
//! own loop and in the session), the exit summary's totals equal its per-pool lines, and at
//! one moment (the pool then stops giving work anyone can meet, so the counts freeze)
//! `/v1/summary`, `/v1/pools` and `/metrics` agree with each other and with the summary; and
//! cgminer's API, read by a client written for cgminer (pyasic's), says the same.

use crate::common;

use std::time::{Duration, Instant};

use common::bcoin::{free_port, http};
use common::miner::{pool_field, spawn, stop, summary, summary_field, wait_for};
use common::pool::{Conn, Pool, EASY};
use serde_json::Value;

fn get(port: u16, path: &str) -> Value {
    let body = http(port, "GET", path, "").unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Four seconds of easy work replaced every 10 ms, every third share refused; then frozen.
fn churning(_: usize, c: &mut Conn) {
    if !c.handshake() {
        return;
    }
    c.set_difficulty(EASY / 10.0);
    c.notify(true);
    let start = Instant::now();
    let mut last = Instant::now();
    let mut shares = 0;
    while !c.closed && start.elapsed() < Duration::from_secs(4) {
        if last.elapsed() >= Duration::from_millis(10) {
            c.notify(true);
            last = Instant::now();
        }
        let Some(request) = c.recv(Duration::from_millis(2)) else {
            continue;
        };
        if request["method"] == "mining.submit" {
            shares += 1;
            if shares % 3 == 0 {
                c.error(&request, 23, "refused by the test");
                continue;
            }
        }
        c.answer_request(&request);
    }
    c.set_difficulty(1e300);
    c.notify(true);
    c.serve(|_| false);
}

fn metric(scrape: &prometheus_parse::Scrape, name: &str, label: (&str, &str)) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("{name} {label:?} not scraped"))
}

/// What every view said at one moment after the counts froze, and the run's stderr.
struct Frozen {
    total: Value,
    pools: Value,
    metrics: String,
    /// pyasic's answers (when `--api-cgminer` was served).
    cgminer: Option<Value>,
    stderr: String,
    url: String,
}

/// Mines against the churning pool until its counts freeze, then reads every view (and
/// cgminer's API through `client`, a Python with pyasic, when given).
fn frozen_run(client: Option<&str>) -> Frozen {
    let pool = Pool::start(churning);
    let port = free_port();
    let cgminer_port = free_port();
    let mut args: Vec<String> = [
        "mine",
        "--pool",
        &pool.url(),
        "--user",
        "agree",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--api",
        &format!("127.0.0.1:{port}"),
        "--duration",
        "60",
    ]
    .map(String::from)
    .to_vec();
    if client.is_some() {
        args.extend(["--api-cgminer".into(), format!("127.0.0.1:{cgminer_port}")]);
    }
    let mut child = spawn(&args);
    wait_for(
        "the frozen difficulty in the API",
        Duration::from_secs(30),
        || {
            http(port, "GET", "/v1/pools", "")
                .ok()
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .is_some_and(|p| p[0]["difficulty"] == 1e300)
        },
    );
    // Whatever was in flight is answered or dropped as stale by now.
    std::thread::sleep(Duration::from_secs(2));
    let total = get(port, "/v1/summary");
    let pools = get(port, "/v1/pools");
    let metrics = http(port, "GET", "/metrics", "").unwrap();
    let cgminer = client.map(|python| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/operator/cgminer_client.py"
        );
        let out = std::process::Command::new(python)
            .args([script, &cgminer_port.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pyasic's client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    });
    let again = get(port, "/v1/summary");
    stop(&mut child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    for key in ["accepted", "rejected", "stale"] {
        assert_eq!(
            total[key], again[key],
            "{key} still moving: {total} {again}"
        );
    }
    Frozen {
        total,
        pools,
        metrics,
        cgminer,
        stderr,
        url: pool.url(),
    }
}

fn every_view_counts_the_same_shares() -> common::Outcome {
    let Frozen {
        total,
        pools,
        metrics,
        stderr,
        url,
        ..
    } = frozen_run(None);
    let scrape =
        prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).unwrap();
    let line = summary(&stderr);
    for key in ["accepted", "rejected", "stale"] {
        let api_total = total[key].as_f64().unwrap();
        let api_pool = pools[0][key].as_f64().unwrap();
        let scraped = metric(&scrape, "hashrig_solutions_total", ("result", key));
        let scraped_pool = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "hashrig_shares_total"
                    && s.labels.get("result") == Some(key)
                    && s.labels.get("pool") == Some(url.as_str())
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("hashrig_shares_total {key} not in:\n{metrics}"));
        let at_exit = summary_field(line, key);
        let at_exit_pool = pool_field(&stderr, 0, key);
        assert_eq!(
            [api_pool, scraped, scraped_pool, at_exit, at_exit_pool],
            [api_total; 5],
            "{key}: /v1/summary {api_total}, /v1/pools {api_pool}, metrics {scraped} (pool {scraped_pool}), summary {at_exit} (pool {at_exit_pool})\n{stderr}"
        );
    }
    // Best share: the same in every view, and at least the pool's difficulty.
    let best = total["best_share"].as_f64().unwrap();
    assert!(best >= EASY / 10.0, "{total}");
    assert_eq!(pools[0]["best_share"].as_f64().unwrap(), best);
    // (The text format keeps 16 significant digits.)
    let scraped_best = metric(
        &scrape,
        "hashrig_pool_best_share_difficulty",
        ("pool", url.as_str()),
    );
    assert!(
        (scraped_best / best - 1.0).abs() < 1e-12,
        "{scraped_best} vs {best}"
    );
    // The summary for people: the counts and the reject rate.
    let (a, r) = (
        total["accepted"].as_u64().unwrap(),
        total["rejected"].as_u64().unwrap(),
    );
    let pct = 100.0 * r as f64 / (a + r) as f64;
    assert!(
        stderr.contains(&format!(
            "  shares      accepted {a}, rejected {r} ({pct:.1}%), stale {}",
            total["stale"]
        )),
        "{stderr}"
    );
    assert!(stderr.contains("  best share  "), "{stderr}");
    // The run did what this test is about: some of each.
    for key in ["accepted", "rejected", "stale"] {
        assert!(total[key].as_u64().unwrap() > 0, "no {key} shares: {total}");
    }
    Ok(())
}

/// The Python with pyasic that `.ci/run` installs (or `HASHRIG_PYASIC_PYTHON`).
fn pyasic() -> Result<String, common::Skip> {
    let python = std::env::var("HASHRIG_PYASIC_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/hashrig/pyasic/bin/python")
    });
    let found = std::process::Command::new(&python)
        .args(["-c", "import pyasic.rpc.cgminer"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Ok(python)
    } else {
        Err(common::skip(format!(
            "no pyasic (cgminer's API client) at {python}: .ci/run installs it, or set HASHRIG_PYASIC_PYTHON"
        )))
    }
}

/// cgminer's API read by pyasic's cgminer client at the frozen moment: cgminer's field names,
/// the same counts as `/v1/summary` and `/v1/pools`, the joined command, a refused `quit`.
fn cgminer_api_agrees_through_a_cgminer_client() -> common::Outcome {
    let python = pyasic()?;
    let f = frozen_run(Some(&python));
    let c = f.cgminer.unwrap();
    let (total, pools) = (&f.total, &f.pools);
    assert_eq!(c["version"]["VERSION"][0]["API"], "3.7", "{c}");
    assert_eq!(c["config"]["CONFIG"][0]["Pool Count"], 1, "{c}");
    assert_eq!(c["config"]["CONFIG"][0]["CPU Count"], 1, "{c}");
    let s = &c["summary"]["SUMMARY"][0];
    assert_eq!(c["summary"]["STATUS"][0]["STATUS"], "S", "{c}");
    for (ours, theirs) in [
        ("accepted", "Accepted"),
        ("rejected", "Rejected"),
        ("stale", "Stale"),
        ("hw_errors", "Hardware Errors"),
        ("blocks", "Found Blocks"),
    ] {
        assert_eq!(
            s[theirs], total[ours],
            "summary {theirs} vs /v1/summary {ours}: {c}"
        );
    }
    assert_eq!(
        s["Best Share"].as_f64().unwrap(),
        total["best_share"].as_f64().unwrap().floor(),
        "{c}"
    );
    let p = &c["pools"]["POOLS"][0];
    assert_eq!(p["URL"].as_str(), Some(f.url.as_str()), "{c}");
    for (ours, theirs) in [
        ("accepted", "Accepted"),
        ("rejected", "Rejected"),
        ("stale", "Stale"),
    ] {
        assert_eq!(
            p[theirs], pools[0][ours],
            "pools {theirs} vs /v1/pools {ours}: {c}"
        );
    }
    assert_eq!(p["Status"], "Alive", "{c}");
    assert_eq!(p["Stratum Active"], true, "{c}");
    assert_eq!(p["Work Difficulty"], 1e300, "{c}");
    // Accepted shares' difficulties add up to what the effective rate is made of.
    let d_acc = p["Difficulty Accepted"].as_f64().unwrap();
    assert!(
        d_acc > 0.0 && s["Difficulty Accepted"].as_f64() == Some(d_acc),
        "{c}"
    );
    let d = &c["devs"]["DEVS"][0];
    assert_eq!(d["Name"], "CPU", "{c}");
    assert_eq!(d["Status"], "Alive", "{c}");
    assert!(d["MHS av"].as_f64().unwrap() > 0.0, "{c}");
    assert!(d["Total MH"].as_f64().unwrap() > 0.0, "{c}");
    // summary+devs+pools in one request: each answer under its command's name.
    let m = &c["multicommand"];
    assert_eq!(
        m["summary"][0]["SUMMARY"][0]["Accepted"], total["accepted"],
        "{c}"
    );
    assert_eq!(
        m["pools"][0]["POOLS"][0]["Rejected"], pools[0]["rejected"],
        "{c}"
    );
    assert_eq!(m["devs"][0]["DEVS"][0]["Name"], "CPU", "{c}");
    // Read-only: quit is refused in cgminer's words (and the run went on to a clean exit).
    assert!(
        c["quit"]
            .as_str()
            .unwrap()
            .contains("Access denied to 'quit' command"),
        "{c}"
    );
    assert!(
        f.stderr.contains("cgminer's API on 127.0.0.1:"),
        "{}",
        f.stderr
    );
    Ok(())
}

crate::tests!(
    every_view_counts_the_same_shares,
    cgminer_api_agrees_through_a_cgminer_client
);
