//! Two real Litecoin nodes for tests: Debian's litecoind 0.21.2.1 regtest (scrypt proof of
//! work, MWEB), on free 127.0.0.1 ports in a temporary directory. getblocktemplate needs a
//! peer, so the node hashrig mines against (`a`, with a wallet) is connected to a second one
//! (`b`). Installed by `.ci/run` (apt-get); stopped by PID when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashrig::source::node::{Auth, RpcClient};
use serde_json::{json, Value};

use super::bcoin::free_port;

pub const USER: &str = "u";
pub const PASSWORD: &str = "p";

/// Where litecoind is (HASHRIG_LITECOIND, else the PATH's), or a skip.
fn litecoind() -> Result<PathBuf, super::Skip> {
    if let Some(path) = std::env::var_os("HASHRIG_LITECOIND") {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("litecoind"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            super::skip("litecoind is not installed (.ci/run installs Debian's litecoind)")
        })
}

/// One litecoind process.
pub struct Litecoind {
    child: Option<Child>,
    pub rpc_port: u16,
    pub p2p_port: u16,
    dir: PathBuf,
}

impl Litecoind {
    fn start(bin: &Path, name: &str, extra: &[String]) -> Litecoind {
        let (rpc_port, p2p_port) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!(
            "hashrig-litecoind-{}-{name}-{rpc_port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args([
            "-regtest".to_string(),
            format!("-datadir={}", dir.display()),
            format!("-rpcuser={USER}"),
            format!("-rpcpassword={PASSWORD}"),
            format!("-rpcport={rpc_port}"),
            format!("-port={p2p_port}"),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            "-dnsseed=0".into(),
            "-printtoconsole=0".into(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("start litecoind");
        let node = Litecoind {
            child: Some(child),
            rpc_port,
            p2p_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.try_rpc("getblockchaininfo", json!([])).is_err() {
            assert!(
                Instant::now() < deadline,
                "litecoind did not come up on port {rpc_port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    fn client(&self, path: &str) -> RpcClient {
        RpcClient::new(
            &format!("{}{path}", self.url()),
            Auth::UserPass {
                user: USER.into(),
                password: PASSWORD.into(),
            },
            Duration::from_secs(120),
        )
        .unwrap()
    }

    pub fn try_rpc(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, hashrig::source::node::RpcError> {
        self.client("").call(method, params)
    }

    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A call to the wallet `w`.
    pub fn wallet(&self, method: &str, params: Value) -> Value {
        self.client("/wallet/w")
            .call(method, params)
            .unwrap_or_else(|e| panic!("wallet {method}: {e}"))
    }

    pub fn height(&self) -> u64 {
        self.rpc("getblockcount", json!([])).as_u64().unwrap()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The pair: `a` (wallet `w`, what hashrig mines against) connected to `b`.
pub struct LitecoinPair {
    pub a: Litecoind,
    pub b: Litecoind,
}

impl LitecoinPair {
    pub fn start() -> Result<LitecoinPair, super::Skip> {
        let bin = litecoind()?;
        let b = Litecoind::start(
            &bin,
            "b",
            &[
                "-listen=1".into(),
                "-bind=127.0.0.1".into(),
                "-disablewallet".into(),
            ],
        );
        let a = Litecoind::start(
            &bin,
            "a",
            &[
                "-listen=0".into(),
                "-fallbackfee=0.0001".into(),
                format!("-connect=127.0.0.1:{}", b.p2p_port),
                "-maxtipage=2000000000".into(),
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while a.rpc("getconnectioncount", json!([])).as_u64() != Some(1) {
            assert!(
                Instant::now() < deadline,
                "the litecoind pair did not connect"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        a.rpc("createwallet", json!(["w"]));
        Ok(LitecoinPair { a, b })
    }

    /// A new address of the wallet (`kind`: "bech32", "legacy" or "mweb").
    pub fn address(&self, kind: &str) -> String {
        self.a
            .wallet("getnewaddress", json!(["", kind]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `n` blocks mined by the node itself to the wallet.
    pub fn generate(&self, n: u64) {
        let to = self.address("bech32");
        self.a.wallet("generatetoaddress", json!([n, to]));
    }
}
