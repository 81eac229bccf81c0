//! A scripted Stratum v1 server on 127.0.0.1 for tests: honest by default (it checks every
//! share it gets with its own header assembly and SHA-256d, independent of hashrig's), and
//! each test scripts how a connection misbehaves.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256d, Hash};
use serde_json::{json, Value};

/// The version-rolling mask the stub grants.
pub const MASK: u32 = 0x1fff_e000;
pub const VERSION: u32 = 0x2000_0000;
/// Regtest's bits: about half of all hashes are blocks.
pub const BITS: u32 = 0x207f_ffff;
/// A difficulty a CPU meets many times a second.
pub const EASY: f64 = 0.002;

/// What every connection of a pool saw.
#[derive(Default)]
pub struct Record {
    pub connections: AtomicUsize,
    pub accepted: AtomicUsize,
    /// (job, reason) of each refused share.
    pub rejected: Mutex<Vec<(String, String)>>,
    /// Every request, in order, with the connection's number.
    pub requests: Mutex<Vec<(usize, Value)>>,
    /// Version bits of accepted shares.
    pub rolled: Mutex<Vec<u32>>,
}

impl Record {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub fn methods(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, r)| r["method"].as_str().map(str::to_string))
            .collect()
    }
}

/// A stub pool; dropped (or [`Pool::stop`]ped), it closes every connection and stops
/// listening.
pub struct Pool {
    pub port: u16,
    pub record: Arc<Record>,
    stop: Arc<AtomicBool>,
}

pub type Behave = dyn Fn(usize, &mut Conn) + Send + Sync;

impl Pool {
    /// Serves each connection (numbered from 0) with `behave`.
    pub fn start(behave: impl Fn(usize, &mut Conn) + Send + Sync + 'static) -> Pool {
        Self::start_on(0, Arc::new(Record::default()), Arc::new(behave))
    }

    /// On a given port (0: any), keeping `record` (a pool restarted on its old port).
    pub fn start_on(port: u16, record: Arc<Record>, behave: Arc<Behave>) -> Pool {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, record2) = (Arc::clone(&stop), Arc::clone(&record));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let n = record2.connections.fetch_add(1, Ordering::SeqCst);
                        let mut conn =
                            Conn::new(stream, n, Arc::clone(&record2), Arc::clone(&stop2));
                        let behave = Arc::clone(&behave);
                        std::thread::spawn(move || behave(n, &mut conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Pool { port, record, stop }
    }

    pub fn url(&self) -> String {
        format!("stratum+tcp://127.0.0.1:{}", self.port)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Let the acceptor and connections notice.
        std::thread::sleep(Duration::from_millis(150));
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct StubJob {
    prev: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    time: u32,
    difficulty: f64,
    extranonce1: Vec<u8>,
}

/// One connection, from the server's side.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pub number: usize,
    record: Arc<Record>,
    stop: Arc<AtomicBool>,
    pub rolling: Option<u32>,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    pub difficulty: f64,
    jobs: HashMap<String, StubJob>,
    next_job: u64,
    pub closed: bool,
    /// A scrypt pool: shares are checked by their scrypt hash against difficulty x 2^16
    /// (scrypt pools' difficulty 1 is the target `0xffff * 2^224`).
    pub scrypt: bool,
}

impl Conn {
    fn new(stream: TcpStream, number: usize, record: Arc<Record>, stop: Arc<AtomicBool>) -> Self {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            number,
            record,
            stop,
            rolling: None,
            extranonce1: vec![0xab, 0xcd, 0x00, number as u8],
            extranonce2_size: 4,
            difficulty: EASY,
            jobs: HashMap::new(),
            next_job: 1,
            closed: false,
            scrypt: false,
        }
    }

    /// The pool's record (to watch counts while serving).
    pub fn record(&self) -> Arc<Record> {
        Arc::clone(&self.record)
    }

    /// The next request within `limit` (`None` when closed, stopped or timed out).
    pub fn recv(&mut self, limit: Duration) -> Option<Value> {
        let until = Instant::now() + limit;
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                let value: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
                self.record
                    .requests
                    .lock()
                    .unwrap()
                    .push((self.number, value.clone()));
                return Some(value);
            }
            if self.closed || self.stop.load(Ordering::SeqCst) || Instant::now() >= until {
                if self.stop.load(Ordering::SeqCst) {
                    self.close();
                }
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
    }

    pub fn send(&mut self, text: &str) {
        if self.stream.write_all(text.as_bytes()).is_err() {
            self.closed = true;
        }
    }

    pub fn send_json(&mut self, value: Value) {
        self.send(&format!("{value}\n"));
    }

    pub fn answer(&mut self, request: &Value, result: Value) {
        self.send_json(json!({"id": request["id"], "result": result, "error": null}));
    }

    pub fn error(&mut self, request: &Value, code: i64, message: &str) {
        self.send_json(
            json!({"id": request["id"], "result": null, "error": [code, message, null]}),
        );
    }

    pub fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.closed = true;
    }

    /// The usual handshake: version rolling granted, subscribe, authorize (any user).
    /// Returns false if the miner went away.
    pub fn handshake(&mut self) -> bool {
        loop {
            let Some(request) = self.recv(Duration::from_secs(10)) else {
                return false;
            };
            match request["method"].as_str() {
                Some("mining.configure") => {
                    self.rolling = Some(MASK);
                    self.answer(
                        &request,
                        json!({"version-rolling": true, "version-rolling.mask": format!("{MASK:08x}"), "version-rolling.min-bit-count": "10"}),
                    );
                }
                Some("mining.subscribe") => {
                    let en1 = bitcoin::hex::DisplayHex::to_lower_hex_string(&self.extranonce1[..]);
                    self.answer(
                        &request,
                        json!([
                            [
                                ["mining.set_difficulty", "d"],
                                ["mining.notify", format!("s{}", self.number)]
                            ],
                            en1,
                            self.extranonce2_size
                        ]),
                    );
                }
                Some("mining.suggest_difficulty") => self.answer(&request, json!(true)),
                Some("mining.authorize") => {
                    self.answer(&request, json!(true));
                    return true;
                }
                _ => self.error(&request, 20, "unexpected"),
            }
        }
    }

    pub fn set_difficulty(&mut self, d: f64) {
        self.difficulty = d;
        self.send_json(json!({"id": null, "method": "mining.set_difficulty", "params": [d]}));
    }

    /// Sends a new job; returns its id.
    pub fn notify(&mut self, clean: bool) -> String {
        let id = format!("j{}", self.next_job);
        self.next_job += 1;
        let mut prev = [0u8; 32];
        prev[..8].copy_from_slice(&(self.number as u64 * 1000 + self.next_job).to_le_bytes());
        let coinb1: Vec<u8> = bitcoin::hex::FromHex::from_hex(
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff1503",
        )
        .unwrap();
        let coinb2: Vec<u8> = bitcoin::hex::FromHex::from_hex(
            "ffffffff0100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",
        )
        .unwrap();
        let branch = vec![[7u8; 32], [9u8; 32]];
        let time = 0x6500_0000 + self.next_job as u32;
        // Stratum's prevhash: each 4-byte word byte-swapped.
        let mut wire = [0u8; 32];
        for (o, w) in wire.chunks_exact_mut(4).zip(prev.chunks_exact(4)) {
            o.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
        }
        let hex = |b: &[u8]| bitcoin::hex::DisplayHex::to_lower_hex_string(b);
        let params = json!([
            id,
            hex(&wire),
            hex(&coinb1),
            hex(&coinb2),
            branch.iter().map(|b| hex(b)).collect::<Vec<_>>(),
            format!("{VERSION:08x}"),
            format!("{BITS:08x}"),
            format!("{time:08x}"),
            clean
        ]);
        if clean {
            self.jobs.clear();
        }
        self.jobs.insert(
            id.clone(),
            StubJob {
                prev,
                coinb1,
                coinb2,
                branch,
                time,
                difficulty: self.difficulty,
                extranonce1: self.extranonce1.clone(),
            },
        );
        self.send_json(json!({"id": null, "method": "mining.notify", "params": params}));
        id
    }

    /// Checks a `mining.submit`: Ok(version bits) or the reason it is refused.
    pub fn check_share(&self, params: &Value) -> Result<u32, String> {
        let p = params.as_array().ok_or("params not an array")?;
        let s = |i: usize| {
            p.get(i)
                .and_then(Value::as_str)
                .ok_or(format!("param {i} missing"))
        };
        let job = self.jobs.get(s(1)?).ok_or("21 Job not found")?;
        let en2: Vec<u8> = bitcoin::hex::FromHex::from_hex(s(2)?).map_err(|_| "en2 hex")?;
        if en2.len() != self.extranonce2_size {
            return Err(format!("extranonce2 of {} bytes", en2.len()));
        }
        let time = u32::from_str_radix(s(3)?, 16).map_err(|_| "ntime hex")?;
        let nonce = u32::from_str_radix(s(4)?, 16).map_err(|_| "nonce hex")?;
        if time != job.time {
            return Err("ntime changed".into());
        }
        let mut version = VERSION;
        let mut bits = 0;
        if let Some(mask) = self.rolling {
            bits = u32::from_str_radix(s(5).map_err(|_| "20 version bits missing")?, 16)
                .map_err(|_| "version hex")?;
            if bits & !mask != 0 {
                return Err("version bits outside the mask".into());
            }
            version = (VERSION & !mask) | (bits & mask);
        } else if p.len() > 5 {
            return Err("version bits without version rolling".into());
        }
        let mut coinbase = job.coinb1.clone();
        coinbase.extend_from_slice(&job.extranonce1);
        coinbase.extend_from_slice(&en2);
        coinbase.extend_from_slice(&job.coinb2);
        let mut root = sha256d::Hash::hash(&coinbase).to_byte_array();
        for sibling in &job.branch {
            let mut both = root.to_vec();
            both.extend_from_slice(sibling);
            root = sha256d::Hash::hash(&both).to_byte_array();
        }
        let mut header = Vec::with_capacity(80);
        header.extend_from_slice(&version.to_le_bytes());
        header.extend_from_slice(&job.prev);
        header.extend_from_slice(&root);
        header.extend_from_slice(&time.to_le_bytes());
        header.extend_from_slice(&BITS.to_le_bytes());
        header.extend_from_slice(&nonce.to_le_bytes());
        let (hash, one) = if self.scrypt {
            let mut h = [0u8; 80];
            h.copy_from_slice(&header);
            // Litecoin's reference: scrypt(N=1024, r=1, p=1), the header as password and salt.
            let params = scrypt::Params::new(10, 1, 1, 32).unwrap();
            let mut out = [0u8; 32];
            scrypt::scrypt(&h, &h, &params, &mut out).unwrap();
            (out, 65535.0 * 2f64.powi(224))
        } else {
            (
                sha256d::Hash::hash(&header).to_byte_array(),
                65535.0 * 2f64.powi(208),
            )
        };
        // hash (little-endian number) * difficulty <= difficulty 1's target, in floating point.
        let value = hash
            .iter()
            .rev()
            .fold(0f64, |acc, &b| acc * 256.0 + b as f64);
        if value * job.difficulty > one {
            return Err("23 Low difficulty share".into());
        }
        Ok(bits)
    }

    /// Answers requests (shares checked, anything else refused) until `done` says so or
    /// the miner goes away; `every` runs before each wait (to send jobs, ...).
    pub fn serve(&mut self, mut done: impl FnMut(&mut Conn) -> bool) {
        while !self.closed && !done(self) {
            let Some(request) = self.recv(Duration::from_millis(100)) else {
                continue;
            };
            self.answer_request(&request);
        }
    }

    /// Answers one request like an honest pool.
    pub fn answer_request(&mut self, request: &Value) {
        match request["method"].as_str() {
            Some("mining.submit") => match self.check_share(&request["params"]) {
                Ok(bits) => {
                    self.record.accepted.fetch_add(1, Ordering::SeqCst);
                    self.record.rolled.lock().unwrap().push(bits);
                    self.answer(request, json!(true));
                }
                Err(reason) => {
                    let job = request["params"][1].as_str().unwrap_or("").to_string();
                    self.record
                        .rejected
                        .lock()
                        .unwrap()
                        .push((job, reason.clone()));
                    let code = reason
                        .split(' ')
                        .next()
                        .and_then(|c| c.parse::<i64>().ok())
                        .unwrap_or(20);
                    self.error(request, code, &reason);
                }
            },
            _ if request.get("method").is_none() => {} // an answer of the miner's
            _ => self.error(request, 20, "unexpected"),
        }
    }

    /// Handshake, difficulty, one clean job, then honest service until the miner leaves.
    pub fn honest(&mut self) {
        if !self.handshake() {
            return;
        }
        self.set_difficulty(self.difficulty);
        self.notify(true);
        self.serve(|_| false);
    }
}

/// A pool that is honest on every connection.
pub fn honest_pool() -> Pool {
    Pool::start(|_, c| c.honest())
}
