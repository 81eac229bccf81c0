//! Which chain a node is on, told by its genesis block (getblockhash 0): Bitcoin's networks or
//! Litecoin's. Chain names cannot tell them: Litecoin Core names its chains "main", "test" and
//! "regtest" as Bitcoin Core does, btcd says "mainnet" and "testnet3", and a node of any other
//! coin built on Bitcoin's code (Dogecoin, Bitcoin Cash, ...) says "main" too. The chain gives
//! the proof of work, the easiest target a template may carry, the template rules and the
//! payout address formats, so that a Litecoin node and a Bitcoin node cannot be mixed up, and a
//! chain hashrig does not know is refused by name.

use bitcoin::address::NetworkUnchecked;
use bitcoin::hashes::Hash as _;
use bitcoin::{Address, Network, ScriptBuf};

use crate::algo::Algo;
use crate::chain::{CompactTarget, Target};

/// A chain hashrig can mine on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    Bitcoin(Network),
    Litecoin(LitecoinNet),
}

/// Litecoin's networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LitecoinNet {
    Main,
    Testnet4,
    Regtest,
}

impl LitecoinNet {
    /// Genesis block hashes (display order), from Litecoin Core's chainparams.
    const GENESIS: [(LitecoinNet, &'static str); 3] = [
        (
            LitecoinNet::Main,
            "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
        ),
        (
            LitecoinNet::Testnet4,
            "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0",
        ),
        (
            LitecoinNet::Regtest,
            "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",
        ),
    ];

    /// (P2PKH version, P2SH versions, bech32 prefix).
    fn address_params(self) -> (u8, &'static [u8], &'static str) {
        match self {
            // P2SH: 'M' (50) and the old '3' (5), which Litecoin Core still decodes.
            LitecoinNet::Main => (48, &[50, 5], "ltc"),
            LitecoinNet::Testnet4 => (111, &[58, 196], "tltc"),
            LitecoinNet::Regtest => (111, &[58, 196], "rltc"),
        }
    }
}

/// The node's chain could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the node's chain {name:?} has genesis block {genesis}, which is not one of Bitcoin's (main, test, testnet4, signet, regtest) or Litecoin's (main, testnet4, regtest) networks: hashrig mines only those")]
    Unknown { name: String, genesis: String },
    #[error("--payout {address:?} is not an address of the node's network ({chain}), it is for another network or none: {reason}")]
    Payout {
        address: String,
        chain: String,
        reason: String,
    },
}

impl Chain {
    /// The chain of a node whose block 0 is `genesis` (display hex); `name` (getblockchaininfo's
    /// `chain`) is only for the error. Every signet shares one genesis block.
    pub fn identify(name: &str, genesis: &str) -> Result<Chain, ChainError> {
        let genesis = genesis.trim().to_ascii_lowercase();
        if let Some((net, _)) = LitecoinNet::GENESIS.iter().find(|(_, g)| *g == genesis) {
            return Ok(Chain::Litecoin(*net));
        }
        [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ]
        .into_iter()
        .find(|&n| {
            bitcoin::constants::genesis_block(n)
                .block_hash()
                .to_string()
                == genesis
        })
        .map(Chain::Bitcoin)
        .ok_or_else(|| ChainError::Unknown {
            name: crate::ui::output::clip(name, 40),
            genesis: crate::ui::output::clip(&genesis, 64),
        })
    }

    pub fn algo(self) -> Algo {
        match self {
            Chain::Bitcoin(_) => Algo::Sha256d,
            Chain::Litecoin(_) => Algo::Scrypt,
        }
    }

    /// "bitcoin regtest", "litecoin main".
    pub fn name(self) -> String {
        match self {
            Chain::Bitcoin(n) => format!("bitcoin {}", n.to_core_arg()),
            Chain::Litecoin(LitecoinNet::Main) => "litecoin main".into(),
            Chain::Litecoin(LitecoinNet::Testnet4) => "litecoin testnet4".into(),
            Chain::Litecoin(LitecoinNet::Regtest) => "litecoin regtest".into(),
        }
    }

    /// The easiest target a block may carry.
    pub fn pow_limit(self) -> Target {
        match self {
            Chain::Bitcoin(n) => {
                Target::from_compact(n.params().max_attainable_target.to_compact_lossy())
            }
            Chain::Litecoin(LitecoinNet::Regtest) => {
                Target::from_compact(CompactTarget::from_consensus(0x207f_ffff))
            }
            // 0x00000fffff...: bits 1e0fffff.
            Chain::Litecoin(_) => Target::from_compact(CompactTarget::from_consensus(0x1e0f_ffff)),
        }
    }

    /// True on Bitcoin's signet (its templates need the signet rule).
    pub fn signet(self) -> bool {
        self == Chain::Bitcoin(Network::Signet)
    }

    /// True on Litecoin (its templates need the mweb rule and carry the MWEB block).
    pub fn litecoin(self) -> bool {
        matches!(self, Chain::Litecoin(_))
    }

    /// The output script paying `address` on this chain.
    pub fn payout_script(self, address: &str) -> Result<ScriptBuf, ChainError> {
        let fail = |reason: String| ChainError::Payout {
            address: crate::ui::output::clip(address, 100).to_string(),
            chain: self.name(),
            reason,
        };
        match self {
            Chain::Bitcoin(network) => address
                .parse::<Address<NetworkUnchecked>>()
                .map_err(|e| fail(e.to_string()))?
                .require_network(network)
                .map(|a| a.script_pubkey())
                .map_err(|e| fail(e.to_string())),
            Chain::Litecoin(net) => litecoin_script(net, address).map_err(|e| fail(e.to_string())),
        }
    }
}

/// Why a text is not a Litecoin address of a network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LitecoinAddressError {
    #[error("an MWEB address cannot receive a coinbase: use a segwit or legacy one")]
    Mweb,
    #[error("not a segwit address: {0}")]
    Bech32(String),
    #[error("neither {hrp}1... bech32 nor base58: {reason}")]
    Base58 { hrp: &'static str, reason: String },
    #[error("{0} bytes after its version, not 20")]
    HashLength(usize),
    #[error("version byte {0} is not this network's")]
    Version(u8),
}

/// The output script of a Litecoin address: bech32 segwit (`ltc1`, `tltc1`, `rltc1`) or
/// base58 P2PKH/P2SH. MWEB addresses cannot receive a coinbase.
fn litecoin_script(net: LitecoinNet, address: &str) -> Result<ScriptBuf, LitecoinAddressError> {
    use bitcoin::bech32;
    use LitecoinAddressError as E;
    let (p2pkh, p2sh, hrp) = net.address_params();
    let address = address.trim();
    let lower = address.to_ascii_lowercase();
    if lower.starts_with("ltcmweb1") || lower.starts_with("tmweb1") {
        return Err(E::Mweb);
    }
    if lower.starts_with(&format!("{hrp}1")) {
        let bad = |e: &dyn std::fmt::Display| E::Bech32(e.to_string());
        let (_, version, program) = bech32::segwit::decode(address).map_err(|e| bad(&e))?;
        let version = bitcoin::WitnessVersion::try_from(version.to_u8()).map_err(|e| bad(&e))?;
        let program = bitcoin::WitnessProgram::new(version, &program).map_err(|e| bad(&e))?;
        return Ok(ScriptBuf::new_witness_program(&program));
    }
    let data = bitcoin::base58::decode_check(address).map_err(|e| E::Base58 {
        hrp,
        reason: e.to_string(),
    })?;
    let hash: [u8; 20] = data
        .get(1..)
        .and_then(|h| h.try_into().ok())
        .ok_or(E::HashLength(data.len().saturating_sub(1)))?;
    match data[0] {
        v if v == p2pkh => Ok(ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(
            hash,
        ))),
        v if p2sh.contains(&v) => Ok(ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(
            hash,
        ))),
        v => Err(E::Version(v)),
    }
}

/// Ok when `address` could be an address of some chain hashrig mines (it is checked against
/// the node's chain once that answers); else why it is not a Bitcoin address.
pub fn plausible_address(address: &str) -> Result<(), bitcoin::address::ParseError> {
    if LitecoinNet::GENESIS
        .iter()
        .any(|(net, _)| litecoin_script(*net, address).is_ok())
    {
        return Ok(());
    }
    address.parse::<Address<NetworkUnchecked>>().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_are_told_apart_by_genesis() {
        let ltc = Chain::identify(
            "regtest",
            "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",
        )
        .unwrap();
        assert_eq!(ltc, Chain::Litecoin(LitecoinNet::Regtest));
        assert_eq!(ltc.algo(), Algo::Scrypt);
        let btc = Chain::identify(
            "regtest",
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        )
        .unwrap();
        assert_eq!(btc, Chain::Bitcoin(Network::Regtest));
        assert_eq!(btc.algo(), Algo::Sha256d);
        assert_eq!(
            Chain::identify(
                "main",
                "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2"
            )
            .unwrap()
            .name(),
            "litecoin main"
        );
        assert!(Chain::identify("nochain", "00").is_err());
    }

    /// Bitcoin's networks by genesis whatever the node calls them (btcd says "mainnet",
    /// "testnet3"); another coin's node that says "main" (Dogecoin) is refused by name.
    #[test]
    fn bitcoin_networks_are_told_by_genesis_not_by_name() {
        for (name, genesis, network) in [
            (
                "main",
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
                Network::Bitcoin,
            ),
            (
                "mainnet",
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
                Network::Bitcoin,
            ),
            (
                "testnet3",
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
                Network::Testnet,
            ),
            (
                "testnet4",
                "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
                Network::Testnet4,
            ),
            (
                "signet",
                "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
                Network::Signet,
            ),
            (
                "regtest",
                "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
                Network::Regtest,
            ),
        ] {
            assert_eq!(
                Chain::identify(name, genesis),
                Ok(Chain::Bitcoin(network)),
                "{name}"
            );
        }
        // Dogecoin Core's mainnet calls itself "main".
        let doge = Chain::identify(
            "main",
            "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691",
        )
        .unwrap_err();
        let line = doge.to_string();
        assert!(
            line.contains("\"main\"")
                && line.contains("1a91e3dace36e2be")
                && line.contains("hashrig mines only those"),
            "{line}"
        );
    }

    #[test]
    fn litecoin_addresses_become_scripts() {
        let reg = Chain::Litecoin(LitecoinNet::Regtest);
        // From a litecoind 0.21.2.1 regtest wallet (getnewaddress).
        let s = reg
            .payout_script("rltc1qqll8n9ucwnlgma4celya53fkjzehj45jl38alj")
            .unwrap();
        assert!(s.is_p2wpkh());
        // Bitcoin's regtest prefix is not Litecoin's.
        assert!(reg
            .payout_script("bcrt1qqll8n9ucwnlgma4celya53fkjzehj45jdkq02k")
            .is_err());
        // Litecoin's mainnet P2PKH of the hash 0x00..: version 48.
        let main = Chain::Litecoin(LitecoinNet::Main);
        let mut v = vec![48u8];
        v.extend([0u8; 20]);
        let legacy = bitcoin::base58::encode_check(&v);
        assert!(legacy.starts_with('L'));
        assert_eq!(
            main.payout_script(&legacy).unwrap(),
            ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([0; 20]))
        );
        assert!(reg.payout_script(&legacy).is_err());
        assert!(main
            .payout_script("ltcmweb1qq0qnhw9ghsr9vl297rxwjld5nvurqv3lcj96l49kglq42m8xjazgy")
            .is_err());
        assert!(plausible_address(&legacy).is_ok());
        assert!(plausible_address("rltc1qqll8n9ucwnlgma4celya53fkjzehj45jl38alj").is_ok());
        assert!(plausible_address("nonsense").is_err());
    }
}
