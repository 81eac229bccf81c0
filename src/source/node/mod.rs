//! Solo mining work from a node: getblocktemplate in, submitblock out (Bitcoin Core and bcoin).

pub mod rpc;
pub mod template;

use std::time::Duration;

use serde_json::{json, Value};

use crate::chain::block::Template;
pub use rpc::{Auth, RpcClient, RpcError};
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
}

/// How long a long poll may hang before we ask again (Core holds one until the next block).
pub const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(120);

impl Node {
    pub fn new(rpc: RpcClient) -> Self {
        Node {
            rpc,
            longpoll_timeout: LONGPOLL_TIMEOUT,
        }
    }

    /// How long a long poll may hang before it is asked again (some proxies cut idle
    /// connections sooner than the node answers).
    pub fn with_longpoll_timeout(mut self, timeout: Duration) -> Self {
        self.longpoll_timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        self.rpc.url()
    }

    /// getblocktemplate with the segwit rule; with `longpoll_id`, waits until the node has a
    /// newer template (BIP22 long polling). A long poll that outlasts its timeout is normal (a
    /// quiet chain), not a node problem: the template is then asked for again without waiting.
    pub fn template(&self, longpoll_id: Option<&str>) -> Result<Template, NodeError> {
        let mut request = json!({"rules": ["segwit"], "capabilities": ["coinbasetxn", "workid", "coinbase/append", "longpoll"]});
        let rpc = match longpoll_id {
            Some(id) => {
                request["longpollid"] = Value::String(id.to_string());
                self.rpc.with_timeout(self.longpoll_timeout)
            }
            None => self.rpc.clone(),
        };
        let result = match rpc.call("getblocktemplate", json!([request])) {
            Err(RpcError::Timeout { .. }) if longpoll_id.is_some() => {
                tracing::debug!("long poll timed out; asking for the template again");
                self.rpc
                    .call("getblocktemplate", json!([{"rules": ["segwit"]}]))?
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
