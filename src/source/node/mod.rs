//! Solo mining against a node: getblocktemplate in (BIP22/23, long polling), submitblock out
//! (Bitcoin Core, bcoin, btcd). The source owns a template thread and a submit thread, so a
//! slow node never blocks verification or Ctrl-C; every found block goes through the journal.

pub mod assemble;
pub mod journal;
pub mod rpc;
pub(crate) mod solo;
pub mod template;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::chain::params::Chain;
#[cfg(test)]
use crate::chain::params::LitecoinNet;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::chain::block::Template;
use crate::ui::output::clip;
pub use journal::{FoundBlock, Journal, JournalError};
pub use rpc::{Auth, RpcClient, RpcError};
pub use solo::{NodeSource, Payout, SoloError};
pub use template::{parse_template, TemplateError};

/// Errors from a node work source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl NodeError {
    /// Worth waiting out (the node is down, starting or syncing).
    pub fn is_transient(&self) -> bool {
        matches!(self, NodeError::Rpc(e) if e.is_transient())
    }
}

/// The getblocktemplate request, built in one place: the rules hashrig implements (segwit; on
/// signet also signet, which Bitcoin Core requires there; on Litecoin mweb first, which Litecoin
/// Core requires since MWEB: error -8 without it) and the capabilities it uses. Asking
/// for `coinbasetxn` would make btcd leave out `coinbasevalue` (and refuse without
/// `--miningaddr`), so it is not asked for.
pub fn template_request(chain: Chain, longpoll_id: Option<&str>) -> Value {
    let rules = if chain.litecoin() {
        vec!["mweb", "segwit"]
    } else if chain.signet() {
        vec!["segwit", "signet"]
    } else {
        vec!["segwit"]
    };
    let mut request = json!({"rules": rules, "capabilities": ["coinbasevalue", "longpoll"]});
    if let Some(id) = longpoll_id {
        request["longpollid"] = Value::String(id.to_string());
    }
    request
}

/// What the node said about a submitted block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    Accepted,
    /// The node's reason ("high-hash", "bad-txnmrklroot", "duplicate", ...).
    Rejected(String),
}

/// A node's RPC interface.
#[derive(Clone, Debug)]
pub struct Node {
    rpc: RpcClient,
    longpoll_timeout: Duration,
    /// The node's chain (Bitcoin's regtest until it is known): its template rules, its
    /// easiest target (templates with easier `bits` are refused), its proof of work.
    chain: Chain,
    /// The last template answer (its hash) and what it parsed to: the same answer again (a
    /// poll, a long poll that returns at once) is not parsed again.
    last: Arc<Mutex<Option<LastTemplate>>>,
}

/// A template answer's SHA-256 and what it parsed to.
type LastTemplate = ([u8; 32], Arc<Template>);

/// How long a long poll may hang before we ask again (Core holds one until the next block).
pub const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(120);

impl Node {
    pub fn new(rpc: RpcClient) -> Self {
        Node {
            rpc,
            longpoll_timeout: LONGPOLL_TIMEOUT,
            chain: Chain::Bitcoin(bitcoin::Network::Regtest),
            last: Arc::default(),
        }
    }

    /// How long a long poll may hang before it is asked again (some proxies cut idle
    /// connections sooner than the node answers).
    pub fn with_longpoll_timeout(mut self, timeout: Duration) -> Self {
        self.longpoll_timeout = timeout;
        self
    }

    /// The node's chain: the rules in template requests (signet's, Litecoin's mweb), the
    /// proof-of-work limit templates are checked against, and the proof of work.
    pub fn on_chain(mut self, chain: Chain) -> Self {
        self.chain = chain;
        self
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// getblocktemplate (see [`template_request`]); with `longpoll_id`, waits until the node
    /// has a newer template (BIP22 long polling). A long poll that outlasts its timeout is normal
    /// (a quiet chain), not a node problem: the template is then asked for again at once.
    pub fn template(&self, longpoll_id: Option<&str>) -> Result<Arc<Template>, NodeError> {
        let rpc = match longpoll_id {
            Some(_) => self.rpc.with_timeout(self.longpoll_timeout),
            None => self.rpc.clone(),
        };
        let request = template_request(self.chain, longpoll_id);
        match rpc.call_with("getblocktemplate", json!([request]), |raw| self.parse(raw)) {
            Err(NodeError::Rpc(RpcError::Timeout { .. })) if longpoll_id.is_some() => {
                tracing::debug!("long poll timed out; asking for the template again");
                self.rpc.call_with(
                    "getblocktemplate",
                    json!([template_request(self.chain, None)]),
                    |raw| self.parse(raw),
                )
            }
            other => other,
        }
    }

    /// A template answer: parsed, unless it is the same as the last one.
    fn parse(&self, raw: &RawValue) -> Result<Arc<Template>, NodeError> {
        use sha2::Digest;
        let hash: [u8; 32] = sha2::Sha256::digest(raw.get().as_bytes()).into();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((h, t)) = last.as_ref() {
            if *h == hash {
                return Ok(Arc::clone(t));
            }
        }
        let template = Arc::new(parse_template(raw.get(), self.chain)?);
        *last = Some((hash, Arc::clone(&template)));
        Ok(template)
    }

    /// submitblock: `null` means accepted, a string is the rejection reason.
    pub fn submit(&self, block_hex: &str) -> Result<SubmitOutcome, RpcError> {
        let answer: Option<Value> = self.rpc.call("submitblock", json!([block_hex]))?;
        Ok(match answer {
            None => SubmitOutcome::Accepted,
            // bcoin prefixes its reasons: "rejected: duplicate".
            Some(Value::String(reason)) => SubmitOutcome::Rejected(clip(
                reason.strip_prefix("rejected: ").unwrap_or(&reason),
                200,
            )),
            Some(other) => SubmitOutcome::Rejected(clip(&other.to_string(), 200)),
        })
    }

    /// getblockchaininfo's `chain`: "main", "test", "testnet4", "signet", "regtest".
    pub fn chain(&self) -> Result<String, NodeError> {
        #[derive(serde::Deserialize)]
        struct Info {
            chain: String,
        }
        let info: Info = self.rpc.call("getblockchaininfo", json!([]))?;
        Ok(clip(&info.chain, 40))
    }

    /// getblockhash 0: the genesis block's hash, which names the chain.
    pub fn genesis(&self) -> Result<String, RpcError> {
        let hash: String = self.rpc.call("getblockhash", json!([0]))?;
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(hash.to_ascii_lowercase())
        } else {
            Err(self
                .rpc
                .malformed("getblockhash", &format!("not a block hash: {hash:?}")))
        }
    }

    /// getblockheader's `confirmations` for `hash`: 1 or more on the active chain, -1 on a side
    /// chain (Bitcoin Core).
    pub fn confirmations(&self, hash: &str) -> Result<i64, RpcError> {
        #[derive(serde::Deserialize)]
        struct HeaderInfo {
            confirmations: i64,
        }
        let h: HeaderInfo = self.rpc.call("getblockheader", json!([hash, true]))?;
        Ok(h.confirmations)
    }

    /// True when the node knows the block `hash` (getblockheader answers; -5 means unknown).
    pub fn knows_block(&self, hash: &str) -> Result<bool, RpcError> {
        match self
            .rpc
            .call::<serde::de::IgnoredAny>("getblockheader", json!([hash, true]))
        {
            Ok(_) => Ok(true),
            Err(RpcError::Rpc { code: -5, .. }) => Ok(false),
            // bcoin answers "Block not found." with another code.
            Err(RpcError::Rpc { message, .. })
                if message.to_ascii_lowercase().contains("not found") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// getblockcount.
    pub fn block_count(&self) -> Result<u64, RpcError> {
        self.rpc.call("getblockcount", json!([]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_request_asks_only_for_what_hashrig_implements() {
        use bitcoin::Network;
        let r = template_request(Chain::Bitcoin(Network::Regtest), None);
        assert_eq!(r["rules"], json!(["segwit"]));
        // btcd leaves out coinbasevalue when coinbasetxn is asked for without it.
        assert_eq!(r["capabilities"], json!(["coinbasevalue", "longpoll"]));
        assert!(r.get("longpollid").is_none());
        // Bitcoin Core answers -8 on signet without the signet rule.
        let r = template_request(Chain::Bitcoin(Network::Signet), Some("tip-1"));
        assert_eq!(r["rules"], json!(["segwit", "signet"]));
        assert_eq!(r["longpollid"], "tip-1");
        // Litecoin Core answers -8 without mweb: "getblocktemplate must be called with the
        // segwit & mweb rule sets (call with {"rules": ["mweb", "segwit"]})".
        let r = template_request(Chain::Litecoin(LitecoinNet::Regtest), None);
        assert_eq!(r["rules"], json!(["mweb", "segwit"]));
    }
}
