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
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{listen, Server, Service};
use crate::stats::{RateHistory, Stats};

mod commands;
mod protocol;

pub use protocol::answer_bytes;
use protocol::{answer, Views};

/// cgminer's port, and the default of `--api-cgminer` without a value.
pub const DEFAULT_PORT: u16 = 4028;
/// The most bytes a request may have.
pub const MAX_REQUEST: usize = 8 * 1024;
/// A request must arrive within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
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

#[cfg(test)]
mod tests {
    use super::*;

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
            addr: "192.0.2.1:4028".parse().unwrap(),
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
