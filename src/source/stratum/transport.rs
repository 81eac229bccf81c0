//! Pool addresses and the wire under Stratum v1: TCP (the one connect loop, also used by
//! Stratum V2), or TLS over TCP (rustls), split into a reading half (lines of at most
//! [`MAX_LINE`] bytes) and a writing half (the connection's writer thread, see `driver.rs`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::error::StratumError;
use super::v1::protocol::MAX_LINE;
use crate::secret::Secret;

/// What is wrong with a pool URL (the URL is shown without its credentials).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{url:?}: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: String,
}

/// `url` with any `user:password@` part replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://<credentials>@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// A pool address: `stratum+tcp://host:port` or `stratum+ssl://host:port` (also
/// `stratum+tls://`, and `tcp://`/`ssl://`/`tls://`) for Stratum v1;
/// `stratum2+tcp://host:port/AUTHORITY_KEY` for Stratum V2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Stratum V2: the pool's authority public key (its certificate must be signed by it).
    pub v2: Option<super::v2::AuthorityKey>,
    /// The key as given (for display).
    key_text: Option<String>,
    /// `user[:password]@` from the URL (used for this pool instead of `--user`/`--password`;
    /// never displayed).
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl std::fmt::Display for PoolUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match (&self.v2, self.tls) {
            (Some(_), _) => "stratum2+tcp",
            (None, true) => "stratum+ssl",
            (None, false) => "stratum+tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        }
        if let Some(key) = &self.key_text {
            write!(f, "/{key}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PoolUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let shown = redact(url);
        let bad = |reason: String| UrlError {
            url: shown.clone(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            bad("expected stratum+tcp://HOST:PORT, stratum+ssl://HOST:PORT or stratum2+tcp://HOST:PORT/AUTHORITY_KEY".into())
        })?;
        let (tls, v2) = match scheme.to_ascii_lowercase().as_str() {
            "stratum+tcp" | "stratum" | "tcp" => (false, false),
            "stratum+ssl" | "stratum+tls" | "ssl" | "tls" => (true, false),
            "stratum2+tcp" | "stratum2" | "sv2" => (false, true),
            other => {
                return Err(bad(format!(
                    "unknown scheme {:?} (stratum+tcp, stratum+ssl or stratum2+tcp)",
                    crate::ui::output::clip(other, 40)
                )))
            }
        };
        // user[:password]@ (cpuminer's form): this pool's credentials.
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((info, rest)) if !info.contains('/') => (Some(info), rest),
            _ => (None, rest),
        };
        let (user, password) = match userinfo.map(|i| i.split_once(':').unwrap_or((i, ""))) {
            Some(("", _)) => return Err(bad("the user before '@' is empty".into())),
            Some((u, p)) => (Some(u.to_string()), Some(Secret::new(p))),
            None => (None, None),
        };
        let (address, key_text) = match rest.split_once('/') {
            Some((a, k)) if !k.trim_matches('/').is_empty() => (a, Some(k.trim_matches('/'))),
            Some((a, _)) => (a, None),
            None => (rest, None),
        };
        let key = match (v2, key_text) {
            (true, Some(k)) => Some(
                k.parse::<super::v2::AuthorityKey>()
                    .map_err(|e| bad(e.to_string()))?,
            ),
            (true, None) => return Err(bad(
                "a Stratum V2 pool needs its authority key: stratum2+tcp://HOST:PORT/AUTHORITY_KEY"
                    .into(),
            )),
            (false, Some(_)) => {
                return Err(bad(
                    "only a stratum2+tcp:// URL has a path (the authority key)".into(),
                ))
            }
            (false, None) => None,
        };
        let (host, port) = if let Some(v6) = address.strip_prefix('[') {
            v6.split_once("]:")
                .ok_or_else(|| bad("expected [IPv6]:PORT".into()))?
        } else {
            address
                .rsplit_once(':')
                .ok_or_else(|| bad("the port is missing (HOST:PORT)".into()))?
        };
        if host.is_empty() || host.contains(['/', ' ', '@']) || host.len() > 253 {
            return Err(bad(format!(
                "{:?} is not a host name",
                crate::ui::output::clip(host, 80)
            )));
        }
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
            bad(format!(
                "{:?} is not a port",
                crate::ui::output::clip(port, 20)
            ))
        })?;
        Ok(PoolUrl {
            tls,
            host: host.to_string(),
            port,
            v2: key,
            key_text: key.and(key_text.map(str::to_string)),
            user,
            password,
        })
    }
}

impl PoolUrl {
    /// The same pool at another address (`client.reconnect`, V2 Reconnect).
    pub fn moved(&self, host: Option<&str>, port: Option<u16>) -> PoolUrl {
        let mut url = self.clone();
        if let Some(h) = host {
            url.host = h.to_string();
        }
        if let Some(p) = port {
            url.port = p;
        }
        url
    }
}

/// What is wrong with the TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("--pool-ca {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Setup(#[from] rustls::Error),
}

/// TLS settings: the roots a pool's certificate must chain to.
pub fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca = |reason: String| TlsConfigError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("system certificates: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!("no system root certificates found: stratum+ssl pools will fail (give --pool-ca)");
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

enum Inner {
    Plain(TcpStream),
    Tls {
        socket: TcpStream,
        conn: Arc<Mutex<ClientConnection>>,
    },
}

/// The writing half.
pub struct Writer {
    inner: Inner,
}

/// The reading half.
pub struct Reader {
    inner: Inner,
    buf: Vec<u8>,
    tls_in: Vec<u8>,
}

/// How long one write may block: a pool that stops reading is dropped after this, without
/// holding up anything else (each connection has its own writer thread).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TCP connection to `host:port`, every resolved address tried in turn, each within
/// `timeout`; no delay, and a [`WRITE_TIMEOUT`] on writes. (Stratum v1 and V2 alike.)
pub fn dial(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, StratumError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|source| StratumError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    let mut last = StratumError::NoAddress {
        host: host.to_string(),
    };
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(socket) => {
                let _ = socket.set_nodelay(true);
                socket
                    .set_write_timeout(Some(WRITE_TIMEOUT.min(timeout.max(Duration::from_secs(1)))))
                    .map_err(StratumError::Socket)?;
                return Ok(socket);
            }
            Err(source) => last = StratumError::Connect { addr, source },
        }
    }
    Err(last)
}

/// Connects (and does the TLS handshake) within `timeout`.
pub fn connect(
    url: &PoolUrl,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<(Reader, Writer), StratumError> {
    let socket = dial(&url.host, url.port, timeout)?;
    let inner = if url.tls {
        let config = tls.ok_or(StratumError::NoTlsConfig)?;
        let name =
            ServerName::try_from(url.host.clone()).map_err(|_| StratumError::ServerName {
                host: url.host.clone(),
            })?;
        let mut conn = ClientConnection::new(Arc::clone(config), name)?;
        let mut s = &socket;
        socket
            .set_read_timeout(Some(timeout))
            .map_err(StratumError::Socket)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut s)
                .map_err(|source| StratumError::TlsHandshake {
                    host: url.host.clone(),
                    source,
                })?;
        }
        socket
            .set_read_timeout(None)
            .map_err(StratumError::Socket)?;
        Inner::Tls {
            socket,
            conn: Arc::new(Mutex::new(conn)),
        }
    } else {
        Inner::Plain(socket)
    };
    let twin = match &inner {
        Inner::Plain(s) => Inner::Plain(s.try_clone().map_err(StratumError::Socket)?),
        Inner::Tls { socket, conn } => Inner::Tls {
            socket: socket.try_clone().map_err(StratumError::Socket)?,
            conn: Arc::clone(conn),
        },
    };
    Ok((
        Reader {
            inner: twin,
            buf: Vec::new(),
            tls_in: vec![0; 16 * 1024],
        },
        Writer { inner },
    ))
}

fn lock(conn: &Mutex<ClientConnection>) -> std::sync::MutexGuard<'_, ClientConnection> {
    conn.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn flush_tls(conn: &mut ClientConnection, mut socket: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(&mut socket)?;
    }
    Ok(())
}

impl Writer {
    /// A handle on the socket, to shut it down from another thread.
    pub fn socket(&self) -> io::Result<TcpStream> {
        match &self.inner {
            Inner::Plain(s) | Inner::Tls { socket: s, .. } => s.try_clone(),
        }
    }

    pub fn send(&mut self, line: &str) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(s) => s.write_all(line.as_bytes()),
            Inner::Tls { socket, conn } => {
                let mut c = lock(conn);
                c.writer().write_all(line.as_bytes())?;
                flush_tls(&mut c, socket)
            }
        }
    }

    /// Ends the connection (the reading half returns).
    pub fn close(&mut self) {
        match &mut self.inner {
            Inner::Plain(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            Inner::Tls { socket, conn } => {
                let mut c = lock(conn);
                c.send_close_notify();
                let _ = flush_tls(&mut c, socket);
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Reader {
    /// Plaintext bytes into `out` (0 = closed).
    fn read_some(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(s) => s.read(out),
            Inner::Tls { socket, conn } => loop {
                {
                    let mut c = lock(conn);
                    match c.reader().read(out) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                // Wait for more TLS records without holding the connection.
                let n = socket.read(&mut self.tls_in)?;
                if n == 0 {
                    return Ok(0);
                }
                let mut c = lock(conn);
                let mut records = &self.tls_in[..n];
                while !records.is_empty() {
                    c.read_tls(&mut records)?;
                    c.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                flush_tls(&mut c, socket)?;
            },
        }
    }

    /// The next line (without its newline; empty lines are skipped).
    pub fn line(&mut self) -> Result<Vec<u8>, StratumError> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(StratumError::LineTooLong(MAX_LINE));
            }
            match self.read_some(&mut chunk) {
                Ok(0) => return Err(StratumError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(StratumError::Closed)
                }
                Err(e) => return Err(StratumError::Read(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: PoolUrl = "stratum+tcp://127.0.0.1:3333".parse().unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 3333));
        let u: PoolUrl = "stratum+ssl://pool.example:443/".parse().unwrap();
        assert!(u.tls);
        assert_eq!(u.to_string(), "stratum+ssl://pool.example:443");
        let u: PoolUrl = "stratum+tcp://[::1]:3333".parse().unwrap();
        assert_eq!(u.host, "::1");
        let key = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
        let u: PoolUrl = format!("stratum2+tcp://127.0.0.1:34254/{key}")
            .parse()
            .unwrap();
        assert!(u.v2.is_some() && !u.tls);
        assert_eq!(
            u.to_string(),
            format!("stratum2+tcp://127.0.0.1:34254/{key}")
        );
        for bad in [
            "127.0.0.1:3333",
            "http://127.0.0.1:3333",
            "stratum+tcp://127.0.0.1",
            "stratum+tcp://127.0.0.1:0",
            "stratum+tcp://127.0.0.1:99999",
            "stratum+tcp://:3333",
            "stratum2+tcp://127.0.0.1:34254",
            "stratum2+tcp://127.0.0.1:34254/notakey",
            "stratum+tcp://127.0.0.1:3333/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72",
        ] {
            assert!(bad.parse::<PoolUrl>().is_err(), "{bad}");
        }
    }

    /// Issue 15: a URL with credentials printed its password in the error.
    #[test]
    fn credentials_in_a_url_are_taken_and_never_shown() {
        let u: PoolUrl = "stratum+tcp://worker.7:s3cret@127.0.0.1:3333"
            .parse()
            .unwrap();
        assert_eq!(u.user.as_deref(), Some("worker.7"));
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(u.to_string(), "stratum+tcp://127.0.0.1:3333");
        assert!(!format!("{u:?}").contains("s3cret"));
        for bad in [
            "stratum+tcp://worker:s3cret@127.0.0.1",
            "stratum+tcp://worker:s3cret@127.0.0.1:0",
            "stratum+bogus://worker:s3cret@127.0.0.1:1",
        ] {
            let e = bad.parse::<PoolUrl>().unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("<credentials>"), "{e}");
        }
    }
}
