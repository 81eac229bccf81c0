//! The monitoring API (`--api ADDR`, off by default): read-only JSON over HTTP in the spirit
//! of cgminer's port 4028, Prometheus metrics, and a small self-contained dashboard page.
//!
//! - `GET /v1/summary`, `/v1/devices`, `/v1/pools`, `/v1/history` (JSON)
//! - `GET /metrics` (Prometheus text format, `prometheus-client`)
//! - `GET /` (the dashboard: devices and a live hash-rate chart; no outside assets)
//!
//! On a loopback address by default; another address only with `allow_remote`, and then a
//! bearer token is required on every request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::stats::{RateHistory, Stats};

/// Where and how the API listens.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` on every request when set.
    pub token: Option<String>,
    pub allow_remote: bool,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("--api {0} is not a loopback address: give --api-allow-remote and --api-token to serve it beyond this machine")]
    Remote(SocketAddr),
    #[error("--api-allow-remote needs --api-token (every request must carry it)")]
    NoToken,
    #[error("the monitoring API cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

impl ApiConfig {
    /// Checks the remote rules.
    pub fn check(&self) -> Result<(), ApiError> {
        if !self.addr.ip().is_loopback() {
            if !self.allow_remote {
                return Err(ApiError::Remote(self.addr));
            }
            if self.token.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::NoToken);
            }
        }
        Ok(())
    }
}

/// A running API server (stopped and joined when dropped).
pub struct Api {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the API serves about.
struct State {
    stats: Arc<Stats>,
    source: String,
    history: Mutex<RateHistory>,
    token: Option<String>,
}

/// Starts the API on its own thread.
pub fn start(config: &ApiConfig, stats: Arc<Stats>, source: String) -> Result<Api, ApiError> {
    config.check()?;
    let server = tiny_http::Server::http(config.addr).map_err(|e| ApiError::Bind {
        addr: config.addr,
        reason: e.to_string(),
    })?;
    let addr = server.server_addr().to_ip().unwrap_or(config.addr);
    if !config.addr.ip().is_loopback() {
        crate::elog!(
            "warning: the monitoring API listens on {addr}, beyond this machine (bearer token required)"
        );
    }
    let state = State {
        stats,
        source,
        history: Mutex::new(RateHistory::default()),
        token: config.token.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("hashrig-api".into())
        .spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                state
                    .history
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sample(&state.stats);
                match server.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(request)) => respond(&state, request),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("monitoring API: {e}");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        })
        .map_err(|e| ApiError::Bind {
            addr,
            reason: e.to_string(),
        })?;
    Ok(Api {
        stop,
        thread: Some(thread),
        addr,
    })
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn respond(state: &State, request: tiny_http::Request) {
    let authorized = match &state.token {
        None => true,
        Some(token) => request.headers().iter().any(|h| {
            h.field.equiv("Authorization") && h.value.as_str() == format!("Bearer {token}")
        }),
    };
    let path = request.url().split('?').next().unwrap_or("/").to_string();
    let (status, kind, body) = if !authorized {
        (
            401,
            "application/json",
            json!({"error": "a bearer token is required"}).to_string(),
        )
    } else if *request.method() != tiny_http::Method::Get {
        (
            405,
            "application/json",
            json!({"error": "read-only: GET only"}).to_string(),
        )
    } else {
        match path.as_str() {
            "/v1/summary" => (200, "application/json", summary(state).to_string()),
            "/v1/devices" => (200, "application/json", devices(state).to_string()),
            "/v1/pools" => (200, "application/json", pools(state).to_string()),
            "/v1/history" => (200, "application/json", history(state).to_string()),
            "/metrics" => (
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics(state),
            ),
            "/" | "/index.html" => (200, "text/html; charset=utf-8", DASHBOARD.to_string()),
            _ => (
                404,
                "application/json",
                json!({"error": format!("no such path: {path}")}).to_string(),
            ),
        }
    };
    let response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"));
    let _ = request.respond(response);
}

fn rates(state: &State) -> (Vec<f64>, Vec<f64>) {
    let h = state.history.lock().unwrap_or_else(|p| p.into_inner());
    let up = state.stats.uptime().as_secs_f64().max(1e-9);
    let average = state
        .stats
        .backends
        .iter()
        .map(|b| Stats::get(&b.hashes) as f64 / up)
        .collect();
    (h.rates(Duration::from_secs(5)), average)
}

fn summary(state: &State) -> Value {
    let s = &state.stats;
    let (recent, average) = rates(state);
    let in_use = s
        .pools()
        .iter()
        .position(|p| p.in_use.load(Ordering::Relaxed));
    json!({
        "source": state.source,
        "work": s.work(),
        "uptime_s": s.uptime().as_secs_f64(),
        "hashrate_5s": recent.iter().sum::<f64>(),
        "hashrate_avg": average.iter().sum::<f64>(),
        "hashes": s.hashes(),
        "hw_errors": s.hw_errors(),
        "found": Stats::get(&s.found),
        "sent": Stats::get(&s.sent),
        "accepted": Stats::get(&s.accepted),
        "rejected": Stats::get(&s.rejected),
        "stale": Stats::get(&s.stale),
        "kept": Stats::get(&s.kept),
        "unanswered": Stats::get(&s.unanswered),
        "blocks": Stats::get(&s.blocks),
        "switches": Stats::get(&s.switches),
        "max_switch_ms": s.max_switch().as_secs_f64() * 1000.0,
        "pool_in_use": in_use,
    })
}

fn devices(state: &State) -> Value {
    let (recent, average) = rates(state);
    Value::Array(
        state
            .stats
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                json!({
                    "index": i,
                    "name": b.name,
                    "hashrate_5s": recent.get(i).copied().unwrap_or(0.0),
                    "hashrate_avg": average.get(i).copied().unwrap_or(0.0),
                    "hashes": Stats::get(&b.hashes),
                    "hw_errors": Stats::get(&b.hw_errors),
                    "failed": b.failed.load(Ordering::Relaxed),
                    "max_switch_ms": b.max_switch().as_secs_f64() * 1000.0,
                })
            })
            .collect(),
    )
}

fn pools(state: &State) -> Value {
    let up = state.stats.uptime();
    Value::Array(
        state
            .stats
            .pools()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (mean, max) = p.submit_latency();
                json!({
                    "index": i,
                    "url": p.url,
                    "in_use": p.in_use.load(Ordering::Relaxed),
                    "accepted": Stats::get(&p.accepted),
                    "rejected": Stats::get(&p.rejected),
                    "rejected_by_reason": p.rejected_by_reason(),
                    "stale": Stats::get(&p.stale),
                    "unanswered": Stats::get(&p.unanswered),
                    "block_candidates": Stats::get(&p.block_candidates),
                    "difficulty": p.difficulty(),
                    "connects": Stats::get(&p.connects),
                    "failovers": Stats::get(&p.failovers),
                    "effective_hashrate": p.effective_hashrate(up),
                    "submit_ms_mean": mean.as_secs_f64() * 1000.0,
                    "submit_ms_max": max.as_secs_f64() * 1000.0,
                })
            })
            .collect(),
    )
}

fn history(state: &State) -> Value {
    let h = state.history.lock().unwrap_or_else(|p| p.into_inner());
    let start = state.stats.uptime();
    let now = Instant::now();
    // Rate between consecutive samples, per device: [seconds since start, rate0, rate1, ...].
    let samples: Vec<Value> = h
        .samples()
        .zip(h.samples().skip(1))
        .map(|((t0, a), (t1, b))| {
            let dt = t1.duration_since(*t0).as_secs_f64().max(1e-9);
            let at = start.as_secs_f64() - now.duration_since(*t1).as_secs_f64();
            let mut row = vec![json!((at * 10.0).round() / 10.0)];
            row.extend(b.iter().zip(a).map(|(b, a)| json!((b - a) as f64 / dt)));
            Value::Array(row)
        })
        .collect();
    json!({
        "devices": state.stats.backends.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "samples": samples,
    })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShareLabel {
    pool: String,
    result: String,
}

fn metrics(state: &State) -> String {
    let s = &state.stats;
    let (recent, _) = rates(state);
    let mut registry = Registry::with_prefix("hashrig");
    let hashes = Family::<DeviceLabel, Counter>::default();
    let rate = Family::<DeviceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let hw = Family::<DeviceLabel, Counter>::default();
    for (i, b) in s.backends.iter().enumerate() {
        let l = DeviceLabel {
            device: b.name.clone(),
        };
        hashes.get_or_create(&l).inc_by(Stats::get(&b.hashes));
        hw.get_or_create(&l).inc_by(Stats::get(&b.hw_errors));
        rate.get_or_create(&l)
            .set(recent.get(i).copied().unwrap_or(0.0));
    }
    registry.register("hashes", "Hashes computed, per device", hashes);
    registry.register(
        "hashrate",
        "Hash rate over the last 5 seconds, per device (H/s)",
        rate,
    );
    registry.register(
        "hardware_errors",
        "Results the reference hash refused, per device",
        hw,
    );
    let shares = Family::<ShareLabel, Counter>::default();
    let up = Family::<PoolLabel, Gauge>::default();
    let difficulty = Family::<PoolLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let failovers = Family::<PoolLabel, Counter>::default();
    for p in s.pools() {
        for (result, n) in [
            ("accepted", Stats::get(&p.accepted)),
            ("rejected", Stats::get(&p.rejected)),
            ("stale", Stats::get(&p.stale)),
            ("unanswered", Stats::get(&p.unanswered)),
        ] {
            shares
                .get_or_create(&ShareLabel {
                    pool: p.url.clone(),
                    result: result.into(),
                })
                .inc_by(n);
        }
        let l = PoolLabel {
            pool: p.url.clone(),
        };
        up.get_or_create(&l)
            .set(p.in_use.load(Ordering::Relaxed) as i64);
        difficulty.get_or_create(&l).set(p.difficulty());
        failovers.get_or_create(&l).inc_by(Stats::get(&p.failovers));
    }
    registry.register("shares", "Shares, by pool and result", shares);
    registry.register("pool_up", "1 for the pool being mined", up);
    registry.register(
        "pool_difficulty",
        "Share difficulty of the pool's job",
        difficulty,
    );
    registry.register("pool_failovers", "Times mining left the pool", failovers);
    let solutions = Family::<Vec<(String, String)>, Counter>::default();
    for (result, n) in [
        ("accepted", Stats::get(&s.accepted)),
        ("rejected", Stats::get(&s.rejected)),
        ("stale", Stats::get(&s.stale)),
        ("unanswered", Stats::get(&s.unanswered)),
    ] {
        solutions
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc_by(n);
    }
    registry.register(
        "solutions",
        "Solutions handed to the source (blocks or shares), by result",
        solutions,
    );
    let blocks: Counter = Counter::default();
    blocks.inc_by(Stats::get(&s.blocks));
    registry.register("blocks", "Blocks accepted by the node", blocks);
    let uptime: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    uptime.set(s.uptime().as_secs_f64());
    registry.register("uptime_seconds", "Seconds since the run started", uptime);
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::warn!("encoding metrics: {e}");
    }
    out
}

/// The dashboard: one self-contained page (no outside assets) that polls the JSON API.
const DASHBOARD: &str = include_str!("api/dashboard.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_rules() {
        let local = ApiConfig {
            addr: "127.0.0.1:4028".parse().unwrap(),
            token: None,
            allow_remote: false,
        };
        assert!(local.check().is_ok());
        let remote = ApiConfig {
            addr: "192.0.2.1:4028".parse().unwrap(),
            ..local.clone()
        };
        assert!(matches!(remote.check(), Err(ApiError::Remote(_))));
        let allowed = ApiConfig {
            allow_remote: true,
            ..remote.clone()
        };
        assert!(matches!(allowed.check(), Err(ApiError::NoToken)));
        let with_token = ApiConfig {
            token: Some("t".into()),
            ..allowed
        };
        assert!(with_token.check().is_ok());
    }
}
