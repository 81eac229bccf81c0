//! One pool connection: TCP, or TLS over TCP (rustls), split into a reading half (its own
//! thread, lines of at most [`MAX_LINE`] bytes) and a writing half (the session manager).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::protocol::MAX_LINE;

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
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("{url:?}: expected stratum+tcp://HOST:PORT, stratum+ssl://HOST:PORT or stratum2+tcp://HOST:PORT/AUTHORITY_KEY")
        })?;
        let (tls, v2) = match scheme.to_ascii_lowercase().as_str() {
            "stratum+tcp" | "stratum" | "tcp" => (false, false),
            "stratum+ssl" | "stratum+tls" | "ssl" | "tls" => (true, false),
            "stratum2+tcp" | "stratum2" | "sv2" => (false, true),
            other => {
                return Err(format!(
                    "{url:?}: unknown scheme {other:?} (stratum+tcp, stratum+ssl or stratum2+tcp)"
                ))
            }
        };
        if rest.contains('@') {
            return Err(format!(
                "{url:?}: give the user with --user and the password with --password, not in the URL"
            ));
        }
        let (address, key_text) = match rest.split_once('/') {
            Some((a, k)) if !k.trim_matches('/').is_empty() => (a, Some(k.trim_matches('/'))),
            Some((a, _)) => (a, None),
            None => (rest, None),
        };
        let key = match (v2, key_text) {
            (true, Some(k)) => Some(k.parse::<super::v2::AuthorityKey>().map_err(|e| format!("{url:?}: {e}"))?),
            (true, None) => {
                return Err(format!(
                    "{url:?}: a Stratum V2 pool needs its authority key: stratum2+tcp://HOST:PORT/AUTHORITY_KEY"
                ))
            }
            (false, Some(_)) => {
                return Err(format!("{url:?}: only a stratum2+tcp:// URL has a path (the authority key)"))
            }
            (false, None) => None,
        };
        let (host, port) = if let Some(v6) = address.strip_prefix('[') {
            let (host, port) = v6
                .split_once("]:")
                .ok_or_else(|| format!("{url:?}: expected [IPv6]:PORT"))?;
            (host, port)
        } else {
            address
                .rsplit_once(':')
                .ok_or_else(|| format!("{url:?}: the port is missing (HOST:PORT)"))?
        };
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(format!("{url:?}: {host:?} is not a host name"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{url:?}: {port:?} is not a port"))?;
        Ok(PoolUrl {
            tls,
            host: host.to_string(),
            port,
            v2: key,
            key_text: key.and(key_text.map(str::to_string)),
        })
    }
}

/// TLS settings: the roots a pool's certificate must chain to.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--pool-ca {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("--pool-ca {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--pool-ca {}: no PEM certificate in it",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("--pool-ca {}: {e}", path.display()))?;
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
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
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

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    Closed,
    TooLong,
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => f.write_str("the pool closed the connection"),
            ReadError::TooLong => write!(
                f,
                "the pool sent a line of over {} bytes without a newline",
                MAX_LINE
            ),
            ReadError::Io(e) => write!(f, "reading from the pool: {e}"),
        }
    }
}

/// Connects (and does the TLS handshake) within `timeout`.
pub fn connect(
    url: &PoolUrl,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<(Reader, Writer), String> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", url.host))?
        .collect();
    let mut last = format!("{} resolves to no address", url.host);
    let mut socket = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    let socket = socket.ok_or(last)?;
    let _ = socket.set_nodelay(true);
    socket
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let inner = if url.tls {
        let config = tls.ok_or("no TLS configuration")?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{}: not a TLS server name: {e}", url.host))?;
        let mut conn =
            ClientConnection::new(Arc::clone(config), name).map_err(|e| format!("TLS: {e}"))?;
        let mut s = &socket;
        socket
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut s)
                .map_err(|e| format!("TLS handshake with {}: {e}", url.host))?;
        }
        socket.set_read_timeout(None).map_err(|e| e.to_string())?;
        Inner::Tls {
            socket,
            conn: Arc::new(Mutex::new(conn)),
        }
    } else {
        Inner::Plain(socket)
    };
    let twin = match &inner {
        Inner::Plain(s) => Inner::Plain(s.try_clone().map_err(|e| e.to_string())?),
        Inner::Tls { socket, conn } => Inner::Tls {
            socket: socket.try_clone().map_err(|e| e.to_string())?,
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
    pub fn line(&mut self) -> Result<Vec<u8>, ReadError> {
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
                return Err(ReadError::TooLong);
            }
            match self.read_some(&mut chunk) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(ReadError::Closed)
                }
                Err(e) => return Err(ReadError::Io(e.to_string())),
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
            "stratum+tcp://user:pw@127.0.0.1:3333",
            "stratum+tcp://:3333",
            "stratum2+tcp://127.0.0.1:34254",
            "stratum2+tcp://127.0.0.1:34254/notakey",
            "stratum+tcp://127.0.0.1:3333/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72",
        ] {
            assert!(bad.parse::<PoolUrl>().is_err(), "{bad}");
        }
    }
}
