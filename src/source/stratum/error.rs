//! Why a pool session ended, or could not start: one typed error for the whole Stratum
//! source, with its cause kept as `#[source]` where there is one.

use std::net::SocketAddr;

use super::v1::protocol::ProtocolError;

/// Why a session with a pool ended (the pool is then retried, or another one is mined).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StratumError {
    #[error("resolving {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up the socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("{host:?} is not a TLS server name")]
    ServerName { host: String },
    #[error("TLS handshake with {host}: {source}")]
    TlsHandshake {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("a stratum+ssl pool needs a TLS configuration")]
    NoTlsConfig,
    /// The SRI crates' errors implement only `Debug`: their text is kept here.
    #[error("Noise handshake: {0}")]
    Noise(String),
    #[error("the pool's certificate is not signed by the authority key given, or is outside its validity period: no work is taken from it")]
    Untrusted,
    #[error("the pool closed the connection")]
    Closed,
    #[error("reading from the pool: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing to the pool: {0}")]
    Write(#[source] std::io::Error),
    #[error("the pool sent a line of over {0} bytes without a newline; dropping the connection")]
    LineTooLong(usize),
    #[error(
        "the pool is not reading what is sent to it ({0} messages wait); dropping the connection"
    )]
    NotReading(usize),
    #[error("a frame from the pool that does not decrypt or frame ({0}); dropping the connection")]
    Frame(String),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("the pool refused the login of {user:?}: {reason}")]
    LoginRefused { user: String, reason: String },
    #[error("the pool did not {what} within {seconds} s")]
    Timeout { what: &'static str, seconds: f64 },
    #[error("no new job from the pool for {0} s")]
    Idle(f64),
    #[error("the pool asked to reconnect")]
    Reconnect,
    #[error("the pool closed the channel: {0}")]
    ChannelClosed(String),
    #[error("could not start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the run is ending")]
    Ending,
}

impl StratumError {
    /// The pool's certificate did not check out (Stratum V2): the pool is not trusted.
    pub fn is_untrusted(&self) -> bool {
        matches!(self, StratumError::Untrusted)
    }

    /// The pool refused the login: not retried for a while.
    pub fn is_login_refused(&self) -> bool {
        matches!(self, StratumError::LoginRefused { .. })
    }

    /// The connection went away (closed or reset) rather than a protocol fault.
    pub fn is_disconnect(&self) -> bool {
        match self {
            StratumError::Closed => true,
            StratumError::Read(e) | StratumError::Write(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}
