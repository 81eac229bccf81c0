//! cgminer's API (`--api-cgminer ADDR`, off by default): the TCP protocol farm monitors and
//! scripts speak to cgminer, BFGMiner and the ASIC firmwares built on them. Read-only.
//!
//! A client connects, sends one request, reads the answer up to the end of the connection
//! (the answer ends with a NUL byte, as cgminer's does) and the server closes:
//!
//! - JSON: `{"command":"summary","parameter":""}` -> `{"STATUS":[{...}],"SUMMARY":[{...}],"id":1}`;
//!   several commands joined by `+` (`summary+devs`) -> `{"summary":[{...}],"devs":[{...}],"id":1}`.
//! - Text: `summary` (or `cmd|param`) -> `STATUS=S,When=...,Code=11,Msg=Summary,...|SUMMARY,Elapsed=...|`.
//!
//! Commands: `version`, `config`, `summary`, `devs`, `pools`, `check|CMD`. Those that change
//! anything in cgminer (`switchpool`, `addpool`, `restart`, `quit`, ...) are refused with
//! cgminer's "Access denied" (code 45); anything else is "Invalid command" (code 14). Field names
//! and codes are cgminer 4.11's (API 3.7); values are the counters every other view reads.
//!
//! The protocol carries no credentials: the server listens on a loopback address unless
//! `--api-allow-remote` is given, and then answers only the addresses in
//! `--api-cgminer-allow` (cgminer's `--api-allow`); others are closed at once. Requests are at
//! most [`MAX_REQUEST`] bytes and must arrive within [`REQUEST_TIMEOUT`]; at most 8 commands are
//! joined; the connection limits of the HTTP API apply.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{listen, Server, Service};
use crate::stats::{RateHistory, Stats};

/// cgminer's port, and the default of `--api-cgminer` without a value.
pub const DEFAULT_PORT: u16 = 4028;
/// The most bytes a request may have.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A request must arrive within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The API version cgminer 4.11 reports; the field names here are its.
const API_VERSION: &str = "3.7";
/// Commands joined with `+` in one request.
const MAX_JOINED: usize = 8;
/// cgminer's commands that change something: refused (read-only API).
const PRIVILEGED: &[&str] = &[
    "switchpool",
    "enablepool",
    "disablepool",
    "addpool",
    "removepool",
    "poolpriority",
    "poolquota",
    "save",
    "quit",
    "restart",
    "privileged",
    "gpuenable",
    "gpudisable",
    "gpurestart",
    "gpuintensity",
    "gpumem",
    "gpuengine",
    "gpufan",
    "gpuvddc",
    "pgaenable",
    "pgadisable",
    "pgaidentify",
    "pgaset",
    "ascenable",
    "ascdisable",
    "ascidentify",
    "ascset",
    "setconfig",
    "zero",
    "failover-only",
    "debug",
    "hotplug",
    "lockstats",
];
/// What this API answers.
const COMMANDS: &[&str] = &["version", "config", "summary", "devs", "pools", "check"];

/// Where and for whom cgminer's API listens.
#[derive(Clone, Debug)]
pub struct CgminerConfig {
    pub addr: SocketAddr,
    /// `--api-allow-remote`: a non-loopback address may be given.
    pub allow_remote: bool,
    /// The networks answered beyond loopback (`--api-cgminer-allow`).
    pub allow: Vec<ipnet::IpNet>,
}

/// Why cgminer's API cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgminerError {
    #[error("--api-cgminer {0} is not a loopback address: give --api-allow-remote and --api-cgminer-allow NETWORKS (the protocol carries no token)")]
    Remote(SocketAddr),
    #[error("--api-cgminer {0} with --api-allow-remote needs --api-cgminer-allow NETWORKS: the protocol carries no token, so only the addresses named are answered")]
    NoAllow(SocketAddr),
    #[error("cgminer's API cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl CgminerConfig {
    /// Checks the remote rules.
    pub fn check(&self) -> Result<(), CgminerError> {
        if !self.addr.ip().is_loopback() {
            if !self.allow_remote {
                return Err(CgminerError::Remote(self.addr));
            }
            if self.allow.is_empty() {
                return Err(CgminerError::NoAllow(self.addr));
            }
        }
        Ok(())
    }

    /// True when `peer` may be answered: loopback always, others when allowed.
    fn answers(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        peer.is_loopback() || self.allow.iter().any(|net| net.contains(&peer))
    }
}

/// A running cgminer API (stopped and joined when dropped).
pub struct CgminerApi {
    _server: Server,
    pub addr: SocketAddr,
}

/// Starts cgminer's API on its own thread.
pub fn start(
    config: &CgminerConfig,
    stats: Arc<Stats>,
    source: String,
) -> Result<CgminerApi, CgminerError> {
    config.check()?;
    let bind = |source| CgminerError::Bind {
        addr: config.addr,
        source,
    };
    let listener = listen(config.addr).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    if !config.addr.ip().is_loopback() {
        crate::elog!(
            "warning: cgminer's API listens on {addr}, beyond this machine (answering {})",
            config
                .allow
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let state = Arc::new(Cgminer {
        views: Views {
            stats,
            source,
            history: Mutex::new(RateHistory::default()),
        },
        config: config.clone(),
        refused: AtomicU64::new(0),
    });
    let server = Server::spawn("hashrig-cgminer", listener, state).map_err(bind)?;
    Ok(CgminerApi {
        _server: server,
        addr,
    })
}

struct Cgminer {
    views: Views,
    config: CgminerConfig,
    refused: AtomicU64,
}

impl Service for Cgminer {
    fn tick(&self) {
        self.views
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sample(&self.views.stats);
    }

    fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    fn serve(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            if !self.config.answers(peer.ip()) {
                // Not answered, as cgminer does for an address outside --api-allow.
                return;
            }
            connection(stream, &self.views).await
        })
    }
}

/// One connection: a request read within the limits, one answer, closed.
async fn connection(mut stream: tokio::net::TcpStream, views: &Views) {
    let _ = stream.set_nodelay(true);
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Some(bytes)) => bytes,
        _ => return,
    };
    let answer = answer(views, &request);
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Reads until the request is complete: a JSON object that parses, a line or NUL end, the
/// client's end of sending, or a pause of 100 ms after some bytes (cgminer itself takes what
/// one read returns). `None`: nothing came, or more than [`MAX_REQUEST`] bytes.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let read = if buf.is_empty() {
            stream.read(&mut chunk).await.ok()?
        } else {
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut chunk)).await {
                Ok(r) => r.ok()?,
                Err(_) => return Some(buf),
            }
        };
        if read == 0 {
            return (!buf.is_empty()).then_some(buf);
        }
        buf.extend_from_slice(&chunk[..read]);
        if buf.len() > MAX_REQUEST {
            return None;
        }
        if complete(&buf) {
            return Some(buf);
        }
    }
}

/// True when `buf` holds a whole request.
fn complete(buf: &[u8]) -> bool {
    let text = buf.trim_ascii_start();
    if text.first() == Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(trim_end(text)).is_ok()
    } else {
        buf.iter().any(|b| matches!(b, b'\n' | b'\0'))
    }
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\0' | b'\r' | b'\n' | b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// A record's fields in cgminer's order (a JSON object keeps it; the text form leads with
/// the first field).
#[derive(Clone, Debug, Default)]
struct Record(Vec<(String, Value)>);

impl Record {
    fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.0.push((key.into(), value));
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// What the API answers about.
struct Views {
    stats: Arc<Stats>,
    source: String,
    history: Mutex<RateHistory>,
}

/// A request, parsed.
#[derive(Debug, PartialEq)]
struct Request {
    /// The commands (several only in JSON, joined by `+`).
    commands: Vec<String>,
    parameter: String,
    json: bool,
}

/// Why a request is not answered with data.
#[derive(Debug, PartialEq)]
enum RequestError {
    /// cgminer's "Invalid JSON" (23).
    InvalidJson,
    /// cgminer's "Missing JSON 'command'" (24).
    MissingCommand,
}

fn parse(bytes: &[u8]) -> Result<Request, RequestError> {
    let text = trim_end(bytes.trim_ascii_start());
    if text.first() == Some(&b'{') {
        let value: Value = serde_json::from_slice(text).map_err(|_| RequestError::InvalidJson)?;
        let object = value.as_object().ok_or(RequestError::InvalidJson)?;
        let command = object
            .get("command")
            .and_then(Value::as_str)
            .ok_or(RequestError::MissingCommand)?;
        let parameter = match object.get("parameter") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let commands = command
            .split('+')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        Ok(Request {
            commands,
            parameter,
            json: true,
        })
    } else {
        let text = String::from_utf8_lossy(text);
        let (command, parameter) = text.split_once('|').unwrap_or((&text, ""));
        Ok(Request {
            commands: vec![command.trim().to_ascii_lowercase()],
            parameter: parameter.to_string(),
            json: false,
        })
    }
}

/// For the fuzzers: what is answered to `request` about a run with one CPU and one pool
/// (no socket).
#[doc(hidden)]
pub fn answer_bytes(request: &[u8]) -> Vec<u8> {
    let stats = Arc::new(Stats::new(["cpu fuzz".to_string()]));
    stats.register_pools(["stratum+tcp://fuzz:3333".to_string()]);
    let views = Views {
        stats,
        source: "fuzz".into(),
        history: Mutex::new(RateHistory::default()),
    };
    answer(&views, request)
}

/// The bytes answered to `request` (ending with NUL).
fn answer(views: &Views, request: &[u8]) -> Vec<u8> {
    let reply = match parse(request) {
        Ok(r) if r.json && r.commands.len() > 1 => joined(views, &r),
        Ok(r) => {
            let reply = reply(views, &r.commands[0], &r.parameter);
            if r.json {
                reply.to_json()
            } else {
                reply.to_text()
            }
        }
        Err(RequestError::InvalidJson) => {
            Reply::status(Severity::Error, 23, "Invalid JSON").to_json()
        }
        Err(RequestError::MissingCommand) => {
            Reply::status(Severity::Error, 24, "Missing JSON 'command'").to_json()
        }
    };
    let mut bytes = reply.into_bytes();
    bytes.push(0);
    bytes
}

/// `a+b+c` in JSON: each command's whole answer under its name (cgminer's joined form). A
/// command that is refused, repeated or unknown makes the whole request an error, as in
/// cgminer.
fn joined(views: &Views, request: &Request) -> String {
    if request.commands.len() > MAX_JOINED {
        return Reply::status(Severity::Error, 14, "Invalid command").to_json();
    }
    let mut out = Record::default();
    for (i, command) in request.commands.iter().enumerate() {
        let answerable = COMMANDS.contains(&command.as_str()) && command != "check";
        if !answerable || request.commands[..i].contains(command) {
            let msg = format!(
                "Invalid command '{}' in joined command",
                crate::ui::output::clip(command, 40)
            );
            return Reply::status(Severity::Error, 14, &msg).to_json();
        }
        let one = reply(views, command, &request.parameter).to_value();
        out.insert(command.clone(), Value::Array(vec![one]));
    }
    out.insert("id", json!(1));
    json!(out).to_string()
}

#[derive(Clone, Copy)]
enum Severity {
    Success,
    Error,
}

/// One command's answer: the STATUS and, on success, a named list of records.
struct Reply {
    status: Record,
    section: Option<(&'static str, Vec<Record>)>,
}

impl Reply {
    fn status(severity: Severity, code: u32, msg: &str) -> Reply {
        let mut status = Record::default();
        let letter = match severity {
            Severity::Success => "S",
            Severity::Error => "E",
        };
        status.insert("STATUS", json!(letter));
        status.insert("When", json!(unix_now()));
        status.insert("Code", json!(code));
        status.insert("Msg", json!(msg));
        status.insert(
            "Description",
            json!(format!("hashrig {}", env!("CARGO_PKG_VERSION"))),
        );
        Reply {
            status,
            section: None,
        }
    }

    fn with(mut self, name: &'static str, records: Vec<Record>) -> Reply {
        self.section = Some((name, records));
        self
    }

    /// `{"STATUS":[...],"SECTION":[...],"id":1}`, in cgminer's order.
    fn to_value(&self) -> Value {
        let mut out = Record::default();
        out.insert("STATUS", json!([self.status]));
        if let Some((name, records)) = &self.section {
            out.insert(*name, json!(records));
        }
        out.insert("id", json!(1));
        json!(out)
    }

    fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// cgminer's text form: `STATUS=S,When=..,...|SUMMARY,Elapsed=..,...|`; a record of a
    /// list of devices or pools starts with its own `GPU=0`/`POOL=0` pair.
    fn to_text(&self) -> String {
        let mut out = String::new();
        push_pairs(&mut out, None, &self.status);
        if let Some((name, records)) = &self.section {
            for record in records {
                let first = record.0.first().map(|(k, _)| k.as_str());
                // A device's or pool's record starts with its index (`GPU=0`); the others
                // with the section's name (`SUMMARY,Elapsed=...`).
                let lead = (first != Some("GPU") && first != Some("CPU") && first != Some("POOL"))
                    .then_some(*name);
                push_pairs(&mut out, lead, record);
            }
        }
        out
    }
}

fn push_pairs(out: &mut String, lead: Option<&str>, pairs: &Record) {
    let mut parts: Vec<String> = lead.map(str::to_string).into_iter().collect();
    for (k, v) in &pairs.0 {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{}={}", escape_text(k), escape_text(&v)));
    }
    out.push_str(&parts.join(","));
    out.push('|');
}

/// cgminer's text escaping: `,` `|` `=` and `\` get a backslash.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '|' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix seconds of an event `age` ago (0: never, as cgminer writes it).
fn unix_ago(age: Option<Duration>) -> u64 {
    age.and_then(|a| SystemTime::now().checked_sub(a))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// MH/s as cgminer writes it (two decimals).
fn mhs(rate: f64) -> Value {
    json!((rate / 1e4).round() / 100.0)
}

/// A percentage as cgminer writes it (a fraction times 100, four decimals).
fn percent(part: f64, whole: f64) -> Value {
    let p = if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    };
    json!((p * 1e4).round() / 1e4)
}

/// The answer to one command.
fn reply(views: &Views, command: &str, parameter: &str) -> Reply {
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

fn version() -> Reply {
    let mut v = Record::default();
    v.insert("hashrig", json!(env!("CARGO_PKG_VERSION")));
    v.insert("API", json!(API_VERSION));
    Reply::status(Severity::Success, 22, "hashrig versions").with("VERSION", vec![v])
}

fn config(views: &Views) -> Reply {
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
fn rates(views: &Views) -> [Vec<f64>; 4] {
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
fn difficulty_sums(stats: &Stats) -> (f64, f64, f64) {
    stats
        .pools()
        .iter()
        .map(|p| p.difficulty_sums())
        .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
}

fn summary(views: &Views) -> Reply {
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

fn devs(views: &Views) -> Reply {
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

fn pools(views: &Views) -> Reply {
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
fn node_pool(views: &Views) -> Reply {
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
fn check(parameter: &str) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn views() -> Views {
        let stats = Arc::new(Stats::new(["cpu avx512 x2".to_string()]));
        stats.register_pools(["stratum+tcp://pool:3333".to_string()]);
        Views {
            stats,
            source: "test".into(),
            history: Mutex::new(RateHistory::default()),
        }
    }

    fn json_answer(views: &Views, request: &str) -> Value {
        let bytes = answer(views, request.as_bytes());
        assert_eq!(bytes.last(), Some(&0), "ends with NUL");
        serde_json::from_slice(&bytes[..bytes.len() - 1]).expect("JSON")
    }

    #[test]
    fn a_json_request_gets_cgminer_sections() {
        let v = views();
        v.stats.pools()[0].accept(2.0);
        Stats::add(&v.stats.accepted, 1);
        let a = json_answer(&v, r#"{"command":"summary"}"#);
        assert_eq!(a["STATUS"][0]["STATUS"], "S");
        assert_eq!(a["STATUS"][0]["Code"], 11);
        assert_eq!(a["SUMMARY"][0]["Accepted"], 1);
        assert_eq!(a["SUMMARY"][0]["Difficulty Accepted"], 2.0);
        assert_eq!(a["id"], 1);
        let p = json_answer(&v, r#"{"command":"pools","parameter":""}"#);
        assert_eq!(p["POOLS"][0]["URL"], "stratum+tcp://pool:3333");
        let d = json_answer(&v, r#"{"command":"devs"}"#);
        assert_eq!(d["DEVS"][0]["CPU"], 0);
        assert_eq!(d["STATUS"][0]["Msg"], "1 CPU(s)");
    }

    #[test]
    fn joined_commands_answer_each_under_its_name() {
        let v = views();
        let a = json_answer(&v, r#"{"command":"summary+devs+pools"}"#);
        assert_eq!(a["summary"][0]["SUMMARY"][0]["Accepted"], 0);
        assert_eq!(a["devs"][0]["DEVS"][0]["Name"], "CPU");
        assert_eq!(a["pools"][0]["STATUS"][0]["Code"], 7);
        let bad = json_answer(&v, r#"{"command":"summary+quit"}"#);
        assert_eq!(bad["STATUS"][0]["STATUS"], "E");
        let twice = json_answer(&v, r#"{"command":"summary+summary"}"#);
        assert_eq!(twice["STATUS"][0]["Code"], 14);
    }

    #[test]
    fn text_requests_get_text_answers() {
        let v = views();
        let bytes = answer(&v, b"summary");
        let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
        assert!(text.starts_with("STATUS=S,When="), "{text}");
        assert!(text.contains("|SUMMARY,Elapsed="), "{text}");
        assert!(text.ends_with('|'), "{text}");
        let bytes = answer(&v, b"pools\n");
        let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
        assert!(
            text.contains("|POOL=0,URL=stratum+tcp://pool:3333,"),
            "{text}"
        );
    }

    #[test]
    fn changes_are_refused_and_nonsense_is_named() {
        let v = views();
        for (request, code) in [
            (r#"{"command":"quit"}"#, 45),
            (r#"{"command":"addpool","parameter":"a,b,c"}"#, 45),
            (r#"{"command":"bogus"}"#, 14),
            (r#"{"command":7}"#, 24),
            (r#"{"nothing":1}"#, 24),
            (r#"{"command":"summ"#, 23),
            ("[1,2]", 14),
        ] {
            let bytes = answer(&v, request.as_bytes());
            let text = String::from_utf8_lossy(&bytes[..bytes.len() - 1]).to_string();
            let code_seen = serde_json::from_str::<Value>(&text)
                .map(|a| a["STATUS"][0]["Code"].clone())
                .unwrap_or_else(|_| {
                    // Text answer.
                    let code = text
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("Code="))
                        .unwrap_or("?");
                    json!(code.parse::<u32>().unwrap_or(0))
                });
            assert_eq!(code_seen, json!(code), "{request}: {text}");
        }
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(escape_text("a,b|c=d\\e"), "a\\,b\\|c\\=d\\\\e");
    }

    #[test]
    fn check_says_what_is_answered() {
        let v = views();
        let a = json_answer(&v, r#"{"command":"check","parameter":"summary"}"#);
        assert_eq!(a["CHECK"][0]["Access"], "Y");
        let a = json_answer(&v, r#"{"command":"check","parameter":"quit"}"#);
        assert_eq!(a["CHECK"][0]["Exists"], "Y");
        assert_eq!(a["CHECK"][0]["Access"], "N");
    }

    #[test]
    fn requests_are_complete_when_they_parse_or_end() {
        assert!(complete(br#"{"command":"summary"}"#));
        assert!(!complete(br#"{"command":"sum"#));
        assert!(complete(b"summary\n"));
        assert!(!complete(b"summ"));
    }

    #[test]
    fn remote_rules() {
        let mut c = CgminerConfig {
            addr: "0.0.0.0:4028".parse().unwrap(),
            allow_remote: false,
            allow: vec![],
        };
        assert!(matches!(c.check(), Err(CgminerError::Remote(_))));
        c.allow_remote = true;
        assert!(matches!(c.check(), Err(CgminerError::NoAllow(_))));
        c.allow = vec!["192.168.1.0/24".parse().unwrap()];
        assert!(c.check().is_ok());
        assert!(c.answers("192.168.1.7".parse().unwrap()));
        assert!(c.answers("::ffff:192.168.1.7".parse().unwrap()));
        assert!(c.answers("127.0.0.1".parse().unwrap()));
        assert!(!c.answers("10.0.0.1".parse().unwrap()));
    }
}
