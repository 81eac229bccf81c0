//! Writes the seed corpora that need encoding (run by scripts/fuzz-seeds.sh): Stratum V2
//! frames made with the SRI crates exactly as pool_sv2 and SRI's proxies send them, Stratum
//! v1 sessions in translator_sv2's and public pools' forms, API requests, journal lines and
//! the config example. Templates come from bcoin (the script asks a running node).

use std::path::Path;

use stratum_core::binary_sv2::{
    B032Owned, B064KOwned, Seq0255Owned, Str0255Owned, Sv2OptionOwned, U256Owned,
};
use stratum_core::common_messages_sv2::{ReconnectOwned, SetupConnectionSuccess};
use stratum_core::framing_sv2::framing::{EncodableFrame, MessageFrame};
use stratum_core::mining_sv2::*;
use stratum_core::parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};

fn frame(m: AnyMessageOwned) -> Vec<u8> {
    let f: MessageFrame<AnyMessageOwned> = m.try_into().expect("a frame");
    let mut bytes = vec![0u8; f.encoded_length()];
    f.encode_into(&mut bytes).expect("encoded");
    // Header: extension type (2, LE), message type (1), length (3, LE); then the payload.
    let (header, payload) = bytes.split_at(6);
    let mut out = vec![header[0], header[1], header[2]];
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn mining(m: MiningOwned) -> Vec<u8> {
    frame(AnyMessageOwned::Mining(m))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn v2(dir: &Path) {
    let setup = frame(AnyMessageOwned::Common(
        CommonMessagesOwned::SetupConnectionSuccess(SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        }),
    ));
    let mut target = [0xffu8; 32];
    target[30] = 0;
    target[31] = 0;
    let open_standard = mining(MiningOwned::OpenStandardMiningChannelSuccess(
        OpenStandardMiningChannelSuccessOwned {
            request_id: 1,
            channel_id: 1,
            target: U256Owned::from(target),
            extranonce_prefix: B032Owned::new(vec![0, 0, 0, 1]).unwrap(),
            group_channel_id: 2,
        },
    ));
    let open_extended = mining(MiningOwned::OpenExtendedMiningChannelSuccess(
        OpenExtendedMiningChannelSuccessOwned {
            request_id: 1,
            channel_id: 1,
            target: U256Owned::from(target),
            extranonce_size: 4,
            extranonce_prefix: B032Owned::new(vec![0, 0, 0, 0, 0, 0, 0, 1]).unwrap(),
            group_channel_id: 2,
        },
    ));
    let job = mining(MiningOwned::NewMiningJob(NewMiningJobOwned {
        channel_id: 1,
        job_id: 1,
        min_ntime: Sv2OptionOwned::new(None),
        version: 0x2000_0000,
        merkle_root: U256Owned::from([0x42; 32]),
    }));
    // pool_sv2's extended job: a segwit coinbase split around the extranonce.
    let prefix = hex("020000000001010000000000000000000000000000000000000000000000000000000000000000ffffffff2503e40100");
    let suffix = hex("ffffffff0200f2052a01000000160014751e76e8199196d454941c45d1b3a323f1433bd60000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf90120000000000000000000000000000000000000000000000000000000000000000000000000");
    let ext_job = mining(MiningOwned::NewExtendedMiningJob(
        NewExtendedMiningJobOwned {
            channel_id: 2,
            job_id: 1,
            min_ntime: Sv2OptionOwned::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Seq0255Owned::new(vec![U256Owned::from([7u8; 32])]).unwrap(),
            coinbase_tx_prefix: B064KOwned::try_from(prefix).unwrap(),
            coinbase_tx_suffix: B064KOwned::try_from(suffix).unwrap(),
        },
    ));
    let prev = |channel_id| {
        mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id,
            job_id: 1,
            prev_hash: U256Owned::from([0x11; 32]),
            min_ntime: 1_700_000_000,
            nbits: 0x207f_ffff,
        }))
    };
    let set_target = mining(MiningOwned::SetTarget(SetTargetOwned {
        channel_id: 1,
        maximum_target: U256Owned::from([0xff; 32]),
    }));
    let ack = mining(MiningOwned::SubmitSharesSuccess(SubmitSharesSuccessOwned {
        channel_id: 1,
        last_sequence_number: 3,
        new_submits_accepted_count: 4,
        new_shares_sum: 4,
    }));
    let refused = mining(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
        channel_id: 1,
        sequence_number: 0,
        error_code: Str0255Owned::new(b"difficulty-too-low".to_vec()).unwrap(),
    }));
    let prefix_change = mining(MiningOwned::SetExtranoncePrefix(SetExtranoncePrefixOwned {
        channel_id: 1,
        extranonce_prefix: B032Owned::new(vec![9, 9]).unwrap(),
    }));
    let close = mining(MiningOwned::CloseChannel(CloseChannelOwned {
        channel_id: 1,
        reason_code: Str0255Owned::new(b"maintenance".to_vec()).unwrap(),
    }));
    let reconnect = frame(AnyMessageOwned::Common(CommonMessagesOwned::Reconnect(
        ReconnectOwned {
            new_host: Str0255Owned::new(b"127.0.0.1".to_vec()).unwrap(),
            new_port: 34255,
        },
    )));
    // First byte: bit 0 extended, bit 1 = 0: SetupConnection.Success sent by the harness.
    let cat = |first: u8, frames: &[&[u8]]| {
        let mut v = vec![first];
        for f in frames {
            v.extend_from_slice(f);
        }
        v
    };
    write(
        dir,
        "standard",
        &cat(0, &[&open_standard, &job, &prev(1), &ack, &refused]),
    );
    write(
        dir,
        "standard-target",
        &cat(
            0,
            &[
                &open_standard,
                &job,
                &prev(1),
                &set_target,
                &prefix_change,
                &ack,
                &close,
            ],
        ),
    );
    write(
        dir,
        "extended",
        &cat(1, &[&open_extended, &ext_job, &prev(2), &ack]),
    );
    write(
        dir,
        "group",
        &cat(0, &[&open_standard, &ext_job, &prev(2), &ack, &reconnect]),
    );
    write(
        dir,
        "setup",
        &cat(2, &[&setup, &open_standard, &job, &prev(1)]),
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn v1(dir: &Path) {
    // translator_sv2 0.6.0's answers (16-byte extranonce1, min-bit-count as a hex string),
    // then a public pool's notify (slush, block 201,xxx era), difficulty, extranonce, requests.
    let translator = [
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":"10"},"error":null}"#,
        r#"{"id":2,"result":[[["mining.set_difficulty","ae6812eb4cd7735a302a8a9dd95cf71f"],["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"000000000000000000000000000000a1",4],"error":null}"#,
        r#"{"id":3,"result":true,"error":null}"#,
        r#"{"id":null,"method":"mining.set_difficulty","params":[0.0001]}"#,
        r#"{"id":null,"method":"mining.notify","params":["1","d5aa66d0a4d0a15c32c5c0bd0e81e4bb08c9cdeb0c8e93b9cc3000000000000","02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2503e80100","ffffffff0200f2052a010000001600146c1f7a8d4f0b7d26d1b39e9b6c7b7c5e61d0b8450000000000000000266a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf900000000",[],"20000000","207fffff","656d0a8b",true]}"#,
        r#"{"id":4,"result":true,"error":null}"#,
        r#"{"id":5,"result":null,"error":[23,"Low difficulty share",null]}"#,
    ];
    let public = [
        r#"{"id":2,"result":[["mining.notify","b2"],"08000002",4],"error":null}"#,
        r#"{"id":3,"result":true,"error":null}"#,
        r#"{"id":null,"method":"mining.notify","params":["1f","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",["f28f7a9b5e2e9c6f1d5d7a5c3b2e1f0a9d8c7b6a5f4e3d2c1b0a99887766554433"],"00000002","1c2ac4af","504e86b9",false]}"#,
        r#"{"id":null,"method":"mining.set_extranonce","params":["0900000a",4]}"#,
        r#"{"id":null,"method":"mining.set_version_mask","params":["1fffe000"]}"#,
        r#"{"id":9,"method":"client.get_version","params":[]}"#,
        r#"{"id":10,"method":"mining.ping","params":[]}"#,
        r#"{"id":null,"method":"client.show_message","params":["maintenance at noon"]}"#,
        r#"{"id":null,"method":"client.reconnect","params":["pool.example","3334",5]}"#,
    ];
    write(dir, "translator", translator.join("\n").as_bytes());
    write(dir, "public", public.join("\n").as_bytes());
}

fn api(dir: &Path) {
    for (name, req) in [
        ("summary", "GET /v1/summary HTTP/1.1\r\nHost: 127.0.0.1:4028\r\n\r\n"),
        ("token", "\x01GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\n\r\n"),
        ("pipeline", "GET /v1/pools HTTP/1.1\r\nHost: localhost\r\n\r\nGET /v1/devices HTTP/1.1\r\nHost: localhost\r\n\r\nGET /v1/history HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        ("post", "POST /v1/summary HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"),
        ("chunked", "GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("rebind", "GET /v1/summary HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
        ("http10", "GET /index.html HTTP/1.0\r\n\r\n"),
    ] {
        write(dir, name, req.as_bytes());
    }
}

fn journal(dir: &Path) {
    let blocks: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/testnet3-segwit-blocks.json")).unwrap();
    let b = &blocks["blocks"][0];
    let line = serde_json::json!({
        "height": b["height"], "hash": b["block_hash"],
        "prev": "00000000b428e0bdccda662987a251a62f15ecd534b22ddb96a3399c521a8d1c",
        "chain": "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        "block": b["block_hex"], "found_at": 1764590000u64,
    });
    let old = serde_json::json!({"height": 5, "hash": "00", "block": "00", "found_at": 1});
    write(
        dir,
        "two",
        format!("{line}\n{old}\n{{\"torn\":\n").as_bytes(),
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    v2(&root.join("stratum_v2"));
    v1(&root.join("stratum_v1"));
    api(&root.join("api_request"));
    journal(&root.join("journal"));
}
