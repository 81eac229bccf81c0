//! The monitoring API (`--api ADDR`, off by default): read-only JSON over HTTP in the spirit
//! of cgminer's port 4028, Prometheus metrics, and a small self-contained dashboard page.
//!
//! - `GET /v1/summary`, `/v1/devices`, `/v1/pools`, `/v1/history` (JSON)
//! - `GET /metrics` (Prometheus text format, `prometheus-client`)
//! - `GET /` (the dashboard: devices and a live hash-rate chart; no outside assets)
//!
//! On a loopback address by default; another address only with `allow_remote`, and then a
//! bearer token is required on every request. A client is never trusted: hyper on a
//! current-thread tokio runtime on the API's own thread, at most [`MAX_CONNECTIONS`] at
//! once (more are closed at once), headers of at most 16 KiB read within [`HEADER_TIMEOUT`],
//! no request body, every connection closed after [`CONNECTION_LIFETIME`], a Host header
//! that must name this machine on a loopback address (no DNS rebinding), the token compared
//! in constant time. Running out of file descriptors pauses accepting; it never aborts. A
//! panic in the server is caught and the server started again: mining never stops for it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::secret::Secret;
use crate::stats::{RateHistory, Stats};

pub mod cgminer;

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this, whatever it is doing.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// The most bytes of a request head hyper buffers.
const MAX_HEAD: usize = 16 * 1024;

/// Where and how the API listens.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer TOKEN` on every request when set.
    pub token: Option<Secret>,
    pub allow_remote: bool,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("--api {0} is not a loopback address: give --api-allow-remote and --api-token to serve it beyond this machine")]
    Remote(SocketAddr),
    #[error("--api-allow-remote needs --api-token (every request must carry it)")]
    NoToken,
    #[error("the monitoring API cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ApiConfig {
    /// Checks the remote rules.
    pub fn check(&self) -> Result<(), ApiError> {
        if !self.addr.ip().is_loopback() {
            if !self.allow_remote {
                return Err(ApiError::Remote(self.addr));
            }
            if self.token.as_ref().is_none_or(Secret::is_empty) {
                return Err(ApiError::NoToken);
            }
        }
        Ok(())
    }
}

/// A running API server (stopped and joined when dropped).
pub struct Api {
    _server: Server,
    pub addr: SocketAddr,
}

/// What the API serves about.
struct State {
    stats: Arc<Stats>,
    source: String,
    history: Mutex<RateHistory>,
    token: Option<Secret>,
    /// Host header check (a loopback address only).
    loopback: bool,
    /// Connections closed at once because [`MAX_CONNECTIONS`] were open.
    refused: AtomicU64,
}

/// Starts the API on its own thread.
pub fn start(config: &ApiConfig, stats: Arc<Stats>, source: String) -> Result<Api, ApiError> {
    config.check()?;
    let bind = |source| ApiError::Bind {
        addr: config.addr,
        source,
    };
    let listener = listen(config.addr).map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    if !config.addr.ip().is_loopback() {
        crate::elog!(
            "warning: the monitoring API listens on {addr}, beyond this machine (bearer token required)"
        );
    }
    let state = Arc::new(State {
        stats,
        source,
        history: Mutex::new(RateHistory::default()),
        token: config.token.clone(),
        loopback: config.addr.ip().is_loopback(),
        refused: AtomicU64::new(0),
    });
    let server = Server::spawn("hashrig-api", listener, state).map_err(bind)?;
    Ok(Api {
        _server: server,
        addr,
    })
}

/// A non-blocking listener on `addr`.
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// How often the servers sample the rate history. At 0.9 s, equal to the history's minimum
/// gap, a tick after a late one was dropped: half the samples on a busy machine.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// What a [`Server`] serves: each accepted connection, and a tick about once a second.
pub(super) trait Service: Send + Sync + 'static {
    /// Every [`SAMPLE_EVERY`] (rate samples).
    fn tick(&self);
    /// A connection was closed at once: [`MAX_CONNECTIONS`] were open.
    fn refused(&self);
    /// Serves one connection (the server ends it after [`CONNECTION_LIFETIME`]).
    fn serve(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// A TCP server on its own thread and current-thread tokio runtime, with the limits above;
/// stopped and joined when dropped. A panic in it is logged and the server started again on
/// the same socket: mining never stops for it.
pub(super) struct Server {
    stop: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    pub(super) fn spawn<S: Service>(
        name: &str,
        listener: std::net::TcpListener,
        service: Arc<S>,
    ) -> std::io::Result<Server> {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = Arc::new(AtomicBool::new(false));
        let (stop2, stopped2) = (Arc::clone(&stop), Arc::clone(&stopped));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || supervise(listener, service, stop2, stopped2))?;
        Ok(Server {
            stop,
            stopped,
            thread: Some(thread),
        })
    }
}

/// Runs the server until it is stopped; a panic in it is logged and the server started
/// again on the same socket.
fn supervise<S: Service>(
    listener: std::net::TcpListener,
    service: Arc<S>,
    stop: Arc<tokio::sync::Notify>,
    stopped: Arc<AtomicBool>,
) {
    while !stopped.load(Ordering::Relaxed) {
        let listener = match listener.try_clone() {
            Ok(l) => l,
            Err(e) => {
                crate::elog!("error: the monitoring API stops: {e}");
                return;
            }
        };
        let (service, stop) = (Arc::clone(&service), Arc::clone(&stop));
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(serve(listener, service, stop)),
                Err(e) => crate::elog!("error: the monitoring API cannot start: {e}"),
            }
        }));
        match ran {
            Ok(()) => return,
            Err(_) => {
                crate::elog!(
                    "error: the monitoring API failed (a bug: please report it); starting it again"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

async fn serve<S: Service>(
    listener: std::net::TcpListener,
    service: Arc<S>,
    stop: Arc<tokio::sync::Notify>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return crate::elog!("error: the monitoring API stops: {e}"),
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut sample = tokio::time::interval(SAMPLE_EVERY);
    let mut last_accept_error: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            _ = sample.tick() => service.tick(),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        // Full: closed at once (the client sees the connection end).
                        service.refused();
                        drop(stream);
                        continue;
                    };
                    let service = Arc::clone(&service);
                    tokio::spawn(async move {
                        let _permit = permit;
                        let _ = tokio::time::timeout(CONNECTION_LIFETIME, service.serve(stream, peer)).await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors (EMFILE), or a connection reset before it was
                    // taken: wait a little (the fds come back as connections end).
                    if last_accept_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_accept_error = Some(Instant::now());
                        crate::elog!("monitoring API: cannot accept a connection: {e} (retrying)");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Service for State {
    fn tick(&self) {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sample(&self.stats);
    }

    fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    fn serve(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        _peer: SocketAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(connection(stream, self))
    }
}

async fn connection(stream: tokio::net::TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    serve_io(stream, state).await
}

/// One connection's requests, answered (HTTP/1.1, with the limits and timeouts above).
async fn serve_io<IO>(stream: IO, state: Arc<State>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(respond(&state, &request)) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(io, service)
        .await;
}

/// For the fuzzers: what the API answers to `request` (raw bytes sent on one connection that
/// then closes its sending side), with the token "t" required when `token` is set. No socket:
/// an in-memory pipe on `runtime`.
#[doc(hidden)]
pub fn answer_bytes(runtime: &tokio::runtime::Runtime, request: &[u8], token: bool) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = request.to_vec();
    let state = Arc::new(State {
        stats: Arc::new(Stats::new(["cpu".to_string()])),
        source: "fuzz".into(),
        history: Mutex::new(RateHistory::default()),
        token: token.then(|| Secret::new("t")),
        loopback: true,
        refused: AtomicU64::new(0),
    });
    runtime.block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn(serve_io(server, state));
        let (mut from, mut to) = tokio::io::split(client);
        let mut answer = Vec::new();
        let send = async {
            let _ = to.write_all(&request).await;
            let _ = to.shutdown().await;
        };
        let receive = from.read_to_end(&mut answer);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(send, receive)
        })
        .await;
        served.abort();
        answer
    })
}

/// True when the request's `Authorization` is `Bearer TOKEN` (the scheme in any case; the
/// token compared in constant time).
fn authorized(token: &Secret, header: Option<&hyper::header::HeaderValue>) -> bool {
    use subtle::ConstantTimeEq;
    let Some(value) = header.map(|h| h.as_bytes()) else {
        return false;
    };
    let Some(given) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|_| value[7..].trim_ascii())
    else {
        return false;
    };
    bool::from(given.ct_eq(token.expose().as_bytes()))
}

/// True when `host` (a Host header) names this machine: localhost or a loopback address,
/// with any port. A page of another site that a DNS trick points at 127.0.0.1 sends its own
/// name and is refused.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn reply(status: StatusCode, kind: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(kind)
            .unwrap_or(hyper::header::HeaderValue::from_static("text/plain")),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

fn refuse(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut r = reply(
        status,
        "application/json",
        json!({ "error": message }).to_string(),
    );
    // A request we did not serve: its body (if any) is not read, so the connection ends.
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

fn respond<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    let headers = request.headers();
    if state.loopback {
        if let Some(host) = headers.get(hyper::header::HOST) {
            if !host.to_str().is_ok_and(loopback_host) {
                return refuse(
                    StatusCode::MISDIRECTED_REQUEST,
                    "the Host header must name this machine (localhost or a loopback address)",
                );
            }
        }
    }
    if let Some(token) = &state.token {
        if !authorized(token, headers.get(hyper::header::AUTHORIZATION)) {
            return refuse(StatusCode::UNAUTHORIZED, "a bearer token is required");
        }
    }
    let has_body = headers
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || headers.contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "read-only: no request body");
    }
    if request.method() != hyper::Method::GET {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "read-only: GET only");
    }
    let path = request.uri().path();
    match path {
        "/v1/summary" => reply(
            StatusCode::OK,
            "application/json",
            summary(state).to_string(),
        ),
        "/v1/devices" => reply(
            StatusCode::OK,
            "application/json",
            devices(state).to_string(),
        ),
        "/v1/pools" => reply(StatusCode::OK, "application/json", pools(state).to_string()),
        "/v1/history" => reply(
            StatusCode::OK,
            "application/json",
            history(state).to_string(),
        ),
        // OpenMetrics to a scraper that asks for it (Prometheus does), else the classic text
        // format (version 0.0.4) that every other reader takes.
        "/metrics" if wants_openmetrics(request) => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics(state),
        ),
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            classic_text(&metrics(state)),
        ),
        "/" | "/index.html" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            DASHBOARD.to_string(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "application/json",
            json!({"error": format!("no such path: {}", crate::ui::output::clip(path, 100))})
                .to_string(),
        ),
    }
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
        "dropped": Stats::get(&s.dropped),
        "api_connections_refused": state.refused.load(Ordering::Relaxed),
        "version": env!("CARGO_PKG_VERSION"),
        "reject_percent": crate::stats::percent(Stats::get(&s.rejected), Stats::get(&s.accepted)),
        "hashrate_effective": s.effective_hashrate(),
        "best_share": s.best_share(),
        "network_difficulty": s.network_difficulty(),
        // Job declaration mode (null for other sources).
        "job_declaration": s.jd(),
        // Seconds to a block on average at the 5 s rate (the average one before there is
        // one; null: never, at 0 H/s).
        "expected_block_s": Some(s.expected_block_seconds(
            Some(recent.iter().sum::<f64>())
                .filter(|r| *r > 0.0)
                .unwrap_or_else(|| average.iter().sum::<f64>()),
        ))
        .filter(|t| t.is_finite()),
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
                    "effective_hashrate": p.effective_hashrate(up, state.stats.algo()),
                    "reject_percent": p.reject_percent(),
                    "best_share": p.best_share(),
                    "connected": p.connected.load(Ordering::Relaxed),
                    "last_share_s": p.last_share_age().map(|d| d.as_secs_f64()),
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

mod metrics;
use metrics::{classic_text, metrics, wants_openmetrics};

/// The dashboard: one self-contained page (no outside assets) that polls the JSON API.
const DASHBOARD: &str = include_str!("dashboard.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_text_names_counters_by_their_samples() {
        let om = "# HELP hashrig_hashes Hashes.\n# TYPE hashrig_hashes counter\nhashrig_hashes_total{device=\"cpu\"} 5\n# TYPE hashrig_up gauge\nhashrig_up 1\n# EOF\n";
        assert_eq!(
            classic_text(om),
            "# HELP hashrig_hashes_total Hashes.\n# TYPE hashrig_hashes_total counter\nhashrig_hashes_total{device=\"cpu\"} 5\n# TYPE hashrig_up gauge\nhashrig_up 1\n"
        );
    }

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

    #[test]
    fn tokens_are_bearer_in_any_case_and_exact() {
        let token = Secret::new("s3cret");
        let h = |v: &str| hyper::header::HeaderValue::from_str(v).unwrap();
        assert!(authorized(&token, Some(&h("Bearer s3cret"))));
        assert!(authorized(&token, Some(&h("bearer s3cret"))));
        assert!(authorized(&token, Some(&h("BEARER  s3cret "))));
        for bad in [
            "Bearer s3cre",
            "Bearer s3cretX",
            "Basic s3cret",
            "s3cret",
            "Bearer",
        ] {
            assert!(!authorized(&token, Some(&h(bad))), "{bad}");
        }
        assert!(!authorized(&token, None));
    }

    /// Issue 15: DNS rebinding: a page of another site whose name resolves to 127.0.0.1.
    #[test]
    fn only_this_machines_names_pass_the_host_check() {
        for ok in [
            "localhost",
            "localhost:4028",
            "127.0.0.1:4028",
            "127.5.5.5",
            "[::1]:4028",
            "LOCALHOST",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4028",
            "192.168.1.5:4028",
            "localhost.evil.example",
            "[::2]:1",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
