//! A node-shaped HTTP stub on 127.0.0.1 for what bcoin does not do: Bitcoin Core's and btcd's
//! exact answers (shared/TESTBED.md), hostile bodies, held connections.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// The regtest genesis block hash (Bitcoin Core and bcoin).
pub const REGTEST_GENESIS: &str =
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";

/// How the stub answers one call.
pub enum Reply {
    Result(Value),
    /// A JSON-RPC error (code, message), as Core sends it: HTTP 500 with the error object.
    Error(i64, &'static str),
    /// Hold the connection open without answering (30 s).
    Hold,
    /// These bytes as the whole HTTP answer.
    Raw(Vec<u8>),
    /// These bytes, one every `Duration` (a node that answers too slowly, byte by byte).
    Trickle(Vec<u8>, Duration),
    /// The regtest defaults: getblockchaininfo `regtest`, getblockhash the genesis,
    /// getblockheader 1 confirmation, anything else `null`.
    Default,
}

/// Every call the stub saw: (method, params).
pub type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// Starts the stub; `answer(method, nth call of that method, params)` says how to answer.
pub fn stub_node(answer: impl Fn(&str, usize, &Value) -> Reply + Send + 'static) -> (u16, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls: Calls = Arc::default();
    let seen = Arc::clone(&calls);
    std::thread::spawn(move || {
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        for _ in 0..5000 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let method = request["method"].as_str().unwrap_or("").to_string();
            seen.lock()
                .unwrap()
                .push((method.clone(), request["params"].clone()));
            let n = counts.entry(method.clone()).or_default();
            let reply = answer(&method, *n, &request["params"]);
            *n += 1;
            let (status, body) = match reply {
                Reply::Hold => {
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(30));
                        drop(s);
                    });
                    continue;
                }
                Reply::Raw(bytes) => {
                    let _ = s.write_all(&bytes);
                    continue;
                }
                Reply::Trickle(bytes, every) => {
                    std::thread::spawn(move || {
                        for b in bytes {
                            if s.write_all(&[b]).is_err() {
                                return;
                            }
                            std::thread::sleep(every);
                        }
                    });
                    continue;
                }
                Reply::Result(v) => (200, json!({"result": v, "error": null, "id": "hashrig"})),
                Reply::Error(code, message) => (
                    500,
                    json!({"result": null, "error": {"code": code, "message": message}, "id": "hashrig"}),
                ),
                Reply::Default => (
                    200,
                    json!({"result": default(&method), "error": null, "id": "hashrig"}),
                ),
            };
            let body = body.to_string();
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, calls)
}

fn default(method: &str) -> Value {
    match method {
        "getblockchaininfo" => json!({"chain": "regtest", "blocks": 0}),
        "getblockhash" => json!(REGTEST_GENESIS),
        "getblockheader" => json!({"confirmations": 1}),
        _ => Value::Null,
    }
}

/// A regtest template on the genesis block with bits `bits`, no transactions.
pub fn template(bits: &str) -> Value {
    json!({
        "version": 536870912,
        "previousblockhash": REGTEST_GENESIS,
        "transactions": [], "coinbasevalue": 5000000000u64, "bits": bits, "height": 1,
        "curtime": 1700000000, "mintime": 1296688603, "rules": [], "mutable": ["time"],
    })
}

/// The submitblock calls' block hex.
pub fn submitted(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| m == "submitblock")
        .map(|(_, p)| p[0].as_str().unwrap_or_default().to_string())
        .collect()
}
