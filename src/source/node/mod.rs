//! Solo mining against a node: getblocktemplate in (BIP22/23, long polling), submitblock out
//! (Bitcoin Core, bcoin, btcd). The source owns a template thread and a submit thread, so a
//! slow node never blocks verification or Ctrl-C; every found block goes through the journal.

pub mod assemble;
pub mod journal;
pub mod rpc;
mod solo;
pub mod template;

use std::time::Duration;

use serde_json::{json, Value};

use crate::chain::block::Template;
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
/// signet also signet, which Bitcoin Core requires there) and the capabilities it uses. Asking
/// for `coinbasetxn` would make btcd leave out `coinbasevalue` (and refuse without
/// `--miningaddr`), so it is not asked for.
pub fn template_request(signet: bool, longpoll_id: Option<&str>) -> Value {
    let mut rules = vec!["segwit"];
    if signet {
        rules.push("signet");
    }
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
    /// The node is on signet (its template request needs the signet rule).
    signet: bool,
}

/// How long a long poll may hang before we ask again (Core holds one until the next block).
pub const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(120);

impl Node {
    pub fn new(rpc: RpcClient) -> Self {
        Node {
            rpc,
            longpoll_timeout: LONGPOLL_TIMEOUT,
            signet: false,
        }
    }

    /// How long a long poll may hang before it is asked again (some proxies cut idle
    /// connections sooner than the node answers).
    pub fn with_longpoll_timeout(mut self, timeout: Duration) -> Self {
        self.longpoll_timeout = timeout;
        self
    }

    /// Asks for templates with the signet rule.
    pub fn on_signet(mut self, signet: bool) -> Self {
        self.signet = signet;
        self
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// getblocktemplate (see [`template_request`]); with `longpoll_id`, waits until the node
    /// has a newer template (BIP22 long polling). A long poll that outlasts its timeout is normal
    /// (a quiet chain), not a node problem: the template is then asked for again at once.
    pub fn template(&self, longpoll_id: Option<&str>) -> Result<Template, NodeError> {
        let rpc = match longpoll_id {
            Some(_) => self.rpc.with_timeout(self.longpoll_timeout),
            None => self.rpc.clone(),
        };
        let request = template_request(self.signet, longpoll_id);
        let result = match rpc.call("getblocktemplate", json!([request])) {
            Err(RpcError::Timeout { .. }) if longpoll_id.is_some() => {
                tracing::debug!("long poll timed out; asking for the template again");
                self.rpc.call(
                    "getblocktemplate",
                    json!([template_request(self.signet, None)]),
                )?
            }
            other => other?,
        };
        Ok(parse_template(&result)?)
    }

    /// submitblock: `null` means accepted, a string is the rejection reason.
    pub fn submit(&self, block_hex: &str) -> Result<SubmitOutcome, RpcError> {
        match self.rpc.call("submitblock", json!([block_hex]))? {
            Value::Null => Ok(SubmitOutcome::Accepted),
            Value::String(reason) => Ok(SubmitOutcome::Rejected(reason)),
            other => Ok(SubmitOutcome::Rejected(other.to_string())),
        }
    }

    /// getblockchaininfo's `chain`: "main", "test", "testnet4", "signet", "regtest".
    pub fn chain(&self) -> Result<String, NodeError> {
        let v = self.rpc.call("getblockchaininfo", json!([]))?;
        v.get("chain")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                NodeError::Rpc(RpcError::Malformed {
                    url: self.rpc.url().to_string(),
                    method: "getblockchaininfo".into(),
                    reason: "no \"chain\" string".into(),
                })
            })
    }

    /// getblockhash 0: the genesis block's hash, which names the chain.
    pub fn genesis(&self) -> Result<String, RpcError> {
        let v = self.rpc.call("getblockhash", json!([0]))?;
        v.as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| RpcError::Malformed {
                url: self.rpc.url().to_string(),
                method: "getblockhash".into(),
                reason: format!("not a block hash: {v}"),
            })
    }

    /// getblockheader's `confirmations` for `hash`: 1 or more on the active chain, -1 on a side
    /// chain (Bitcoin Core).
    pub fn confirmations(&self, hash: &str) -> Result<i64, RpcError> {
        let v = self.rpc.call("getblockheader", json!([hash, true]))?;
        v.get("confirmations")
            .and_then(Value::as_i64)
            .ok_or_else(|| RpcError::Malformed {
                url: self.rpc.url().to_string(),
                method: "getblockheader".into(),
                reason: "no \"confirmations\" number".into(),
            })
    }

    /// True when the node knows the block `hash` (getblockheader answers; -5 means unknown).
    pub fn knows_block(&self, hash: &str) -> Result<bool, RpcError> {
        match self.rpc.call("getblockheader", json!([hash, true])) {
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
        let v = self.rpc.call("getblockcount", json!([]))?;
        v.as_u64().ok_or_else(|| RpcError::Malformed {
            url: self.rpc.url().to_string(),
            method: "getblockcount".into(),
            reason: format!("not a number: {v}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_request_asks_only_for_what_hashrig_implements() {
        let r = template_request(false, None);
        assert_eq!(r["rules"], json!(["segwit"]));
        // btcd leaves out coinbasevalue when coinbasetxn is asked for without it.
        assert_eq!(r["capabilities"], json!(["coinbasevalue", "longpoll"]));
        assert!(r.get("longpollid").is_none());
        // Bitcoin Core answers -8 on signet without the signet rule.
        let r = template_request(true, Some("tip-1"));
        assert_eq!(r["rules"], json!(["segwit", "signet"]));
        assert_eq!(r["longpollid"], "tip-1");
    }
}
