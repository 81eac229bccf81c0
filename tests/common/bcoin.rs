//! A real Bitcoin node for tests: bcoin 1.0.2 regtest, in memory, on free 127.0.0.1 ports.
//! Installed by `.ci/run` (npm) into ~/.cache/hashrig/bcoin, or where HASHRIG_BCOIN_DIR says.
//! Stopped by PID when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashrig::source::node::{Auth, RpcClient};
use serde_json::{json, Value};

pub const API_KEY: &str = "test";

fn bcoin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HASHRIG_BCOIN_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/hashrig/bcoin")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Bcoin {
    child: Option<Child>,
    pub port: u16,
    pub wallet_port: Option<u16>,
    prefix: PathBuf,
}

impl Bcoin {
    /// Starts a node (with its wallet when `wallet`), or a skip when bcoin is not installed.
    pub fn start(wallet: bool) -> Result<Bcoin, super::Skip> {
        Bcoin::start_on(free_port(), wallet)
    }

    /// Ok when bcoin is installed; a skip otherwise.
    pub fn available() -> Result<(), super::Skip> {
        let script = bcoin_dir().join("node_modules/bcoin/bin/node");
        if !script.exists() {
            return Err(super::skip(format!(
                "bcoin is not installed at {} (.ci/run installs it; see README)",
                script.display()
            )));
        }
        Ok(())
    }

    pub fn start_on(port: u16, wallet: bool) -> Result<Bcoin, super::Skip> {
        Bcoin::available()?;
        let script = bcoin_dir().join("node_modules/bcoin/bin/node");
        let prefix =
            std::env::temp_dir().join(format!("hashrig-bcoin-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&prefix).unwrap();
        let wallet_port = wallet.then(free_port);
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .env("NODE_BACKEND", "js")
            .args(["--network=regtest", "--memory=true"])
            .arg(format!("--prefix={}", prefix.display()))
            .args(["--http-host=127.0.0.1", &format!("--http-port={port}")])
            .arg(format!("--api-key={API_KEY}"))
            .args([
                "--listen=false",
                "--max-outbound=1",
                "--discover=false",
                "--only=127.0.0.1",
            ])
            .arg("--log-level=warning")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match wallet_port {
            Some(wp) => {
                cmd.args([
                    "--wallet-http-host=127.0.0.1".to_string(),
                    format!("--wallet-http-port={wp}"),
                    format!("--wallet-api-key={API_KEY}"),
                ]);
            }
            None => {
                cmd.arg("--no-wallet");
            }
        }
        // Its own process group, so that stopping it stops everything it started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("start node (is Node.js installed?)");
        let node = Bcoin {
            child: Some(child),
            port,
            wallet_port,
            prefix,
        };
        node.wait_ready();
        Ok(node)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.try_rpc("getblockchaininfo", json!([])).is_ok()
                && self
                    .wallet_port
                    .is_none_or(|p| http(p, "GET", "/", "").is_ok())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "bcoin did not come up on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> RpcClient {
        RpcClient::new(
            &self.url(),
            Auth::UserPass {
                user: "hashrig".into(),
                password: API_KEY.into(),
            },
            Duration::from_secs(60),
        )
        .unwrap()
    }

    pub fn try_rpc(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, hashrig::source::node::RpcError> {
        self.client().call(method, params)
    }

    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// POST to the wallet HTTP API.
    pub fn wallet(&self, path: &str, body: Value) -> Value {
        self.wallet_call("POST", path, body)
    }

    /// `method` on the wallet HTTP API (PUT /wallet/:id creates a wallet).
    pub fn wallet_call(&self, method: &str, path: &str, body: Value) -> Value {
        let port = self.wallet_port.expect("started with a wallet");
        let text = http(port, method, path, &body.to_string()).expect("wallet API");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("wallet {path}: {e}: {text}"))
    }

    pub fn height(&self) -> u64 {
        self.rpc("getblockcount", json!([])).as_u64().unwrap()
    }

    /// Stops the node and anything it started (SIGKILL to its process group, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Bcoin {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// A minimal HTTP/1.1 request with basic auth (any user, the API key as password).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    // "hashrig:test" in base64.
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic aGFzaHJpZzp0ZXN0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_string())
}

/// A TCP proxy on 127.0.0.1 in front of a node. While `hold_submits` is set, a connection whose
/// request is a `submitblock` is closed without an answer, and `submit_seen` is set: the node
/// "went away" in the middle of a submission.
pub struct Proxy {
    pub port: u16,
    pub hold_submits: Arc<AtomicBool>,
    pub submit_seen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let hold_submits = Arc::new(AtomicBool::new(false));
        let submit_seen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (hold, seen, halt) = (hold_submits.clone(), submit_seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((mut client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (hold, seen) = (hold.clone(), seen.clone());
                std::thread::spawn(move || {
                    client.set_nonblocking(false).ok();
                    client.set_read_timeout(Some(Duration::from_secs(150))).ok();
                    // Read the whole request (headers + Content-Length body).
                    let mut req = Vec::new();
                    let mut buf = [0u8; 65536];
                    loop {
                        let Ok(n) = client.read(&mut buf) else { return };
                        if n == 0 {
                            return;
                        }
                        req.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&req);
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                break;
                            }
                        }
                    }
                    if hold.load(Ordering::Relaxed)
                        && String::from_utf8_lossy(&req).contains("\"submitblock\"")
                    {
                        seen.store(true, Ordering::Relaxed);
                        return; // dropped: connection closed, no answer
                    }
                    let Ok(mut node) = TcpStream::connect(("127.0.0.1", target_port)) else {
                        return; // node down: the client sees the connection close
                    };
                    if node.write_all(&req).is_err() {
                        return;
                    }
                    let mut resp = Vec::new();
                    let _ = node.read_to_end(&mut resp);
                    let _ = client.write_all(&resp);
                });
            }
        });
        Proxy {
            port,
            hold_submits,
            submit_seen,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
