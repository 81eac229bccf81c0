//! A JSON-RPC 1.0 client over HTTP (ureq), as Bitcoin Core, bcoin and btcd speak it: POST with
//! basic auth, a deadline on the whole request, every resolved address tried. Credentials never
//! appear in errors or logs.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::ui::output::clip;

/// A JSON-RPC answer, its parts left unparsed (`null` included: `Some("null")`; `None` only
/// when the field is missing).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A JSON-RPC error object (anything else reads as code 0, no message).
#[derive(Deserialize, Default)]
struct RpcErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

/// Largest response accepted: a template of a full 4 MWU block is at most about 12 MB of
/// JSON; anything larger is not a template (and is not held in memory).
const MAX_RESPONSE: u64 = 16 << 20;

/// Errors talking to a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    #[error("bad node URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read the RPC cookie file {path}: {reason}")]
    Cookie { path: String, reason: String },
    #[error("cannot connect to the node at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the node at {url} did not answer in time ({timeout:?})")]
    Timeout { url: String, timeout: Duration },
    #[error("the node at {url} refused the RPC credentials (HTTP 401): check --rpc-user/--rpc-password or --rpc-cookie")]
    Unauthorized { url: String, cookie: bool },
    #[error("the node at {url} does not allow this client (HTTP 403): check its rpcallowip")]
    Forbidden { url: String },
    #[error("connection to the node at {url} failed: {reason}")]
    Io { url: String, reason: String },
    #[error("the node at {url} answered HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("RPC {method} failed with error {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    #[error("malformed answer to {method} from {url}: {reason}")]
    Malformed {
        url: String,
        method: String,
        reason: String,
    },
}

impl RpcError {
    /// Errors that go away by themselves: the node is starting, syncing, unreachable or slow.
    /// The miner waits these out with backoff; everything else is reported.
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::Connect { .. } | RpcError::Timeout { .. } | RpcError::Io { .. } => true,
            // Bitcoin Core deletes its cookie when it stops and writes a new one when it starts.
            RpcError::Cookie { .. } | RpcError::Unauthorized { cookie: true, .. } => true,
            // -9 not connected, -10 in initial block download, -28 warming up.
            RpcError::Rpc { code, .. } => matches!(code, -9 | -10 | -28),
            RpcError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    UserPass {
        user: String,
        password: String,
    },
    /// Bitcoin Core's `.cookie` file ("__cookie__:password"), re-read on every call since the
    /// node rewrites it when it restarts.
    Cookie(std::path::PathBuf),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::UserPass { user, .. } => write!(f, "UserPass({user}, <hidden>)"),
            Auth::Cookie(path) => write!(f, "Cookie({})", path.display()),
        }
    }
}

impl Auth {
    fn header(&self) -> Result<String, RpcError> {
        let pair = match self {
            Auth::UserPass { user, password } => format!("{user}:{password}"),
            Auth::Cookie(path) => read_cookie(path)?,
        };
        Ok(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ))
    }
}

fn read_cookie(path: &Path) -> Result<String, RpcError> {
    let text = std::fs::read_to_string(path).map_err(|e| RpcError::Cookie {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if !line.contains(':') {
        return Err(RpcError::Cookie {
            path: path.display().to_string(),
            reason: "expected one line \"user:password\"".into(),
        });
    }
    Ok(line)
}

/// `url` with any `user:password@` part replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://<credentials>@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// A JSON-RPC endpoint.
#[derive(Clone, Debug)]
pub struct RpcClient {
    /// The URL as shown in messages (no credentials).
    url: String,
    host: String,
    port: u16,
    path: String,
    auth: Auth,
    timeout: Duration,
}

impl RpcClient {
    /// `url` is `http://HOST[:PORT][/PATH]` (port 8332 when left out).
    pub fn new(url: &str, auth: Auth, timeout: Duration) -> Result<Self, RpcError> {
        let bad = |reason: &str| RpcError::Url {
            url: redact(url),
            reason: reason.to_string(),
        };
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            bad("only http:// is supported (run the node's RPC on a trusted network)")
        })?;
        if rest.contains('@') {
            return Err(bad(
                "put credentials in --rpc-user/--rpc-password or --rpc-cookie, not in the URL",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && !p.contains(']') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority.to_string(), 8332),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(RpcClient {
            url: url.trim_end_matches('/').to_string(),
            host,
            port,
            path,
            auth,
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same endpoint with another timeout (longpoll calls wait for minutes).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        RpcClient {
            timeout,
            ..self.clone()
        }
    }

    /// Calls `method` and parses its `result` as `T`.
    pub fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        self.call_with(method, params, |raw| {
            serde_json::from_str(raw.get()).map_err(|e| self.malformed(method, &e))
        })
    }

    /// Calls `method` and hands its `result`, unparsed, to `parse` (the body is never turned
    /// into a JSON tree: a hostile answer costs its size, not 30 times that).
    pub fn call_with<T, E: From<RpcError>>(
        &self,
        method: &str,
        params: Value,
        parse: impl FnOnce(&RawValue) -> Result<T, E>,
    ) -> Result<T, E> {
        let body = json!({"jsonrpc": "1.0", "id": "hashrig", "method": method, "params": params})
            .to_string();
        let (status, response) = self.post(&body)?;
        parse(self.answer(method, status, &response)?)
    }

    /// The `result` of an answer to `method` (HTTP `status`, `body`), unparsed; or what the
    /// answer says went wrong. No I/O: the fuzzers feed it anything.
    pub fn answer<'a>(
        &self,
        method: &str,
        status: u16,
        response: &'a [u8],
    ) -> Result<&'a RawValue, RpcError> {
        match status {
            401 => {
                return Err(RpcError::Unauthorized {
                    url: self.url.clone(),
                    cookie: matches!(self.auth, Auth::Cookie(_)),
                })
            }
            403 => {
                return Err(RpcError::Forbidden {
                    url: self.url.clone(),
                })
            }
            _ => {}
        }
        let envelope: Envelope<'_> = match serde_json::from_slice(response) {
            Ok(v) => v,
            Err(e) if status == 200 => return Err(self.malformed(method, &e)),
            Err(_) => return Err(self.http_error(status, response)),
        };
        if let Some(err) = envelope.error.filter(|e| e.get() != "null") {
            let err: RpcErrorBody = serde_json::from_str(err.get()).unwrap_or_default();
            return Err(RpcError::Rpc {
                method: method.to_string(),
                code: err.code.unwrap_or(0),
                message: clip(err.message.as_deref().unwrap_or("(no message)"), 300),
            });
        }
        if status != 200 {
            return Err(self.http_error(status, response));
        }
        envelope.result.ok_or_else(|| RpcError::Malformed {
            url: self.url.clone(),
            method: method.to_string(),
            reason: "no \"result\" field".into(),
        })
    }

    /// An answer that does not parse as what `method` returns.
    pub fn malformed(&self, method: &str, error: &dyn std::fmt::Display) -> RpcError {
        RpcError::Malformed {
            url: self.url.clone(),
            method: method.to_string(),
            reason: clip(&error.to_string(), 200),
        }
    }

    /// A non-200 answer, with the start of its body.
    fn http_error(&self, status: u16, body: &[u8]) -> RpcError {
        RpcError::Http {
            url: self.url.clone(),
            status,
            body: clip(&String::from_utf8_lossy(&body[..body.len().min(1000)]), 200),
        }
    }

    /// The endpoint as ureq takes it (no credentials in it).
    fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("http://{}:{}{}", self.host, self.port, self.path)
        }
    }

    /// One HTTP POST under one deadline; returns the status and the body.
    fn post(&self, body: &str) -> Result<(u16, Vec<u8>), RpcError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(self.timeout.min(Duration::from_secs(10))))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(0)
            .user_agent(concat!("hashrig/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut response = agent
            .post(self.endpoint())
            .header("Authorization", self.auth.header()?)
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| self.transport_error(e))?;
        Ok((status, body))
    }

    fn transport_error(&self, error: ureq::Error) -> RpcError {
        let url = self.url.clone();
        match error {
            ureq::Error::Timeout(_) => RpcError::Timeout {
                url,
                timeout: self.timeout,
            },
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => RpcError::Connect {
                url,
                reason: error.to_string(),
            },
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::NotFound
                ) =>
            {
                RpcError::Connect {
                    url,
                    reason: e.to_string(),
                }
            }
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => RpcError::Timeout {
                url,
                timeout: self.timeout,
            },
            ureq::Error::BodyExceedsLimit(_) => RpcError::Io {
                url,
                reason: format!("answer larger than {} MiB", MAX_RESPONSE >> 20),
            },
            other => RpcError::Io {
                url,
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let auth = Auth::UserPass {
            user: "u".into(),
            password: "p".into(),
        };
        let c = RpcClient::new(
            "http://127.0.0.1:18443",
            auth.clone(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("127.0.0.1", 18443, "/")
        );
        let c = RpcClient::new(
            "http://localhost/wallet/x",
            auth.clone(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!((c.port, c.path.as_str()), (8332, "/wallet/x"));
        assert!(RpcClient::new("https://x", auth.clone(), Duration::from_secs(1)).is_err());
        let err = RpcClient::new("http://u:secret@127.0.0.1:1", auth, Duration::from_secs(1))
            .unwrap_err();
        assert!(!format!("{err}").contains("secret"), "{err}");
        assert!(format!("{err}").contains("not in the URL"));
    }

    #[test]
    fn debug_hides_the_password() {
        let auth = Auth::UserPass {
            user: "alice".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
