//! A node's HTTP answer (status from the first two bytes, then the body) through the JSON-RPC
//! envelope and, when it has a result, the template parser. Invariant: nothing panics, and an
//! error names no more than a clipped piece of the body.
#![no_main]

use std::time::Duration;

use hashrig::source::node::{parse_template, Auth, RpcClient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 200 + u16::from(data[0] % 4) * 100 + u16::from(data[1] % 2);
    let client = RpcClient::new(
        "http://127.0.0.1:1",
        Auth::UserPass {
            user: "u".into(),
            password: "p".into(),
        },
        Duration::from_secs(1),
    )
    .expect("a valid URL");
    match client.answer("getblocktemplate", status, &data[2..]) {
        Ok(raw) => {
            let _ = parse_template(
                raw.get(),
                hashrig::chain::params::Chain::Bitcoin(bitcoin::Network::Regtest),
            );
        }
        Err(e) => assert!(e.to_string().len() < 2000, "an error echoes too much"),
    }
});
