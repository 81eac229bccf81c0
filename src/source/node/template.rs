//! getblocktemplate's answer (BIP22, BIP23, BIP9 rules, BIP141 segwit) checked field by field
//! into a [`Template`]. Every field we use is validated with an error that names it.
//!
//! BIP22: <https://github.com/bitcoin/bips/blob/master/bip-0022.mediawiki>
//! BIP23: <https://github.com/bitcoin/bips/blob/master/bip-0023.mediawiki>

use std::collections::HashSet;
use std::str::FromStr;

use bitcoin::consensus::encode;
use bitcoin::{Amount, BlockHash, CompactTarget, ScriptBuf, Target, Transaction, Txid, Weight};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::chain::block::Template;
use crate::chain::params::Chain;
use crate::ui::output::clip;

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
/// it refuse the template); Litecoin's `mweb` only on Litecoin.
pub const IMPLEMENTED_RULES: [&str; 2] = ["segwit", "signet"];

/// The largest MWEB extension block taken from a template (Litecoin caps its weight at 200 000
/// units; its outputs' range proofs make a full one a few megabytes).
const MAX_MWEB_BYTES: usize = 16 << 20;

/// The signet challenge hashrig can satisfy: `OP_TRUE`, which needs no signet solution.
const SIGNET_OP_TRUE: &str = "51";

/// A block weighs at most this (BIP 141); its transactions leave room for the coinbase.
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// No block holds more transactions than this (the smallest transaction weighs 240).
pub const MAX_TRANSACTIONS: usize = (MAX_BLOCK_WEIGHT / 240) as usize;
/// Entries of the small lists (rules, mutable).
const MAX_LIST: usize = 64;
/// Longest longpoll id sent back to the node.
const MAX_LONGPOLL_ID: usize = 1024;

/// The answer's fields, left unparsed until each is read (and named when it is wrong): a
/// field the template does not use is skipped without being stored.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    version: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    previousblockhash: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    transactions: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    coinbasevalue: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    bits: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    height: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    curtime: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    mintime: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    maxtime: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    rules: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    mutable: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    default_witness_commitment: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    longpollid: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    signet_challenge: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    mweb: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// One entry of `transactions` (other keys skipped).
#[derive(Deserialize)]
struct RawTx<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    txid: Option<&'a RawValue>,
}

/// A JSON array of at most `MAX` entries, each left unparsed.
struct Bounded<'a, const MAX: usize>(Vec<&'a RawValue>);

impl<'de: 'a, 'a, const MAX: usize> Deserialize<'de> for Bounded<'a, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a, const MAX: usize>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a, const MAX: usize> serde::de::Visitor<'de> for Visit<'a, MAX> {
            type Value = Bounded<'a, MAX>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "an array of at most {MAX} entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    if items.len() == MAX {
                        return Err(serde::de::Error::custom(format!("more than {MAX} entries")));
                    }
                    items.push(item);
                }
                Ok(Bounded(items))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// `raw` as a `T`, or an error naming `field` (the value is never echoed whole).
fn parse<T: DeserializeOwned>(raw: &RawValue, field: &str, what: &str) -> Result<T, TemplateError> {
    serde_json::from_str(raw.get())
        .map_err(|_| err(field, format!("not {what}: {}", clip(raw.get(), 80))))
}

fn required<'a>(raw: Option<&'a RawValue>, field: &str) -> Result<&'a RawValue, TemplateError> {
    raw.filter(|r| r.get() != "null")
        .ok_or_else(|| err(field, "missing"))
}

fn optional(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

fn u32_field(raw: Option<&RawValue>, field: &str) -> Result<u32, TemplateError> {
    let n: u64 = parse(required(raw, field)?, field, "a non-negative integer")?;
    u32::try_from(n).map_err(|_| err(field, format!("{n} does not fit in 32 bits")))
}

fn hex_bytes(field: &str, s: &str) -> Result<Vec<u8>, TemplateError> {
    use bitcoin::hex::FromHex;
    Vec::<u8>::from_hex(s).map_err(|e| err(field, format!("not hex: {e}")))
}

fn strings(raw: Option<&RawValue>, field: &str) -> Result<Vec<String>, TemplateError> {
    let Some(raw) = optional(raw) else {
        return Ok(vec![]);
    };
    let items: Bounded<'_, MAX_LIST> = serde_json::from_str(raw.get()).map_err(|e| {
        err(
            field,
            format!("not a short array: {}", clip(&e.to_string(), 80)),
        )
    })?;
    items
        .0
        .iter()
        .map(|i| {
            let s: String = parse(i, field, "an array of strings")?;
            Ok(clip(&s, 64))
        })
        .collect()
}

/// Parses and checks a getblocktemplate result (its JSON text). `pow_limit` is the chain's
/// easiest target: `bits` above it, or a zero target, is refused (a miner would search
/// forever, or submit blocks the chain rejects).
pub fn parse_template(json: &str, chain: Chain) -> Result<Template, TemplateError> {
    let pow_limit = chain.pow_limit();
    let v: Raw<'_> = serde_json::from_str(json).map_err(|e| {
        err(
            "result",
            format!("not a template object: {}", clip(&e.to_string(), 120)),
        )
    })?;
    let version: i64 = parse(required(v.version, "version")?, "version", "an integer")?;
    let version = i32::try_from(version)
        .ok()
        .or_else(|| u32::try_from(version).ok().map(|u| u as i32))
        .ok_or_else(|| err("version", format!("{version} is not a 32-bit integer")))?;
    let prev_text: String = parse(
        required(v.previousblockhash, "previousblockhash")?,
        "previousblockhash",
        "a string",
    )?;
    let prev_hash = BlockHash::from_str(&prev_text).map_err(|e| {
        err(
            "previousblockhash",
            format!("not a 64-digit hex hash ({e}): {:?}", clip(&prev_text, 80)),
        )
    })?;
    let bits_text: String = parse(required(v.bits, "bits")?, "bits", "a string")?;
    if bits_text.len() != 8 {
        return Err(err(
            "bits",
            format!("expected 8 hex digits, got {:?}", clip(&bits_text, 40)),
        ));
    }
    let bits = u32::from_str_radix(&bits_text, 16)
        .map_err(|_| err("bits", format!("not hex: {:?}", clip(&bits_text, 40))))?;
    let bits = CompactTarget::from_consensus(bits);
    let target = Target::from_compact(bits);
    if target == Target::ZERO {
        return Err(err(
            "bits",
            format!("{bits_text} is a zero target: no hash can meet it"),
        ));
    }
    if target > pow_limit {
        return Err(err(
            "bits",
            format!(
                "{bits_text} is easier than this chain's proof-of-work limit ({:08x}): the chain would reject every block",
                pow_limit.to_compact_lossy().to_consensus()
            ),
        ));
    }
    let height = u32_field(v.height, "height")?;
    if height > i32::MAX as u32 {
        return Err(err("height", format!("{height} is out of range")));
    }
    let coinbase_value = Amount::from_sat(parse(
        required(v.coinbasevalue, "coinbasevalue")?,
        "coinbasevalue",
        "a non-negative integer",
    )?);
    if coinbase_value > Amount::MAX_MONEY {
        return Err(err("coinbasevalue", "more than 21 million BTC"));
    }
    let curtime = u32_field(v.curtime, "curtime")?;
    let mintime = match optional(v.mintime) {
        None => 0,
        Some(_) => u32_field(v.mintime, "mintime")?,
    };
    let rules = strings(v.rules, "rules")?;
    for rule in &rules {
        if let Some(name) = rule.strip_prefix('!') {
            let implemented =
                IMPLEMENTED_RULES.contains(&name) || (chain.litecoin() && name == "mweb");
            if !implemented {
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
        let challenge: String = match optional(v.signet_challenge) {
            Some(raw) => parse(raw, "signet_challenge", "a string")?,
            None => String::new(),
        };
        if challenge != SIGNET_OP_TRUE {
            return Err(TemplateError {
                field: "signet_challenge".into(),
                reason: format!(
                    "this signet's challenge {:?} needs a signed block, which hashrig does not produce (use a signet with -signetchallenge=51)",
                    clip(&challenge, 80)
                ),
                unsupported: true,
            });
        }
    }
    let maxtime = match optional(v.maxtime) {
        None => None,
        Some(_) => Some(u32_field(v.maxtime, "maxtime")?),
    };
    let segwit = rules.iter().any(|r| r.trim_start_matches('!') == "segwit");
    // BIP23: without a "mutable" list, time may be changed.
    let time_mutable =
        optional(v.mutable).is_none() || strings(v.mutable, "mutable")?.iter().any(|m| m == "time");

    let txs: Bounded<'_, MAX_TRANSACTIONS> =
        serde_json::from_str(required(v.transactions, "transactions")?.get()).map_err(|e| {
            err(
                "transactions",
                format!(
                    "not an array of at most {MAX_TRANSACTIONS} transactions: {}",
                    clip(&e.to_string(), 80)
                ),
            )
        })?;
    let mut transactions = Vec::with_capacity(txs.0.len());
    let mut raw_transactions = Vec::with_capacity(txs.0.len());
    let mut txids = Vec::with_capacity(txs.0.len());
    let mut seen = HashSet::with_capacity(txs.0.len());
    let mut weight = Weight::ZERO;
    for (i, raw) in txs.0.iter().enumerate() {
        let field = format!("transactions[{i}]");
        let t: RawTx<'_> = serde_json::from_str(raw.get())
            .map_err(|_| err(&field, format!("not an object: {}", clip(raw.get(), 80))))?;
        let data = t
            .data
            .filter(|d| d.get().len() <= 2 * MAX_BLOCK_WEIGHT as usize + 2)
            .ok_or_else(|| err(&field, "no \"data\" hex (or longer than a block)"))?;
        let data: String = parse(data, &field, "a \"data\" hex string")?;
        let bytes = hex_bytes(&field, &data)?;
        let tx: Transaction = match encode::deserialize(&bytes) {
            Ok(tx) => tx,
            Err(_) if chain.litecoin() && is_hogex(&bytes) => {
                if i + 1 != txs.0.len() {
                    return Err(err(
                        &field,
                        "Litecoin's integrating transaction (HogEx) must be the last one",
                    ));
                }
                decode_hogex(&bytes).map_err(|e| err(&field, format!("bad HogEx: {e}")))?
            }
            Err(e) => return Err(err(&field, format!("not a transaction: {e}"))),
        };
        let txid = tx.compute_txid();
        if let Some(given) = optional(t.txid) {
            let given: String = parse(given, &field, "a txid string")?;
            let given =
                Txid::from_str(&given).map_err(|e| err(&field, format!("bad txid: {e}")))?;
            if given != txid {
                return Err(err(
                    &field,
                    format!("txid {given} does not match its data ({txid})"),
                ));
            }
        }
        if !seen.insert(txid) {
            return Err(err(&field, format!("transaction {txid} appears twice")));
        }
        weight += tx.weight();
        if weight.to_wu() > MAX_BLOCK_WEIGHT {
            return Err(err(
                "transactions",
                format!("they weigh over a block's {MAX_BLOCK_WEIGHT} weight units"),
            ));
        }
        txids.push(txid);
        transactions.push(tx);
        raw_transactions.push(bytes);
    }

    let witness_commitment = if segwit {
        let ours = Template::commitment_for(&transactions);
        if let Some(raw) = optional(v.default_witness_commitment) {
            let theirs: String = parse(raw, "default_witness_commitment", "a hex string")?;
            let theirs = ScriptBuf::from_bytes(hex_bytes("default_witness_commitment", &theirs)?);
            if theirs != ours {
                return Err(err(
                    "default_witness_commitment",
                    format!(
                        "{} differs from the one computed from the transactions ({})",
                        clip(&theirs.to_hex_string(), 100),
                        ours.to_hex_string()
                    ),
                ));
            }
        }
        Some(ours)
    } else {
        None
    };
    let mweb = match optional(v.mweb) {
        Some(raw) if chain.litecoin() => {
            if raw.get().len() > 2 * MAX_MWEB_BYTES + 2 {
                return Err(err("mweb", format!("longer than {MAX_MWEB_BYTES} bytes")));
            }
            let hex: String = parse(raw, "mweb", "a hex string")?;
            let bytes = hex_bytes("mweb", &hex)?;
            if bytes.is_empty() {
                return Err(err("mweb", "empty"));
            }
            Some(bytes)
        }
        _ => None,
    };
    if chain.litecoin() && rules.iter().any(|r| r.trim_start_matches('!') == "mweb") {
        if mweb.is_none() {
            return Err(err(
                "mweb",
                "MWEB is active but the template has no MWEB block (Litecoin Core would refuse the block: mweb-missing)",
            ));
        }
        if !raw_transactions.last().is_some_and(|t| is_hogex(t)) {
            return Err(err(
                "transactions",
                "MWEB is active but the last transaction is not the integrating transaction (HogEx)",
            ));
        }
    }
    let longpoll_id = match optional(v.longpollid) {
        None => None,
        Some(raw) => {
            let id: String = parse(raw, "longpollid", "a string")?;
            if id.len() > MAX_LONGPOLL_ID {
                return Err(err(
                    "longpollid",
                    format!("longer than {MAX_LONGPOLL_ID} bytes"),
                ));
            }
            Some(id)
        }
    };

    Ok(Template {
        version,
        prev_hash,
        bits,
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
        algo: chain.algo(),
        mweb,
        raw_transactions,
    })
}

/// Why a HogEx did not decode.
#[derive(Debug, thiserror::Error)]
enum HogexError {
    #[error(transparent)]
    Decode(#[from] encode::Error),
    #[error("it carries an MWEB transaction, which an integrating transaction does not")]
    MwebTransaction,
    #[error("{0} bytes after its lock time")]
    Trailing(usize),
}

/// True for a Litecoin transaction serialized with the MWEB flag (0x08) and no witness: the
/// integrating transaction (HogEx) of an MWEB block.
fn is_hogex(bytes: &[u8]) -> bool {
    bytes.get(4..6) == Some(&[0x00, 0x08][..])
}

/// Litecoin's HogEx as a transaction without its MWEB part (its txid is of that form). Its
/// serialization is `version | 0x00 0x08 | inputs | outputs | MWEB transaction (an optional:
/// 0x00 for none) | lock time`; the bytes sent back in the block are the template's own.
fn decode_hogex(bytes: &[u8]) -> Result<Transaction, HogexError> {
    use bitcoin::consensus::Decodable;
    use bitcoin::{absolute::LockTime, transaction::Version, TxIn, TxOut};
    let mut r = bitcoin::io::Cursor::new(bytes);
    let version = i32::consensus_decode(&mut r)?;
    // The marker and the flag (checked by `is_hogex`).
    u16::consensus_decode(&mut r)?;
    let input = Vec::<TxIn>::consensus_decode(&mut r)?;
    let output = Vec::<TxOut>::consensus_decode(&mut r)?;
    if u8::consensus_decode(&mut r)? != 0 {
        return Err(HogexError::MwebTransaction);
    }
    let lock_time = LockTime::consensus_decode(&mut r)?;
    if r.position() as usize != bytes.len() {
        return Err(HogexError::Trailing(bytes.len() - r.position() as usize));
    }
    Ok(Transaction {
        version: Version(version),
        lock_time,
        input,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const REGTEST: Chain = Chain::Bitcoin(bitcoin::Network::Regtest);

    fn parse_value(v: &Value) -> Result<Template, TemplateError> {
        parse_template(&v.to_string(), REGTEST)
    }

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
        let t = parse_value(&minimal()).unwrap();
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
            let e = parse_value(&t).unwrap_err();
            assert_eq!(e.field, named, "{field}: {e}");
        }
        let mut t = minimal();
        t.as_object_mut().unwrap().remove("bits");
        assert_eq!(
            parse_value(&t).unwrap_err().to_string(),
            "getblocktemplate: bits: missing"
        );
        assert!(parse_value(&json!([1, 2])).is_err());
        assert!(!parse_value(&json!([1, 2])).unwrap_err().unsupported);
        assert!(parse_value(&Value::Null).is_err());
    }

    #[test]
    fn unknown_required_rules_are_refused_and_known_ones_taken() {
        // Bitcoin Core v31 regtest answers rules ["csv", "!segwit", "taproot"].
        let mut t = minimal();
        t["rules"] = json!(["csv", "!segwit", "taproot"]);
        assert!(parse_value(&t).unwrap().witness_commitment.is_some());
        t["rules"] = json!(["csv", "!segwit", "!newrule"]);
        let e = parse_value(&t).unwrap_err();
        assert!(e.unsupported && e.field == "rules", "{e}");
        assert!(e.to_string().contains("\"!newrule\""), "{e}");
        // Optional rules hashrig does not know are fine.
        t["rules"] = json!(["csv", "segwit", "someday"]);
        assert!(parse_value(&t).is_ok());
    }

    #[test]
    fn signet_templates_need_an_op_true_challenge() {
        let mut t = minimal();
        t["rules"] = json!(["csv", "!segwit", "taproot", "!signet"]);
        t["signet_challenge"] = json!("51");
        assert!(parse_value(&t).is_ok());
        t["signet_challenge"] =
            json!("512103ad5e0edad18cb1f0fc0d28a3d4f1f3e445640337489abb10404f2d1e086be43051ae");
        let e = parse_value(&t).unwrap_err();
        assert!(e.unsupported && e.field == "signet_challenge", "{e}");
    }

    #[test]
    fn maxtime_is_read_when_given() {
        let mut t = minimal();
        assert_eq!(parse_value(&t).unwrap().maxtime, None);
        t["maxtime"] = json!(1_700_007_200u64);
        assert_eq!(parse_value(&t).unwrap().maxtime, Some(1_700_007_200));
    }

    /// Issue 15: bits ffffffff or 00000000 mined a zero target forever without a word.
    #[test]
    fn a_zero_target_or_one_above_the_chain_limit_is_refused() {
        for bits in ["00000000", "ffffffff", "01000000", "00800000"] {
            let mut t = minimal();
            t["bits"] = json!(bits);
            let e = parse_value(&t).unwrap_err();
            assert_eq!(e.field, "bits", "{bits}: {e}");
            assert!(e.reason.contains("zero target"), "{bits}: {e}");
        }
        let mut t = minimal();
        t["bits"] = json!("217fffff");
        let e = parse_value(&t).unwrap_err();
        assert!(e.reason.contains("proof-of-work limit"), "{e}");
        // Regtest's own bits are not easier than mainnet's limit only on regtest.
        let e = parse_template(
            &minimal().to_string(),
            Chain::Bitcoin(bitcoin::Network::Bitcoin),
        )
        .unwrap_err();
        assert!(e.reason.contains("proof-of-work limit (1d00ffff)"), "{e}");
    }

    fn tx_json(i: u32) -> Value {
        let tx = bitcoin::Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: bitcoin::OutPoint {
                    txid: Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
                    vout: i,
                },
                ..Default::default()
            }],
            output: vec![bitcoin::TxOut {
                value: Amount::from_sat(1),
                script_pubkey: ScriptBuf::new(),
            }],
        };
        json!({"data": encode::serialize_hex(&tx), "txid": tx.compute_txid().to_string()})
    }

    /// Issue 15: a template with duplicated transactions was mined and its block submitted.
    #[test]
    fn duplicate_transactions_are_refused() {
        let mut t = minimal();
        t["transactions"] = json!([tx_json(1), tx_json(2), tx_json(1)]);
        t.as_object_mut().unwrap().remove("rules");
        let e = parse_value(&t).unwrap_err();
        assert_eq!(e.field, "transactions[2]");
        assert!(e.reason.contains("appears twice"), "{e}");
    }

    /// Issue 15: a template of 400k transactions took 868 MB as a JSON tree. More than a block
    /// can hold is refused as it is read.
    #[test]
    fn more_transactions_than_a_block_holds_are_refused() {
        let mut t = minimal();
        t["transactions"] = json!([]);
        let text = t.to_string().replace(
            "\"transactions\":[]",
            &format!("\"transactions\":[{}{{}}]", "{},".repeat(MAX_TRANSACTIONS)),
        );
        let e = parse_template(&text, REGTEST).unwrap_err();
        assert_eq!(e.field, "transactions");
        assert!(e.reason.contains("at most"), "{e}");
    }

    /// Issue 15: a 10 MB field was echoed whole into the log on every retry.
    #[test]
    fn huge_or_hostile_values_are_clipped_in_errors() {
        let mut t = minimal();
        t["bits"] = json!(format!("\u{1b}]0;x\u{7}{}", "f".repeat(10_000_000)));
        let e = parse_value(&t).unwrap_err().to_string();
        assert!(e.len() < 400, "{} bytes", e.len());
        assert!(!e.contains('\u{1b}'));
        let mut t = minimal();
        t["previousblockhash"] = json!("z".repeat(5_000_000));
        assert!(parse_value(&t).unwrap_err().to_string().len() < 400);
        // Unused fields are skipped whatever they hold.
        let mut t = minimal();
        t["junk"] = json!(vec![0; 100_000]);
        assert!(parse_value(&t).is_ok());
    }

    /// litecoind 0.21.2.1's answer at MWEB's activation on regtest (height 432, a peg-in in the
    /// mempool): the peg-in, then the integrating transaction (HogEx, serialized with the MWEB
    /// flag 0x08, which the `bitcoin` crate does not read), then the MWEB block.
    const LITECOIN_MWEB: &str = include_str!("../../../tests/data/litecoind-mweb-template.json");

    #[test]
    fn a_litecoin_mweb_template_keeps_the_hogex_and_the_mweb_block() {
        use crate::chain::params::LitecoinNet;
        let t = parse_template(LITECOIN_MWEB, Chain::Litecoin(LitecoinNet::Regtest)).unwrap();
        let v: Value = serde_json::from_str(LITECOIN_MWEB).unwrap();
        assert_eq!(t.height, 432);
        assert_eq!(t.algo, crate::algo::Algo::Scrypt);
        assert_eq!(t.transactions.len(), 2);
        // Sent back byte for byte: the HogEx with its flag.
        for (i, raw) in t.raw_transactions.iter().enumerate() {
            let given = v["transactions"][i]["data"].as_str().unwrap();
            assert_eq!(
                bitcoin::hex::DisplayHex::to_lower_hex_string(&raw[..]),
                given
            );
            // The txid of the HogEx without its MWEB part is the node's.
            assert_eq!(
                t.txids[i].to_string(),
                v["transactions"][i]["txid"].as_str().unwrap()
            );
        }
        assert_eq!(&t.raw_transactions[1][4..6], &[0x00, 0x08]);
        let mweb = t.mweb.as_ref().expect("the MWEB block");
        assert_eq!(
            bitcoin::hex::DisplayHex::to_lower_hex_string(&mweb[..]),
            v["mweb"].as_str().unwrap()
        );
        // The witness commitment computed here (the HogEx's wtxid is its txid) equals the
        // node's `default_witness_commitment`, or parsing would have refused it.
        assert!(t.witness_commitment.is_some());

        // As a Bitcoin node's answer the HogEx is not a transaction.
        let e = parse_template(LITECOIN_MWEB, REGTEST).unwrap_err();
        assert_eq!(e.field, "transactions[1]", "{e}");
        // MWEB active without the MWEB block, or with the HogEx not last: refused.
        let mut no_mweb = v.clone();
        no_mweb.as_object_mut().unwrap().remove("mweb");
        let e = parse_template(&no_mweb.to_string(), Chain::Litecoin(LitecoinNet::Regtest))
            .unwrap_err();
        assert!(e.reason.contains("mweb-missing"), "{e}");
        let mut swapped = v.clone();
        let txs = swapped["transactions"].as_array_mut().unwrap();
        txs.swap(0, 1);
        let e = parse_template(&swapped.to_string(), Chain::Litecoin(LitecoinNet::Regtest))
            .unwrap_err();
        assert!(e.reason.contains("HogEx"), "{e}");
    }
}
