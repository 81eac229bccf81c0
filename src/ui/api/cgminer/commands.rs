//! The answers to cgminer's read-only commands, from the run's counters.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::protocol::{
    mhs, percent, unix_ago, Record, Reply, Severity, Views, API_VERSION, COMMANDS, PRIVILEGED,
};
use crate::stats::Stats;

/// The answer to one command.
pub(super) fn reply(views: &Views, command: &str, parameter: &str) -> Reply {
    match command {
        "version" => version(),
        "config" => config(views),
        "summary" => summary(views),
        "devs" => devs(views),
        "pools" => pools(views),
        "check" => check(parameter),
        c if PRIVILEGED.contains(&c) => Reply::status(
            Severity::Error,
            45,
            &format!("Access denied to '{c}' command"),
        ),
        _ => Reply::status(Severity::Error, 14, "Invalid command"),
    }
}

pub(super) fn version() -> Reply {
    let mut v = Record::default();
    v.insert("hashrig", json!(env!("CARGO_PKG_VERSION")));
    v.insert("API", json!(API_VERSION));
    Reply::status(Severity::Success, 22, "hashrig versions").with("VERSION", vec![v])
}

pub(super) fn config(views: &Views) -> Reply {
    let s = &views.stats;
    let gpus = s
        .backends
        .iter()
        .filter(|b| b.name.starts_with("gpu"))
        .count();
    let mut c = Record::default();
    c.insert("GPU Count", json!(gpus));
    c.insert("CPU Count", json!(s.backends.len() - gpus));
    c.insert("ASC Count", json!(0));
    c.insert("PGA Count", json!(0));
    c.insert("Pool Count", json!(s.pools().len()));
    c.insert("Strategy", json!("Failover"));
    c.insert("Log Interval", json!(5));
    c.insert("Device Code", json!("GPU CPU"));
    c.insert("OS", json!(std::env::consts::OS));
    c.insert("Hotplug", json!("None"));
    Reply::status(Severity::Success, 33, "hashrig config").with("CONFIG", vec![c])
}

/// Rates per backend over 5 s, 1 min and 5 min (from the server's own samples), and the
/// average over the run.
pub(super) fn rates(views: &Views) -> [Vec<f64>; 4] {
    let h = views.history.lock().unwrap_or_else(|p| p.into_inner());
    let up = views.stats.uptime().as_secs_f64().max(1e-9);
    let n = views.stats.backends.len();
    let fill = |v: Vec<f64>| if v.len() == n { v } else { vec![0.0; n] };
    [
        fill(h.rates(Duration::from_secs(5))),
        fill(h.rates(Duration::from_secs(60))),
        fill(h.rates(Duration::from_secs(300))),
        views
            .stats
            .backends
            .iter()
            .map(|b| Stats::get(&b.hashes) as f64 / up)
            .collect(),
    ]
}

/// Sums over the pools of the difficulty of accepted, rejected and stale shares.
pub(super) fn difficulty_sums(stats: &Stats) -> (f64, f64, f64) {
    stats
        .pools()
        .iter()
        .map(|p| p.difficulty_sums())
        .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

pub(super) fn summary(views: &Views) -> Reply {
    let s = &views.stats;
    let up = s.uptime().as_secs_f64().max(1e-9);
    let [r5s, r1m, r5m, average] = rates(views);
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let hashes = s.hashes() as f64;
    // Difficulty-1 work done: one per 2^32 hashes.
    let diff1 = hashes / 4_294_967_296.0;
    let (d_acc, d_rej, d_stale) = difficulty_sums(s);
    let answered = d_acc + d_rej + d_stale;
    let accepted = Stats::get(&s.accepted);
    let hw = s.hw_errors();
    let mut m = Record::default();
    m.insert("Elapsed", json!(s.uptime().as_secs()));
    m.insert("MHS av", mhs(sum(&average)));
    m.insert("MHS 5s", mhs(sum(&r5s)));
    m.insert("MHS 1m", mhs(sum(&r1m)));
    m.insert("MHS 5m", mhs(sum(&r5m)));
    m.insert("Found Blocks", json!(Stats::get(&s.blocks)));
    m.insert("Accepted", json!(accepted));
    m.insert("Rejected", json!(Stats::get(&s.rejected)));
    m.insert("Hardware Errors", json!(hw));
    m.insert(
        "Utility",
        json!((accepted as f64 / up * 60.0 * 100.0).round() / 100.0),
    );
    m.insert("Discarded", json!(Stats::get(&s.dropped)));
    m.insert("Stale", json!(Stats::get(&s.stale)));
    m.insert("Total MH", json!((hashes / 1e6).floor()));
    m.insert(
        "Work Utility",
        json!((diff1 / up * 60.0 * 100.0).round() / 100.0),
    );
    m.insert("Difficulty Accepted", json!(d_acc));
    m.insert("Difficulty Rejected", json!(d_rej));
    m.insert("Difficulty Stale", json!(d_stale));
    m.insert("Best Share", json!(s.best_share().floor() as u64));
    m.insert(
        "Device Hardware%",
        percent(hw as f64, hw as f64 + Stats::get(&s.found) as f64),
    );
    m.insert("Device Rejected%", percent(d_rej, diff1));
    m.insert("Pool Rejected%", percent(d_rej, answered));
    m.insert("Pool Stale%", percent(d_stale, answered));
    Reply::status(Severity::Success, 11, "Summary").with("SUMMARY", vec![m])
}

pub(super) fn devs(views: &Views) -> Reply {
    let s = &views.stats;
    let [r5s, r1m, r5m, average] = rates(views);
    let elapsed = s.uptime().as_secs();
    let (mut gpus, mut cpus) = (0, 0);
    let records: Vec<Record> = s
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let gpu = b.name.starts_with("gpu");
            let (kind, n) = if gpu {
                gpus += 1;
                ("GPU", gpus - 1)
            } else {
                cpus += 1;
                ("CPU", cpus - 1)
            };
            let failed = b.failed.load(Ordering::Relaxed);
            let hw = Stats::get(&b.hw_errors);
            let hashes = Stats::get(&b.hashes) as f64;
            let mut m = Record::default();
            m.insert(kind, json!(n));
            m.insert("Name", json!(kind));
            m.insert("ID", json!(i));
            m.insert("Enabled", json!("Y"));
            m.insert("Status", json!(if failed { "Dead" } else { "Alive" }));
            m.insert("Device", json!(b.name));
            m.insert("MHS av", mhs(average[i]));
            m.insert("MHS 5s", mhs(r5s[i]));
            m.insert("MHS 1m", mhs(r1m[i]));
            m.insert("MHS 5m", mhs(r5m[i]));
            m.insert("Hardware Errors", json!(hw));
            m.insert("Total MH", json!((hashes / 1e6).floor()));
            m.insert(
                "Diff1 Work",
                json!((hashes / 4_294_967_296.0 * 100.0).round() / 100.0),
            );
            m.insert("Device Elapsed", json!(elapsed));
            m
        })
        .collect();
    let msg = match (gpus, cpus) {
        (0, c) => format!("{c} CPU(s)"),
        (g, 0) => format!("{g} GPU(s)"),
        (g, c) => format!("{g} GPU(s) - {c} CPU(s)"),
    };
    Reply::status(Severity::Success, 9, &msg).with("DEVS", records)
}

pub(super) fn pools(views: &Views) -> Reply {
    let s = &views.stats;
    let pools = s.pools();
    if pools.is_empty() {
        return node_pool(views);
    }
    let records = pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (d_acc, d_rej, d_stale) = p.difficulty_sums();
            let answered = d_acc + d_rej + d_stale;
            let connected = p.connected.load(Ordering::Relaxed);
            let active = connected && p.in_use.load(Ordering::Relaxed);
            let mut m = Record::default();
            m.insert("POOL", json!(i));
            m.insert("URL", json!(p.url));
            m.insert("Status", json!(if connected { "Alive" } else { "Dead" }));
            m.insert("Priority", json!(i));
            m.insert("Quota", json!(1));
            m.insert("Long Poll", json!("N"));
            m.insert("Accepted", json!(Stats::get(&p.accepted)));
            m.insert("Rejected", json!(Stats::get(&p.rejected)));
            m.insert("Stale", json!(Stats::get(&p.stale)));
            m.insert("Last Share Time", json!(unix_ago(p.last_share_age())));
            m.insert("Difficulty Accepted", json!(d_acc));
            m.insert("Difficulty Rejected", json!(d_rej));
            m.insert("Difficulty Stale", json!(d_stale));
            m.insert("Last Share Difficulty", json!(p.last_share_difficulty()));
            m.insert("Work Difficulty", json!(p.difficulty()));
            m.insert("Has Stratum", json!(true));
            m.insert("Stratum Active", json!(active));
            m.insert(
                "Stratum URL",
                json!(if active { p.url.as_str() } else { "" }),
            );
            m.insert("Stratum Difficulty", json!(p.difficulty()));
            m.insert("Has GBT", json!(false));
            m.insert("Best Share", json!(p.best_share().floor() as u64));
            m.insert("Pool Rejected%", percent(d_rej, answered));
            m.insert("Pool Stale%", percent(d_stale, answered));
            m
        })
        .collect();
    Reply::status(Severity::Success, 7, &format!("{} Pool(s)", pools.len())).with("POOLS", records)
}

/// Solo mining: the node as cgminer shows a getblocktemplate pool (blocks as its shares).
pub(super) fn node_pool(views: &Views) -> Reply {
    let s = &views.stats;
    let mut m = Record::default();
    m.insert("POOL", json!(0));
    // The source reads "node URL (journal FILE)": the URL.
    let url = views.source.split(" (").next().unwrap_or_default();
    m.insert("URL", json!(url.strip_prefix("node ").unwrap_or(url)));
    m.insert("Status", json!("Alive"));
    m.insert("Priority", json!(0));
    m.insert("Quota", json!(1));
    m.insert("Long Poll", json!("Y"));
    m.insert("Accepted", json!(Stats::get(&s.accepted)));
    m.insert("Rejected", json!(Stats::get(&s.rejected)));
    m.insert("Stale", json!(Stats::get(&s.stale)));
    m.insert("Work Difficulty", json!(s.network_difficulty()));
    m.insert("Has Stratum", json!(false));
    m.insert("Stratum Active", json!(false));
    m.insert("Stratum URL", json!(""));
    m.insert("Has GBT", json!(true));
    m.insert("Best Share", json!(s.best_share().floor() as u64));
    Reply::status(Severity::Success, 7, "1 Pool(s)").with("POOLS", vec![m])
}

/// `check|CMD`: whether the command exists and may be used (cgminer's code 72).
pub(super) fn check(parameter: &str) -> Reply {
    let command = parameter.trim().to_ascii_lowercase();
    if command.is_empty() {
        return Reply::status(Severity::Error, 71, "Missing check cmd");
    }
    let ours = COMMANDS.contains(&command.as_str());
    let exists = ours || PRIVILEGED.contains(&command.as_str());
    let mut m = Record::default();
    m.insert("Exists", json!(if exists { "Y" } else { "N" }));
    m.insert("Access", json!(if ours { "Y" } else { "N" }));
    Reply::status(Severity::Success, 72, "Check command").with("CHECK", vec![m])
}
