//! getblocktemplate's answer (BIP22, BIP23, BIP9 rules, BIP141 segwit) checked field by field
//! into a [`Template`]. Every field we use is validated with an error that names it.
//!
//! BIP22: <https://github.com/bitcoin/bips/blob/master/bip-0022.mediawiki>
//! BIP23: <https://github.com/bitcoin/bips/blob/master/bip-0023.mediawiki>

use std::str::FromStr;

use bitcoin::consensus::encode;
use bitcoin::{Amount, BlockHash, CompactTarget, ScriptBuf, Transaction, Txid};
use serde_json::Value;

use crate::chain::block::Template;

/// A template field that is missing or malformed, or a rule hashrig does not implement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("getblocktemplate: {field}: {reason}")]
pub struct TemplateError {
    pub field: String,
    pub reason: String,
    /// True when the template is well formed but asks for something hashrig does not do (a
    /// `!` rule it does not know): asking again will not help.
    pub unsupported: bool,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> TemplateError {
    TemplateError {
        field: field.into(),
        reason: reason.into(),
        unsupported: false,
    }
}

/// The rules hashrig builds blocks for (BIP 9: a `!` rule the miner does not know must make
/// it refuse the template).
pub const IMPLEMENTED_RULES: [&str; 2] = ["segwit", "signet"];

/// The signet challenge hashrig can satisfy: `OP_TRUE`, which needs no signet solution.
const SIGNET_OP_TRUE: &str = "51";

fn get<'a>(v: &'a Value, field: &str) -> Result<&'a Value, TemplateError> {
    v.get(field).ok_or_else(|| err(field, "missing"))
}

fn u64_field(v: &Value, field: &str) -> Result<u64, TemplateError> {
    get(v, field)?.as_u64().ok_or_else(|| {
        err(
            field,
            format!("not a non-negative integer: {}", get(v, field).unwrap()),
        )
    })
}

fn u32_field(v: &Value, field: &str) -> Result<u32, TemplateError> {
    let n = u64_field(v, field)?;
    u32::try_from(n).map_err(|_| err(field, format!("{n} does not fit in 32 bits")))
}

fn str_field<'a>(v: &'a Value, field: &str) -> Result<&'a str, TemplateError> {
    get(v, field)?
        .as_str()
        .ok_or_else(|| err(field, "not a string"))
}

fn hex_bytes(field: &str, s: &str) -> Result<Vec<u8>, TemplateError> {
    use bitcoin::hex::FromHex;
    Vec::<u8>::from_hex(s).map_err(|e| err(field, format!("not hex: {e}")))
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>, TemplateError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| err(field, "not an array of strings"))
            })
            .collect(),
        Some(_) => Err(err(field, "not an array")),
    }
}

/// Parses and checks a getblocktemplate result.
pub fn parse_template(v: &Value) -> Result<Template, TemplateError> {
    if !v.is_object() {
        return Err(err("result", "not a JSON object"));
    }
    let version = get(v, "version")?
        .as_i64()
        .and_then(|n| {
            i32::try_from(n)
                .ok()
                .or_else(|| u32::try_from(n).ok().map(|u| u as i32))
        })
        .ok_or_else(|| err("version", "not a 32-bit integer"))?;
    let prev_hash = BlockHash::from_str(str_field(v, "previousblockhash")?)
        .map_err(|e| err("previousblockhash", format!("not a 64-digit hex hash: {e}")))?;
    let bits_text = str_field(v, "bits")?;
    if bits_text.len() != 8 {
        return Err(err(
            "bits",
            format!("expected 8 hex digits, got {bits_text:?}"),
        ));
    }
    let bits = u32::from_str_radix(bits_text, 16)
        .map_err(|_| err("bits", format!("not hex: {bits_text:?}")))?;
    let height = u32_field(v, "height")?;
    if height > i32::MAX as u32 {
        return Err(err("height", format!("{height} is out of range")));
    }
    let coinbase_value = Amount::from_sat(u64_field(v, "coinbasevalue")?);
    if coinbase_value > Amount::MAX_MONEY {
        return Err(err("coinbasevalue", "more than 21 million BTC"));
    }
    let curtime = u32_field(v, "curtime")?;
    let mintime = match v.get("mintime") {
        None | Some(Value::Null) => 0,
        Some(_) => u32_field(v, "mintime")?,
    };
    let rules = strings(v, "rules")?;
    for rule in &rules {
        if let Some(name) = rule.strip_prefix('!') {
            if !IMPLEMENTED_RULES.contains(&name) {
                return Err(TemplateError {
                    field: "rules".into(),
                    reason: format!(
                        "the node requires rule {rule:?}, which hashrig does not implement (BIP 9: a block built without it would be invalid)"
                    ),
                    unsupported: true,
                });
            }
        }
    }
    if rules.iter().any(|r| r.trim_start_matches('!') == "signet") {
        let challenge = v
            .get("signet_challenge")
            .and_then(Value::as_str)
            .unwrap_or("");
        if challenge != SIGNET_OP_TRUE {
            return Err(TemplateError {
                field: "signet_challenge".into(),
                reason: format!(
                    "this signet's challenge {challenge:?} needs a signed block, which hashrig does not produce (use a signet with -signetchallenge=51)"
                ),
                unsupported: true,
            });
        }
    }
    let maxtime = match v.get("maxtime") {
        None | Some(Value::Null) => None,
        Some(_) => Some(u32_field(v, "maxtime")?),
    };
    let segwit = rules.iter().any(|r| r.trim_start_matches('!') == "segwit");
    let mutable = strings(v, "mutable")?;
    // BIP23: without a "mutable" list, time may be changed.
    let time_mutable = v.get("mutable").is_none() || mutable.iter().any(|m| m == "time");

    let txs = match get(v, "transactions")? {
        Value::Array(items) => items,
        _ => return Err(err("transactions", "not an array")),
    };
    let mut transactions = Vec::with_capacity(txs.len());
    let mut txids = Vec::with_capacity(txs.len());
    for (i, t) in txs.iter().enumerate() {
        let field = format!("transactions[{i}]");
        let data = t
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&field, "no \"data\" hex"))?;
        let tx: Transaction = encode::deserialize(&hex_bytes(&field, data)?)
            .map_err(|e| err(&field, format!("not a transaction: {e}")))?;
        let txid = tx.compute_txid();
        if let Some(given) = t.get("txid").and_then(Value::as_str) {
            let given = Txid::from_str(given).map_err(|e| err(&field, format!("bad txid: {e}")))?;
            if given != txid {
                return Err(err(
                    &field,
                    format!("txid {given} does not match its data ({txid})"),
                ));
            }
        }
        txids.push(txid);
        transactions.push(tx);
    }

    let witness_commitment = if segwit {
        let ours = Template::commitment_for(&transactions);
        if let Some(theirs) = v.get("default_witness_commitment").and_then(Value::as_str) {
            let theirs = ScriptBuf::from_bytes(hex_bytes("default_witness_commitment", theirs)?);
            if theirs != ours {
                return Err(err(
                    "default_witness_commitment",
                    format!(
                        "{} differs from the one computed from the transactions ({})",
                        theirs.to_hex_string(),
                        ours.to_hex_string()
                    ),
                ));
            }
        }
        Some(ours)
    } else {
        None
    };
    let longpoll_id = v
        .get("longpollid")
        .and_then(Value::as_str)
        .map(str::to_string);

    Ok(Template {
        version,
        prev_hash,
        bits: CompactTarget::from_consensus(bits),
        height,
        coinbase_value,
        curtime,
        mintime,
        maxtime,
        time_mutable,
        transactions,
        txids,
        witness_commitment,
        longpoll_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "version": 536870912,
            "previousblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            "transactions": [],
            "coinbasevalue": 5000000000u64,
            "bits": "207fffff",
            "height": 1,
            "curtime": 1700000000,
            "mintime": 1296688603,
            "rules": ["csv", "segwit"],
            "mutable": ["time", "transactions", "prevblock"],
            "longpollid": "abc1",
        })
    }

    #[test]
    fn a_minimal_template_parses() {
        let t = parse_template(&minimal()).unwrap();
        assert_eq!(t.height, 1);
        assert_eq!(t.bits.to_consensus(), 0x207f_ffff);
        assert!(t.time_mutable);
        assert!(t.witness_commitment.is_some(), "segwit rule => commitment");
        assert_eq!(t.longpoll_id.as_deref(), Some("abc1"));
        assert_eq!(
            t.prev_hash.to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("bits", json!("zz"), "bits"),
            ("bits", json!(42), "bits"),
            ("height", json!(-1), "height"),
            ("height", json!("1"), "height"),
            ("previousblockhash", json!("00"), "previousblockhash"),
            (
                "coinbasevalue",
                json!(2_200_000_000_000_000u64),
                "coinbasevalue",
            ),
            ("transactions", json!([{"data": "00"}]), "transactions[0]"),
            ("transactions", json!([{"nodata": true}]), "transactions[0]"),
            ("transactions", json!({}), "transactions"),
            ("curtime", json!(1u64 << 40), "curtime"),
            ("version", json!("two"), "version"),
            (
                "default_witness_commitment",
                json!("6a24aa21a9ed00"),
                "default_witness_commitment",
            ),
        ];
        for (field, value, named) in cases {
            let mut t = minimal();
            t[field] = value;
            let e = parse_template(&t).unwrap_err();
            assert_eq!(e.field, named, "{field}: {e}");
        }
        let mut t = minimal();
        t.as_object_mut().unwrap().remove("bits");
        assert_eq!(
            parse_template(&t).unwrap_err().to_string(),
            "getblocktemplate: bits: missing"
        );
        assert!(parse_template(&json!([1, 2])).is_err());
        assert!(!parse_template(&json!([1, 2])).unwrap_err().unsupported);
        assert!(parse_template(&Value::Null).is_err());
    }

    #[test]
    fn unknown_required_rules_are_refused_and_known_ones_taken() {
        // Bitcoin Core v31 regtest answers rules ["csv", "!segwit", "taproot"].
        let mut t = minimal();
        t["rules"] = json!(["csv", "!segwit", "taproot"]);
        assert!(parse_template(&t).unwrap().witness_commitment.is_some());
        t["rules"] = json!(["csv", "!segwit", "!newrule"]);
        let e = parse_template(&t).unwrap_err();
        assert!(e.unsupported && e.field == "rules", "{e}");
        assert!(e.to_string().contains("\"!newrule\""), "{e}");
        // Optional rules hashrig does not know are fine.
        t["rules"] = json!(["csv", "segwit", "someday"]);
        assert!(parse_template(&t).is_ok());
    }

    #[test]
    fn signet_templates_need_an_op_true_challenge() {
        let mut t = minimal();
        t["rules"] = json!(["csv", "!segwit", "taproot", "!signet"]);
        t["signet_challenge"] = json!("51");
        assert!(parse_template(&t).is_ok());
        t["signet_challenge"] =
            json!("512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be43051ae");
        let e = parse_template(&t).unwrap_err();
        assert!(e.unsupported && e.field == "signet_challenge", "{e}");
    }

    #[test]
    fn maxtime_is_read_when_given() {
        let mut t = minimal();
        assert_eq!(parse_template(&t).unwrap().maxtime, None);
        t["maxtime"] = json!(1_700_007_200u64);
        assert_eq!(parse_template(&t).unwrap().maxtime, Some(1_700_007_200));
    }
}
