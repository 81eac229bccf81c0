//! A small JSON-RPC 1.0 client over HTTP/1.1, as Bitcoin Core and bcoin speak it: POST with
//! basic auth, one request per connection, a timeout on every step. Credentials never appear in
//! errors or logs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

/// Largest response accepted (a full block template is a few MB).
const MAX_RESPONSE: usize = 64 << 20;

/// Errors talking to a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    #[error("bad node URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read the RPC cookie file {path}: {reason}")]
    Cookie { path: String, reason: String },
    #[error("cannot connect to the node at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the node at {url} did not answer in time ({timeout:?})")]
    Timeout { url: String, timeout: Duration },
    #[error("the node at {url} refused the RPC credentials (HTTP 401): check --rpc-user/--rpc-password or --rpc-cookie")]
    Unauthorized { url: String },
    #[error("connection to the node at {url} failed: {source}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
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
        Ok(format!("Basic {}", base64(pair.as_bytes())))
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

/// Standard base64 with padding (RFC 4648), for the Authorization header.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

    /// Calls `method` and returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "1.0", "id": "hashrig", "method": method, "params": params})
            .to_string();
        let (status, response) = self.post(&body)?;
        if status == 401 || status == 403 {
            return Err(RpcError::Unauthorized {
                url: self.url.clone(),
            });
        }
        let malformed = |reason: String| RpcError::Malformed {
            url: self.url.clone(),
            method: method.to_string(),
            reason,
        };
        let value: Value = match serde_json::from_slice(&response) {
            Ok(v) => v,
            Err(e) if status == 200 => return Err(malformed(format!("not JSON: {e}"))),
            Err(_) => {
                return Err(self.http_error(status, &response));
            }
        };
        match value.get("error") {
            Some(Value::Null) | None => {}
            Some(err) => {
                return Err(RpcError::Rpc {
                    method: method.to_string(),
                    code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)")
                        .to_string(),
                })
            }
        }
        if status != 200 {
            return Err(self.http_error(status, &response));
        }
        value
            .get("result")
            .cloned()
            .ok_or_else(|| malformed("no \"result\" field".into()))
    }

    /// A non-200 answer, with the start of its body.
    fn http_error(&self, status: u16, body: &[u8]) -> RpcError {
        RpcError::Http {
            url: self.url.clone(),
            status,
            body: String::from_utf8_lossy(body).chars().take(200).collect(),
        }
    }

    fn addr(&self) -> Result<SocketAddr, RpcError> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|source| RpcError::Connect {
                url: self.url.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| RpcError::Url {
                url: self.url.clone(),
                reason: "the host name resolves to no address".into(),
            })
    }

    /// One HTTP POST; returns the status and the body.
    fn post(&self, body: &str) -> Result<(u16, Vec<u8>), RpcError> {
        let io = |source: std::io::Error| {
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                RpcError::Timeout {
                    url: self.url.clone(),
                    timeout: self.timeout,
                }
            } else {
                RpcError::Io {
                    url: self.url.clone(),
                    source,
                }
            }
        };
        let addr = self.addr()?;
        let connect_timeout = self.timeout.min(Duration::from_secs(10));
        let mut stream = TcpStream::connect_timeout(&addr, connect_timeout).map_err(|source| {
            if source.kind() == std::io::ErrorKind::TimedOut {
                RpcError::Timeout {
                    url: self.url.clone(),
                    timeout: connect_timeout,
                }
            } else {
                RpcError::Connect {
                    url: self.url.clone(),
                    source,
                }
            }
        })?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            self.port,
            self.auth.header()?,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        stream.write_all(body.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() > MAX_RESPONSE {
            return Err(self.bad_http("response larger than 64 MiB"));
        }
        self.parse_response(&raw)
    }

    fn bad_http(&self, reason: &str) -> RpcError {
        RpcError::Io {
            url: self.url.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason.to_string()),
        }
    }

    fn parse_response(&self, raw: &[u8]) -> Result<(u16, Vec<u8>), RpcError> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| self.bad_http("the connection closed before a complete HTTP answer"))?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let body = &raw[split + 4..];
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| self.bad_http("no HTTP status line"))?;
        let mut chunked = false;
        let mut length = None;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().contains("chunked");
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                }
            }
        }
        let body = if chunked {
            dechunk(body).ok_or_else(|| self.bad_http("malformed chunked body"))?
        } else if let Some(n) = length {
            if body.len() < n {
                return Err(self.bad_http("the connection closed in the middle of the answer"));
            }
            body[..n].to_vec()
        } else {
            body.to_vec()
        };
        Ok((status, body))
    }
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

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
    fn chunked_bodies_decode() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap(),
            b"Wikipedia"
        );
        assert!(dechunk(b"ff\r\nshort").is_none());
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
