//! cgminer's API protocol without sockets: a request's bytes in, the answer's bytes out
//! (JSON or text, joined commands, cgminer's STATUS codes).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use super::commands::reply;
use super::trim_end;
use crate::stats::{RateHistory, Stats};

/// The API version cgminer 4.11 reports; the field names here are its.
pub(super) const API_VERSION: &str = "3.7";
/// Commands joined with `+` in one request.
pub(super) const MAX_JOINED: usize = 8;
/// cgminer's commands that change something: refused (read-only API).
pub(super) const PRIVILEGED: &[&str] = &[
    "switchpool",
    "enablepool",
    "disablepool",
    "addpool",
    "removepool",
    "poolpriority",
    "poolquota",
    "save",
    "quit",
    "restart",
    "privileged",
    "gpuenable",
    "gpudisable",
    "gpurestart",
    "gpuintensity",
    "gpumem",
    "gpuengine",
    "gpufan",
    "gpuvddc",
    "pgaenable",
    "pgadisable",
    "pgaidentify",
    "pgaset",
    "ascenable",
    "ascdisable",
    "ascidentify",
    "ascset",
    "setconfig",
    "zero",
    "failover-only",
    "debug",
    "hotplug",
    "lockstats",
];
/// What this API answers.
pub(super) const COMMANDS: &[&str] = &["version", "config", "summary", "devs", "pools", "check"];

/// A record's fields in cgminer's order (a JSON object keeps it; the text form leads with
/// the first field).
#[derive(Clone, Debug, Default)]
pub(super) struct Record(pub(super) Vec<(String, Value)>);

impl Record {
    pub(super) fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.0.push((key.into(), value));
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// What the API answers about.
pub(super) struct Views {
    pub(super) stats: Arc<Stats>,
    pub(super) source: String,
    pub(super) history: Mutex<RateHistory>,
}

/// A request, parsed.
#[derive(Debug, PartialEq)]
pub(super) struct Request {
    /// The commands (several only in JSON, joined by `+`).
    commands: Vec<String>,
    parameter: String,
    json: bool,
}

/// Why a request is not answered with data.
#[derive(Debug, PartialEq)]
pub(super) enum RequestError {
    /// cgminer's "Invalid JSON" (23).
    InvalidJson,
    /// cgminer's "Missing JSON 'command'" (24).
    MissingCommand,
}

pub(super) fn parse(bytes: &[u8]) -> Result<Request, RequestError> {
    let text = trim_end(bytes.trim_ascii_start());
    if text.first() == Some(&b'{') {
        let value: Value = serde_json::from_slice(text).map_err(|_| RequestError::InvalidJson)?;
        let object = value.as_object().ok_or(RequestError::InvalidJson)?;
        let command = object
            .get("command")
            .and_then(Value::as_str)
            .ok_or(RequestError::MissingCommand)?;
        let parameter = match object.get("parameter") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let commands = command
            .split('+')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        Ok(Request {
            commands,
            parameter,
            json: true,
        })
    } else {
        let text = String::from_utf8_lossy(text);
        let (command, parameter) = text.split_once('|').unwrap_or((&text, ""));
        Ok(Request {
            commands: vec![command.trim().to_ascii_lowercase()],
            parameter: parameter.to_string(),
            json: false,
        })
    }
}

/// For the fuzzers: what is answered to `request` about a run with one CPU and one pool
/// (no socket).
#[doc(hidden)]
pub fn answer_bytes(request: &[u8]) -> Vec<u8> {
    let stats = Arc::new(Stats::new(["cpu fuzz".to_string()]));
    stats.register_pools(["stratum+tcp://fuzz:3333".to_string()]);
    let views = Views {
        stats,
        source: "fuzz".into(),
        history: Mutex::new(RateHistory::default()),
    };
    answer(&views, request)
}

/// The bytes answered to `request` (ending with NUL).
pub(super) fn answer(views: &Views, request: &[u8]) -> Vec<u8> {
    let reply = match parse(request) {
        Ok(r) if r.json && r.commands.len() > 1 => joined(views, &r),
        Ok(r) => {
            let reply = reply(views, &r.commands[0], &r.parameter);
            if r.json {
                reply.to_json()
            } else {
                reply.to_text()
            }
        }
        Err(RequestError::InvalidJson) => {
            Reply::status(Severity::Error, 23, "Invalid JSON").to_json()
        }
        Err(RequestError::MissingCommand) => {
            Reply::status(Severity::Error, 24, "Missing JSON 'command'").to_json()
        }
    };
    let mut bytes = reply.into_bytes();
    bytes.push(0);
    bytes
}

/// `a+b+c` in JSON: each command's whole answer under its name (cgminer's joined form). A
/// command that is refused, repeated or unknown makes the whole request an error, as in
/// cgminer.
pub(super) fn joined(views: &Views, request: &Request) -> String {
    if request.commands.len() > MAX_JOINED {
        return Reply::status(Severity::Error, 14, "Invalid command").to_json();
    }
    let mut out = Record::default();
    for (i, command) in request.commands.iter().enumerate() {
        let answerable = COMMANDS.contains(&command.as_str()) && command != "check";
        if !answerable || request.commands[..i].contains(command) {
            let msg = format!(
                "Invalid command '{}' in joined command",
                crate::ui::output::clip(command, 40)
            );
            return Reply::status(Severity::Error, 14, &msg).to_json();
        }
        let one = reply(views, command, &request.parameter).to_value();
        out.insert(command.clone(), Value::Array(vec![one]));
    }
    out.insert("id", json!(1));
    json!(out).to_string()
}

#[derive(Clone, Copy)]
pub(super) enum Severity {
    Success,
    Error,
}

/// One command's answer: the STATUS and, on success, a named list of records.
pub(super) struct Reply {
    status: Record,
    section: Option<(&'static str, Vec<Record>)>,
}

impl Reply {
    pub(super) fn status(severity: Severity, code: u32, msg: &str) -> Reply {
        let mut status = Record::default();
        let letter = match severity {
            Severity::Success => "S",
            Severity::Error => "E",
        };
        status.insert("STATUS", json!(letter));
        status.insert("When", json!(unix_now()));
        status.insert("Code", json!(code));
        status.insert("Msg", json!(msg));
        status.insert(
            "Description",
            json!(format!("hashrig {}", env!("CARGO_PKG_VERSION"))),
        );
        Reply {
            status,
            section: None,
        }
    }

    pub(super) fn with(mut self, name: &'static str, records: Vec<Record>) -> Reply {
        self.section = Some((name, records));
        self
    }

    /// `{"STATUS":[...],"SECTION":[...],"id":1}`, in cgminer's order.
    pub(super) fn to_value(&self) -> Value {
        let mut out = Record::default();
        out.insert("STATUS", json!([self.status]));
        if let Some((name, records)) = &self.section {
            out.insert(*name, json!(records));
        }
        out.insert("id", json!(1));
        json!(out)
    }

    pub(super) fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// cgminer's text form: `STATUS=S,When=..,...|SUMMARY,Elapsed=..,...|`; a record of a
    /// list of devices or pools starts with its own `GPU=0`/`POOL=0` pair.
    pub(super) fn to_text(&self) -> String {
        let mut out = String::new();
        push_pairs(&mut out, None, &self.status);
        if let Some((name, records)) = &self.section {
            for record in records {
                let first = record.0.first().map(|(k, _)| k.as_str());
                // A device's or pool's record starts with its index (`GPU=0`); the others
                // with the section's name (`SUMMARY,Elapsed=...`).
                let lead = (first != Some("GPU") && first != Some("CPU") && first != Some("POOL"))
                    .then_some(*name);
                push_pairs(&mut out, lead, record);
            }
        }
        out
    }
}

pub(super) fn push_pairs(out: &mut String, lead: Option<&str>, pairs: &Record) {
    let mut parts: Vec<String> = lead.map(str::to_string).into_iter().collect();
    for (k, v) in &pairs.0 {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{}={}", escape_text(k), escape_text(&v)));
    }
    out.push_str(&parts.join(","));
    out.push('|');
}

/// cgminer's text escaping: `,` `|` `=` and `\` get a backslash.
pub(super) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '|' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix seconds of an event `age` ago (0: never, as cgminer writes it).
pub(super) fn unix_ago(age: Option<Duration>) -> u64 {
    age.and_then(|a| SystemTime::now().checked_sub(a))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// MH/s as cgminer writes it (two decimals).
pub(super) fn mhs(rate: f64) -> Value {
    json!((rate / 1e4).round() / 100.0)
}

/// A percentage as cgminer writes it (a fraction times 100, four decimals).
pub(super) fn percent(part: f64, whole: f64) -> Value {
    let p = if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    };
    json!((p * 1e4).round() / 1e4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views() -> Views {
        let stats = Arc::new(Stats::new(["cpu avx512 x2".to_string()]));
        stats.register_pools(["stratum+tcp://pool:3333".to_string()]);
        Views {
            stats,
            source: "test".into(),
            history: Mutex::new(RateHistory::default()),
        }
    }

    fn json_answer(views: &Views, request: &str) -> Value {
        let bytes = answer(views, request.as_bytes());
        assert_eq!(bytes.last(), Some(&0), "ends with NUL");
        serde_json::from_slice(&bytes[..bytes.len() - 1]).expect("JSON")
    }

    #[test]
    fn a_json_request_gets_cgminer_sections() {
        let v = views();
        v.stats.pools()[0].accept(2.0);
        Stats::add(&v.stats.accepted, 1);
        let a = json_answer(&v, r#"{"command":"summary"}"#);
        assert_eq!(a["STATUS"][0]["STATUS"], "S");
        assert_eq!(a["STATUS"][0]["Code"], 11);
        assert_eq!(a["SUMMARY"][0]["Accepted"], 1);
        assert_eq!(a["SUMMARY"][0]["Difficulty Accepted"], 2.0);
        assert_eq!(a["id"], 1);
        let p = json_answer(&v, r#"{"command":"pools","parameter":""}"#);
        assert_eq!(p["POOLS"][0]["URL"], "stratum+tcp://pool:3333");
        let d = json_answer(&v, r#"{"command":"devs"}"#);
        assert_eq!(d["DEVS"][0]["CPU"], 0);
        assert_eq!(d["STATUS"][0]["Msg"], "1 CPU(s)");
    }

    #[test]
    fn joined_commands_answer_each_under_its_name() {
        let v = views();
        let a = json_answer(&v, r#"{"command":"summary+devs+pools"}"#);
        assert_eq!(a["summary"][0]["SUMMARY"][0]["Accepted"], 0);
        assert_eq!(a["devs"][0]["DEVS"][0]["Name"], "CPU");
        assert_eq!(a["pools"][0]["STATUS"][0]["Code"], 7);
        let bad = json_answer(&v, r#"{"command":"summary+quit"}"#);
        assert_eq!(bad["STATUS"][0]["STATUS"], "E");
        let twice = json_answer(&v, r#"{"command":"summary+summary"}"#);
        assert_eq!(twice["STATUS"][0]["Code"], 14);
    }

    #[test]
    fn text_requests_get_text_answers() {
        let v = views();
        let bytes = answer(&v, b"summary");
        let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
        assert!(text.starts_with("STATUS=S,When="), "{text}");
        assert!(text.contains("|SUMMARY,Elapsed="), "{text}");
        assert!(text.ends_with('|'), "{text}");
        let bytes = answer(&v, b"pools\n");
        let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
        assert!(
            text.contains("|POOL=0,URL=stratum+tcp://pool:3333,"),
            "{text}"
        );
    }

    #[test]
    fn changes_are_refused_and_nonsense_is_named() {
        let v = views();
        for (request, code) in [
            (r#"{"command":"quit"}"#, 45),
            (r#"{"command":"addpool","parameter":"a,b,c"}"#, 45),
            (r#"{"command":"bogus"}"#, 14),
            (r#"{"command":7}"#, 24),
            (r#"{"nothing":1}"#, 24),
            (r#"{"command":"summ"#, 23),
            ("[1,2]", 14),
        ] {
            let bytes = answer(&v, request.as_bytes());
            let text = String::from_utf8_lossy(&bytes[..bytes.len() - 1]).to_string();
            let code_seen = serde_json::from_str::<Value>(&text)
                .map(|a| a["STATUS"][0]["Code"].clone())
                .unwrap_or_else(|_| {
                    // Text answer.
                    let code = text
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("Code="))
                        .unwrap_or("?");
                    json!(code.parse::<u32>().unwrap_or(0))
                });
            assert_eq!(code_seen, json!(code), "{request}: {text}");
        }
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(escape_text("a,b|c=d\\e"), "a\\,b\\|c\\=d\\\\e");
    }

    #[test]
    fn check_says_what_is_answered() {
        let v = views();
        let a = json_answer(&v, r#"{"command":"check","parameter":"summary"}"#);
        assert_eq!(a["CHECK"][0]["Access"], "Y");
        let a = json_answer(&v, r#"{"command":"check","parameter":"quit"}"#);
        assert_eq!(a["CHECK"][0]["Exists"], "Y");
        assert_eq!(a["CHECK"][0]["Access"], "N");
    }
}
