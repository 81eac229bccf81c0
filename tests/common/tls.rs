//! A TLS front for tests: a CA and a server certificate made here (rcgen), and a rustls
//! server on 127.0.0.1 that forwards each connection to a plain TCP server.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TlsFront {
    pub port: u16,
    /// The CA's certificate (PEM), for `--pool-ca`.
    pub ca_file: std::path::PathBuf,
    stop: Arc<AtomicBool>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

impl TlsFront {
    /// Forwards TLS connections to 127.0.0.1:`backend`.
    pub fn start(backend: u16) -> TlsFront {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "hashrig test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca_cert, &ca_key)
            .unwrap();
        let ca_file = std::env::temp_dir().join(format!(
            "hashrig-test-ca-{}-{backend}.pem",
            std::process::id()
        ));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let config = Arc::clone(&config);
                        let stop = Arc::clone(&stop2);
                        std::thread::spawn(move || forward(client, backend, config, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TlsFront {
            port,
            ca_file,
            stop,
        }
    }
}

fn quiet(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn forward(client: TcpStream, backend: u16, config: Arc<rustls::ServerConfig>, stop: &AtomicBool) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", backend)) else {
        return;
    };
    client.set_nonblocking(false).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, client);
    let mut buf = [0u8; 16384];
    while !stop.load(Ordering::SeqCst) {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if quiet(&e) => {}
            Err(_) => break, // handshake refused by the client, or gone
        }
        match server.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(e) if quiet(&e) => {}
            Err(_) => break,
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Both);
    let _ = tls.sock.shutdown(std::net::Shutdown::Both);
}
