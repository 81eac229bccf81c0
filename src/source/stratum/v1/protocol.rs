//! Stratum v1 messages: one JSON object per line, parsed and checked here (a pool's input is
//! untrusted: every field is checked, nothing panics), and the requests hashrig sends.
//!
//! Spec: <https://braiins.com/stratum-v1/docs>; extensions (`mining.configure`, version
//! rolling): BIP 310.

use bitcoin::hex::{DisplayHex, FromHex};
use serde_json::{json, Value};

/// Longest line accepted from a pool (a job with a large coinbase is a few kB; anything near
/// this is an attack or a broken pool).
pub const MAX_LINE: usize = 1 << 20;

/// The version bits hashrig asks to roll (BIP 320's general-purpose bits).
pub const VERSION_MASK: u32 = 0x1fff_e000;

/// Extranonce2 sizes hashrig works with.
pub const EXTRANONCE2_SIZES: std::ops::RangeInclusive<usize> = 1..=16;

/// What was wrong with a pool's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError(message.into())
}

/// `mining.notify`'s job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    /// Merkle branch, internal byte order, bottom up.
    pub branch: Vec<[u8; 32]>,
    pub version: i32,
    pub bits: u32,
    pub time: u32,
    pub clean: bool,
}

/// A message from the pool.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// An answer to one of our requests.
    Response {
        id: u64,
        result: Value,
        /// The pool's error, as one readable line.
        error: Option<String>,
    },
    Notify(Job),
    SetDifficulty(f64),
    SetExtranonce {
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
    },
    SetVersionMask(u32),
    /// `client.reconnect`: host and port (`None` = the same), and seconds to wait.
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait: u64,
    },
    ShowMessage(String),
    /// A request that wants an answer: `client.get_version`, `mining.ping`.
    GetVersion(Value),
    Ping(Value),
    /// A method hashrig does not know (answered with an error when it has an id).
    Unknown {
        method: String,
        id: Value,
    },
}

/// Parses one line from the pool.
pub fn parse(line: &str) -> Result<Incoming, ProtocolError> {
    let value: Value = serde_json::from_str(line).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Value::Object(obj) = value else {
        return Err(bad("not a JSON object"));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = match obj.get("params") {
                Some(Value::Array(p)) => p.as_slice(),
                None | Some(Value::Null) => &[],
                Some(_) => return Err(bad(format!("{method}: params is not an array"))),
            };
            parse_request(method, params, id)
        }
        Some(_) => Err(bad("method is not a string")),
        None => {
            let id = match &id {
                Value::Number(n) => n
                    .as_u64()
                    .ok_or_else(|| bad(format!("a response with id {n}, not one of ours")))?,
                Value::String(s) => s
                    .parse()
                    .map_err(|_| bad(format!("a response with id {s:?}, not one of ours")))?,
                other => return Err(bad(format!("a response with id {other}, not one of ours"))),
            };
            let error = match obj.get("error") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => None,
                Some(e) => Some(error_text(e)),
            };
            Ok(Incoming::Response {
                id,
                result: obj.get("result").cloned().unwrap_or(Value::Null),
                error,
            })
        }
    }
}

/// A pool's error in one line: `[23, "Low difficulty share", null]` -> "23 Low difficulty share".
pub fn error_text(error: &Value) -> String {
    let text = match error {
        Value::Array(parts) => parts
            .iter()
            .take(2)
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Object(o) => {
            let code = o.get("code").map(Value::to_string).unwrap_or_default();
            let message = o.get("message").and_then(Value::as_str).unwrap_or_default();
            format!("{code} {message}").trim().to_string()
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    clip(&text, 200)
}

pub use crate::ui::output::clip;

fn parse_request(method: &str, params: &[Value], id: Value) -> Result<Incoming, ProtocolError> {
    match method {
        "mining.notify" => parse_notify(params).map(Incoming::Notify),
        "mining.set_difficulty" => {
            let d = params
                .first()
                .and_then(Value::as_f64)
                .ok_or_else(|| bad("mining.set_difficulty without a number"))?;
            if !(d.is_finite() && d > 0.0) {
                return Err(bad(format!(
                    "mining.set_difficulty {d}: a difficulty must be a finite number above 0"
                )));
            }
            Ok(Incoming::SetDifficulty(d))
        }
        "mining.set_extranonce" => {
            let extranonce1 = hex_field(params.first(), "mining.set_extranonce extranonce1")?;
            let extranonce2_size = extranonce2_size(params.get(1))?;
            Ok(Incoming::SetExtranonce {
                extranonce1,
                extranonce2_size,
            })
        }
        "mining.set_version_mask" => Ok(Incoming::SetVersionMask(hex_u32(
            params.first(),
            "mining.set_version_mask",
        )?)),
        "client.reconnect" => {
            let host = params
                .first()
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(str::to_string);
            let port = match params.get(1) {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => s.parse().ok(),
                Some(_) => None,
            };
            if params.get(1).is_some_and(|p| !p.is_null()) && port.is_none() {
                let shown = params.get(1).map(Value::to_string).unwrap_or_default();
                return Err(bad(format!(
                    "client.reconnect: port {} is not a port",
                    clip(&shown, 40)
                )));
            }
            let wait = params.get(2).and_then(Value::as_u64).unwrap_or(0).min(3600);
            Ok(Incoming::Reconnect { host, port, wait })
        }
        "client.show_message" => Ok(Incoming::ShowMessage(clip(
            params.first().and_then(Value::as_str).unwrap_or_default(),
            500,
        ))),
        "client.get_version" => Ok(Incoming::GetVersion(id)),
        "mining.ping" => Ok(Incoming::Ping(id)),
        other => Ok(Incoming::Unknown {
            method: clip(other, 80),
            id,
        }),
    }
}

fn hex_field(value: Option<&Value>, what: &str) -> Result<Vec<u8>, ProtocolError> {
    let s = value
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} is missing or not a string")))?;
    Vec::<u8>::from_hex(s).map_err(|_| bad(format!("{what} is not hex: {:?}", clip(s, 40))))
}

fn hex_u32(value: Option<&Value>, what: &str) -> Result<u32, ProtocolError> {
    let s = value
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{what} is missing or not a string")))?;
    let digits = s.trim_start_matches("0x");
    if digits.is_empty() || digits.len() > 8 {
        return Err(bad(format!("{what} {:?} is not 8 hex digits", clip(s, 40))));
    }
    u32::from_str_radix(digits, 16).map_err(|_| bad(format!("{what} {:?} is not hex", clip(s, 40))))
}

/// An extranonce2 size hashrig can work with.
pub fn extranonce2_size(value: Option<&Value>) -> Result<usize, ProtocolError> {
    let n = value
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("extranonce2_size is missing or not a whole number"))?;
    usize::try_from(n)
        .ok()
        .filter(|n| EXTRANONCE2_SIZES.contains(n))
        .ok_or_else(|| {
            bad(format!(
                "extranonce2_size {n} is outside {}..={} bytes",
                EXTRANONCE2_SIZES.start(),
                EXTRANONCE2_SIZES.end()
            ))
        })
}

fn parse_notify(params: &[Value]) -> Result<Job, ProtocolError> {
    if params.len() < 9 {
        return Err(bad(format!(
            "mining.notify with {} params, 9 expected",
            params.len()
        )));
    }
    let id = match &params[0] {
        Value::String(s) if !s.is_empty() && s.len() <= 128 => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(bad(format!(
                "mining.notify job id {} is not a short string",
                clip(&other.to_string(), 40)
            )))
        }
    };
    let prev = hex_field(params.get(1), "mining.notify prevhash")?;
    let prev: [u8; 32] = prev
        .try_into()
        .map_err(|_| bad("mining.notify prevhash is not 32 bytes"))?;
    // Stratum sends the header's prevhash field with each 4-byte word byte-swapped.
    let mut prev_hash = [0u8; 32];
    for (out, word) in prev_hash.chunks_exact_mut(4).zip(prev.chunks_exact(4)) {
        out.copy_from_slice(&[word[3], word[2], word[1], word[0]]);
    }
    let coinb1 = hex_field(params.get(2), "mining.notify coinb1")?;
    let coinb2 = hex_field(params.get(3), "mining.notify coinb2")?;
    let Value::Array(branch_hex) = &params[4] else {
        return Err(bad("mining.notify merkle_branch is not an array"));
    };
    if branch_hex.len() > 32 {
        return Err(bad(format!(
            "mining.notify merkle_branch has {} hashes (at most 32)",
            branch_hex.len()
        )));
    }
    let branch = branch_hex
        .iter()
        .map(|h| {
            hex_field(Some(h), "mining.notify merkle_branch entry")?
                .try_into()
                .map_err(|_| bad("mining.notify merkle_branch entry is not 32 bytes"))
        })
        .collect::<Result<Vec<[u8; 32]>, _>>()?;
    let version = hex_u32(params.get(5), "mining.notify version")? as i32;
    let bits = hex_u32(params.get(6), "mining.notify nbits")?;
    let time = hex_u32(params.get(7), "mining.notify ntime")?;
    let clean = match &params[8] {
        Value::Bool(b) => *b,
        other => {
            return Err(bad(format!(
                "mining.notify clean_jobs {} is not true or false",
                clip(&other.to_string(), 40)
            )))
        }
    };
    if coinb1.len() + coinb2.len() > 100_000 {
        return Err(bad("mining.notify coinbase is over 100 kB"));
    }
    Ok(Job {
        id,
        prev_hash,
        coinb1,
        coinb2,
        branch,
        version,
        bits,
        time,
        clean,
    })
}

/// What `mining.subscribe` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribed {
    /// The notify subscription id (offered back on reconnect to resume the session).
    pub session: Option<String>,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
}

/// Parses `mining.subscribe`'s result: `[[["mining.notify", "id"], ...], "extranonce1", size]`.
pub fn parse_subscribed(result: &Value) -> Result<Subscribed, ProtocolError> {
    let Value::Array(parts) = result else {
        return Err(bad(format!(
            "mining.subscribe answered {}, not [subscriptions, extranonce1, extranonce2_size]",
            clip(&result.to_string(), 80)
        )));
    };
    if parts.len() < 3 {
        return Err(bad("mining.subscribe answered fewer than 3 items"));
    }
    let session = find_subscription(&parts[0]);
    let extranonce1 = hex_field(parts.get(1), "mining.subscribe extranonce1")?;
    if extranonce1.len() > 32 {
        return Err(bad("mining.subscribe extranonce1 is over 32 bytes"));
    }
    let extranonce2_size = extranonce2_size(parts.get(2))?;
    Ok(Subscribed {
        session,
        extranonce1,
        extranonce2_size,
    })
}

/// The `mining.notify` subscription id, wherever the pool nested it.
fn find_subscription(subs: &Value) -> Option<String> {
    let Value::Array(items) = subs else {
        return None;
    };
    // Either ["mining.notify", "id"] or [["mining.set_difficulty", "a"], ["mining.notify", "b"]].
    if let [Value::String(name), Value::String(id)] = items.as_slice() {
        return (name == "mining.notify").then(|| clip(id, 128));
    }
    items.iter().find_map(find_subscription)
}

/// What `mining.configure` answered about version rolling: the mask, if granted.
pub fn parse_configured(result: &Value) -> Result<Option<u32>, ProtocolError> {
    let Value::Object(o) = result else {
        return Err(bad(format!(
            "mining.configure answered {}, not an object",
            clip(&result.to_string(), 80)
        )));
    };
    match o.get("version-rolling") {
        Some(Value::Bool(true)) => {}
        _ => return Ok(None),
    }
    let mask = hex_u32(o.get("version-rolling.mask"), "version-rolling.mask")?;
    // Some pools answer min-bit-count as a number, others as a hex string: only logged.
    if let Some(v) = o.get("version-rolling.min-bit-count") {
        tracing::debug!("pool's version-rolling.min-bit-count: {v}");
    }
    Ok(Some(mask & VERSION_MASK))
}

/// The requests hashrig sends, one line each (newline included).
pub mod request {
    use super::*;

    fn line(value: Value) -> String {
        let mut s = value.to_string();
        s.push('\n');
        s
    }

    pub fn configure(id: u64) -> String {
        line(json!({
            "id": id,
            "method": "mining.configure",
            "params": [
                ["version-rolling", "subscribe-extranonce"],
                {
                    "version-rolling.mask": format!("{VERSION_MASK:08x}"),
                    "version-rolling.min-bit-count": 2
                }
            ]
        }))
    }

    pub fn subscribe(id: u64, agent: &str, session: Option<&str>) -> String {
        let params = match session {
            Some(s) => json!([agent, s]),
            None => json!([agent]),
        };
        line(json!({"id": id, "method": "mining.subscribe", "params": params}))
    }

    pub fn authorize(id: u64, user: &str, password: &str) -> String {
        line(json!({"id": id, "method": "mining.authorize", "params": [user, password]}))
    }

    pub fn suggest_difficulty(id: u64, difficulty: f64) -> String {
        line(json!({"id": id, "method": "mining.suggest_difficulty", "params": [difficulty]}))
    }

    /// `mining.submit`; `version_bits` once version rolling was negotiated (some servers
    /// reject a submit without it then).
    pub fn submit(
        id: u64,
        user: &str,
        job: &str,
        extranonce2: &[u8],
        time: u32,
        nonce: u32,
        version_bits: Option<u32>,
    ) -> String {
        let mut params = vec![
            json!(user),
            json!(job),
            json!(extranonce2.to_lower_hex_string()),
            json!(format!("{time:08x}")),
            json!(format!("{nonce:08x}")),
        ];
        if let Some(bits) = version_bits {
            params.push(json!(format!("{bits:08x}")));
        }
        line(json!({"id": id, "method": "mining.submit", "params": params}))
    }

    /// The answer to a request of the pool's.
    pub fn answer(id: &Value, result: Value) -> String {
        line(json!({"id": id, "result": result, "error": null}))
    }

    pub fn refuse(id: &Value, message: &str) -> String {
        line(json!({"id": id, "result": null, "error": [-3, message, null]}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["1f","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002","1c2ac4af","504e86b9",false]}"#;

    #[test]
    fn notify_fields() {
        let Incoming::Notify(job) = parse(NOTIFY).unwrap() else {
            panic!("not a notify")
        };
        assert_eq!(job.id, "1f");
        assert_eq!(job.version, 2);
        assert_eq!(job.bits, 0x1c2a_c4af);
        assert_eq!(job.time, 0x504e_86b9);
        assert!(!job.clean);
        // The word-swapped prevhash reads, in display order, as the block hash it names.
        let hash = bitcoin::BlockHash::from_byte_array(job.prev_hash);
        assert_eq!(
            hash.to_string(),
            "00000000440b921e1b77c6c0487ae5616de67f788f44ae2a5af6e2194d16b6f8"
        );
    }

    use bitcoin::hashes::Hash;

    #[test]
    fn bad_notifies_are_named() {
        let cases = [
            (r#"{"method":"mining.notify","params":["1"]}"#, "9 expected"),
            (
                &NOTIFY.replace("4d16b6f8", "zz16b6f8"),
                "prevhash is not hex",
            ),
            (&NOTIFY.replace("\"00000002\"", "\"2\""), ""),
            (&NOTIFY.replace("\"1c2ac4af\"", "7"), "nbits is missing"),
            (&NOTIFY.replace("false]", "\"no\"]"), "clean_jobs"),
            (&NOTIFY.replace("\"1f\"", "{}"), "job id"),
        ];
        for (line, expected) in cases {
            match parse(line) {
                Ok(Incoming::Notify(_)) if expected.is_empty() => {}
                Err(e) => assert!(e.0.contains(expected), "{line}: {e}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_lines_are_errors() {
        for line in [
            "",
            "garbage",
            "[1,2]",
            "{\"method\":5}",
            "{\"id\":-1,\"result\":true}",
            "{\"id\":\"x\",\"result\":true}",
            "{\"method\":\"mining.set_difficulty\",\"params\":[0]}",
            "{\"method\":\"mining.set_difficulty\",\"params\":[-1]}",
            "{\"method\":\"mining.set_difficulty\",\"params\":[\"NaN\"]}",
            "{\"method\":\"mining.set_difficulty\",\"params\":[1e999]}",
            "{\"method\":\"mining.set_extranonce\",\"params\":[\"00\",0]}",
            "{\"method\":\"mining.set_extranonce\",\"params\":[\"00\",64]}",
            "{\"method\":\"mining.set_version_mask\",\"params\":[\"123456789\"]}",
            "{\"method\":\"mining.notify\",\"params\":7}",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
    }

    #[test]
    fn requests_and_responses() {
        assert_eq!(
            parse(r#"{"id":3,"result":null,"error":[23,"Low difficulty share",null]}"#).unwrap(),
            Incoming::Response {
                id: 3,
                result: Value::Null,
                error: Some("23 Low difficulty share".into())
            }
        );
        assert_eq!(
            parse(r#"{"id":null,"method":"mining.set_difficulty","params":[0.001]}"#).unwrap(),
            Incoming::SetDifficulty(0.001)
        );
        assert_eq!(
            parse(r#"{"id":9,"method":"client.get_version","params":[]}"#).unwrap(),
            Incoming::GetVersion(json!(9))
        );
        assert_eq!(
            parse(r#"{"id":null,"method":"client.reconnect","params":["pool.example","3334",5]}"#)
                .unwrap(),
            Incoming::Reconnect {
                host: Some("pool.example".into()),
                port: Some(3334),
                wait: 5
            }
        );
        assert!(matches!(
            parse(r#"{"id":4,"method":"mining.bogus"}"#).unwrap(),
            Incoming::Unknown { .. }
        ));
    }

    #[test]
    fn subscribe_and_configure_answers() {
        let s = parse_subscribed(&json!([
            [["mining.set_difficulty", "a1"], ["mining.notify", "b2"]],
            "08000002",
            4
        ]))
        .unwrap();
        assert_eq!(s.session.as_deref(), Some("b2"));
        assert_eq!(s.extranonce1, vec![8, 0, 0, 2]);
        assert_eq!(s.extranonce2_size, 4);
        for size in [0, 64] {
            assert!(parse_subscribed(&json!([[], "00", size])).is_err());
        }
        assert!(parse_subscribed(&json!(true)).is_err());
        assert_eq!(
            parse_configured(&json!({"version-rolling": true, "version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": "10"})).unwrap(),
            Some(0x1fff_e000)
        );
        // The pool may only narrow what was asked for.
        assert_eq!(
            parse_configured(&json!({"version-rolling": true, "version-rolling.mask": "ffffffff"}))
                .unwrap(),
            Some(VERSION_MASK)
        );
        assert_eq!(
            parse_configured(&json!({"version-rolling": false})).unwrap(),
            None
        );
    }

    #[test]
    fn submit_carries_version_bits_once_rolling() {
        let plain = request::submit(4, "u", "1f", &[1, 0, 0, 0], 0x504e_86b9, 0xdead_beef, None);
        assert_eq!(
            plain,
            "{\"id\":4,\"method\":\"mining.submit\",\"params\":[\"u\",\"1f\",\"01000000\",\"504e86b9\",\"deadbeef\"]}\n"
        );
        let rolled = request::submit(5, "u", "1f", &[0; 4], 1, 2, Some(0x0000_e000));
        assert!(rolled.ends_with(",\"0000e000\"]}\n"), "{rolled}");
    }
}
