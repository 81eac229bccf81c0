//! The JD client's connection to a JDS message by message, against scripted JDS answers
//! built with the SRI message types, without a socket.

use bitcoin::consensus::encode;
use stratum_core::binary_sv2::{B0255Owned, B064KOwned, Seq064KOwned, Str0255Owned};
use stratum_core::common_messages_sv2::{SetupConnectionErrorOwned, SetupConnectionSuccess};
use stratum_core::job_declaration_sv2::{
    AllocateMiningJobTokenSuccessOwned, DeclareMiningJobErrorOwned, DeclareMiningJobSuccessOwned,
    ProvideMissingTransactionsOwned,
};

use super::*;
use crate::source::stratum::v2::declare::tests::{pool_outputs, spend, template};
use crate::source::stratum::v2::wire::decode;

const FULL: usize = 16;
const SECOND: Duration = Duration::from_secs(1);

fn config() -> JdConfig {
    JdConfig {
        host: "127.0.0.1".into(),
        port: 34264,
        user: "hashrig.jd".into(),
        answer_timeout: Duration::from_secs(10),
    }
}

fn jd(m: JobDeclarationOwned) -> Result<Frame, FrameError> {
    Ok(Frame::JobDeclaration(m))
}

fn setup_success() -> Result<Frame, FrameError> {
    Ok(Frame::Common(CommonMessagesOwned::SetupConnectionSuccess(
        SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        },
    )))
}

fn token_success(request_id: u32, token: &[u8]) -> Result<Frame, FrameError> {
    jd(JobDeclarationOwned::AllocateMiningJobTokenSuccess(
        AllocateMiningJobTokenSuccessOwned {
            request_id,
            mining_job_token: B0255Owned::new(token.to_vec()).unwrap(),
            coinbase_outputs: B064KOwned::new(encode::serialize(&vec![bitcoin::TxOut {
                value: bitcoin::Amount::ZERO,
                script_pubkey: pool_outputs().payout_script().to_owned(),
            }]))
            .unwrap(),
        },
    ))
}

fn declare_success(request_id: u32, token: &[u8]) -> Result<Frame, FrameError> {
    jd(JobDeclarationOwned::DeclareMiningJobSuccess(
        DeclareMiningJobSuccessOwned {
            request_id,
            new_mining_job_token: B0255Owned::new(token.to_vec()).unwrap(),
        },
    ))
}

fn declare_error(request_id: u32, code: &str) -> Result<Frame, FrameError> {
    jd(JobDeclarationOwned::DeclareMiningJobError(
        DeclareMiningJobErrorOwned {
            request_id,
            error_code: Str0255Owned::new(code.as_bytes().to_vec()).unwrap(),
            error_details: B064KOwned::new(b"details".to_vec()).unwrap(),
        },
    ))
}

/// ProvideMissingTransactions for declaration `request_id`.
fn missing_request(request_id: u32, positions: Vec<u16>) -> Result<Frame, FrameError> {
    jd(JobDeclarationOwned::ProvideMissingTransactions(
        ProvideMissingTransactionsOwned {
            request_id,
            unknown_tx_position_list: Seq064KOwned::new(positions).unwrap(),
        },
    ))
}

fn sent(actions: &[JdAction]) -> Vec<JobDeclarationOwned> {
    actions
        .iter()
        .filter_map(|a| match a {
            JdAction::Send(m) => match &**m {
                AnyMessageOwned::JobDeclaration(m) => Some(m.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn down(actions: &[JdAction]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        JdAction::Down(why) => Some(why.clone()),
        _ => None,
    })
}

/// A session set up, holding one token ("t1", request 1), with a token request (2) out.
fn ready(now: Instant) -> JdSession {
    let mut s = JdSession::new(config());
    s.connected(now);
    let a = s.take_actions();
    match &a[..] {
        [JdAction::Send(m)] => match &**m {
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(c)) => {
                assert_eq!(c.protocol, Protocol::JobDeclarationProtocol);
                assert_eq!(c.flags, DECLARE_TX_DATA);
                assert_eq!(c.endpoint_port, 34264);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    s.frame(setup_success(), now);
    let a = sent(&s.take_actions());
    assert!(
        matches!(&a[..], [JobDeclarationOwned::AllocateMiningJobToken(t)] if t.request_id == 1 && t.user_identifier.as_bytes() == b"hashrig.jd"),
        "{a:?}"
    );
    s.frame(token_success(1, b"t1"), now);
    // One token held is enough: no new request until it is used.
    assert!(sent(&s.take_actions()).is_empty());
    assert_eq!(s.phase(), JdPhase::Ready);
    s
}

#[test]
fn a_template_is_declared_with_the_token_held_and_a_new_one_is_asked_for() {
    let now = Instant::now();
    let mut s = ready(now);
    let txs = vec![spend(1, 22), spend(2, 30)];
    s.template(template(txs.clone()), FULL, now);
    let a = sent(&s.take_actions());
    let [JobDeclarationOwned::DeclareMiningJob(d), JobDeclarationOwned::AllocateMiningJobToken(t)] =
        &a[..]
    else {
        panic!("{a:?}")
    };
    assert_eq!(d.mining_job_token.as_bytes(), b"t1");
    assert_eq!(d.wtxid_list.len(), 2);
    assert_eq!(t.request_id, 3);
    assert_eq!(s.pending(), 1);
    // The JDS lacks the second transaction.
    s.frame(missing_request(d.request_id, vec![1]), now);
    let a = sent(&s.take_actions());
    let [JobDeclarationOwned::ProvideMissingTransactionsSuccess(p)] = &a[..] else {
        panic!("{a:?}")
    };
    assert_eq!(p.request_id, d.request_id);
    let tx: bitcoin::Transaction =
        encode::deserialize(p.transaction_list.iter().next().unwrap().as_bytes()).unwrap();
    assert_eq!(tx, txs[1]);
    assert_eq!(s.counts().provided, 1);
    s.frame(declare_success(d.request_id, b"active"), now);
    let a = s.take_actions();
    let [JdAction::Accepted { declared, token }] = &a[..] else {
        panic!("{a:?}")
    };
    assert_eq!(token, b"active");
    assert_eq!(declared.template.height, 1234);
    assert_eq!(declared.full_extranonce_size, FULL);
    assert_eq!(s.counts().declared, 1);
    assert_eq!(s.counts().accepted, 1);
    assert_eq!(s.pending(), 0);
}

#[test]
fn a_template_before_the_token_waits_for_it_and_only_the_newest_is_declared() {
    let now = Instant::now();
    let mut s = JdSession::new(config());
    s.connected(now);
    s.template(template(vec![spend(1, 22)]), FULL, now);
    s.frame(setup_success(), now);
    let a = sent(&s.take_actions());
    assert!(
        matches!(&a[..], [JobDeclarationOwned::AllocateMiningJobToken(_)]),
        "{a:?}"
    );
    let newer = Arc::new(Template {
        height: 1235,
        ..(*template(vec![spend(2, 22)])).clone()
    });
    s.template(newer, FULL, now);
    assert!(sent(&s.take_actions()).is_empty());
    s.frame(token_success(1, b"t1"), now);
    let a = sent(&s.take_actions());
    let Some(JobDeclarationOwned::DeclareMiningJob(d)) = a.first() else {
        panic!("{a:?}")
    };
    // The height is in the coinbase prefix (BIP34: 1235 = 0x04d3).
    assert!(d
        .coinbase_tx_prefix
        .as_bytes()
        .windows(3)
        .any(|w| w == [2, 0xd3, 0x04]));
    assert_eq!(s.counts().declared, 1);
}

#[test]
fn stale_chain_tip_is_retried_and_invalid_job_falls_back() {
    let now = Instant::now();
    let mut s = ready(now);
    s.template(template(vec![spend(1, 22)]), FULL, now);
    let a = sent(&s.take_actions());
    let Some(JobDeclarationOwned::DeclareMiningJob(d)) = a.first() else {
        panic!("{a:?}")
    };
    s.frame(declare_error(d.request_id, "stale-chain-tip"), now);
    let a = s.take_actions();
    assert!(
        a.iter().any(|x| matches!(x, JdAction::Refused { code, retry: true, .. } if code == "stale-chain-tip")),
        "{a:?}"
    );
    assert!(a.iter().any(|x| matches!(x, JdAction::Log { warn: true, text } if text.contains("stale-chain-tip: details"))));
    assert_eq!(s.phase(), JdPhase::Ready);
    // The next template goes out with the token asked for meanwhile.
    s.frame(token_success(3, b"t2"), now);
    s.template(template(vec![spend(3, 22)]), FULL, now);
    let a = sent(&s.take_actions());
    let Some(JobDeclarationOwned::DeclareMiningJob(d2)) = a.first() else {
        panic!("{a:?}")
    };
    assert_eq!(d2.mining_job_token.as_bytes(), b"t2");
    s.frame(declare_error(d2.request_id, "invalid-job"), now);
    let a = s.take_actions();
    assert!(
        a.iter().any(
            |x| matches!(x, JdAction::Refused { code, retry: false, .. } if code == "invalid-job")
        ),
        "{a:?}"
    );
    assert_eq!(s.counts().refused.get("stale-chain-tip"), Some(&1));
    assert_eq!(s.counts().refused.get("invalid-job"), Some(&1));
}

#[test]
fn a_silent_jds_is_down_after_the_answer_timeout() {
    let now = Instant::now();
    // SetupConnection unanswered.
    let mut s = JdSession::new(config());
    s.connected(now);
    s.take_actions();
    s.tick(now + 5 * SECOND);
    assert!(down(&s.take_actions()).is_none());
    s.tick(now + 11 * SECOND);
    assert_eq!(
        down(&s.take_actions()).as_deref(),
        Some("the JDS did not answer SetupConnection")
    );
    assert_eq!(s.phase(), JdPhase::Down);
    // A declaration unanswered.
    let mut s = ready(now);
    s.template(template(vec![spend(1, 22)]), FULL, now + SECOND);
    s.take_actions();
    s.frame(token_success(3, b"t2"), now + SECOND);
    s.tick(now + 12 * SECOND);
    assert_eq!(
        down(&s.take_actions()).as_deref(),
        Some("the JDS did not answer a DeclareMiningJob")
    );
    // Once down, templates are not declared.
    s.template(template(vec![spend(2, 22)]), FULL, now + 13 * SECOND);
    assert!(s.take_actions().is_empty());
}

#[test]
fn hostile_answers_end_the_connection_with_a_reason() {
    let now = Instant::now();
    // A token nobody asked for.
    let mut s = ready(now);
    s.frame(token_success(99, b"x"), now);
    assert!(down(&s.take_actions())
        .unwrap()
        .contains("request 99 that was not made"));
    // Outputs that pay someone else.
    let mut s = JdSession::new(config());
    s.connected(now);
    s.frame(setup_success(), now);
    s.take_actions();
    let paid = vec![bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(1),
        script_pubkey: pool_outputs().payout_script().to_owned(),
    }];
    s.frame(
        jd(JobDeclarationOwned::AllocateMiningJobTokenSuccess(
            AllocateMiningJobTokenSuccessOwned {
                request_id: 1,
                mining_job_token: B0255Owned::new(b"t".to_vec()).unwrap(),
                coinbase_outputs: B064KOwned::new(encode::serialize(&paid)).unwrap(),
            },
        )),
        now,
    );
    assert!(down(&s.take_actions()).unwrap().contains("carries 1 sats"));
    // A transaction position past the list.
    let mut s = ready(now);
    s.template(template(vec![spend(1, 22)]), FULL, now);
    let a = sent(&s.take_actions());
    let Some(JobDeclarationOwned::DeclareMiningJob(d)) = a.first() else {
        panic!("{a:?}")
    };
    s.frame(missing_request(d.request_id, vec![0, 7]), now);
    assert!(down(&s.take_actions())
        .unwrap()
        .contains("transaction 7 of a job with 1"));
    // The same transaction asked for twice (a JDS could make the answer 65535 blocks long).
    let mut s = ready(now);
    s.template(template(vec![spend(1, 22)]), FULL, now);
    let a = sent(&s.take_actions());
    let Some(JobDeclarationOwned::DeclareMiningJob(d)) = a.first() else {
        panic!("{a:?}")
    };
    s.frame(missing_request(d.request_id, vec![0; 1000]), now);
    assert!(down(&s.take_actions())
        .unwrap()
        .contains("transaction 0 twice"));
    // Refused setup.
    let mut s = JdSession::new(config());
    s.connected(now);
    s.frame(
        Ok(Frame::Common(CommonMessagesOwned::SetupConnectionError(
            SetupConnectionErrorOwned {
                flags: 0,
                error_code: Str0255Owned::new(b"unsupported-protocol".to_vec()).unwrap(),
            },
        ))),
        now,
    );
    assert_eq!(
        down(&s.take_actions()).as_deref(),
        Some("the JDS refused SetupConnection: unsupported-protocol")
    );
    // Answers to declarations that are not pending are logged, not acted on.
    let mut s = ready(now);
    s.frame(declare_success(42, b"x"), now);
    s.frame(declare_error(43, "invalid-job"), now);
    let a = s.take_actions();
    assert!(down(&a).is_none());
    assert!(!a
        .iter()
        .any(|x| matches!(x, JdAction::Accepted { .. } | JdAction::Refused { .. })));
}

#[test]
fn job_declaration_frames_decode_from_the_wire() {
    // What a JDS writes (the SRI encoding of the message) decodes to the same message.
    let m = DeclareMiningJobSuccessOwned {
        request_id: 7,
        new_mining_job_token: B0255Owned::new(vec![1, 2, 3]).unwrap(),
    };
    let mut payload = stratum_core::binary_sv2::to_bytes(m).unwrap();
    match decode(0, 0x58, &mut payload) {
        Ok(Frame::JobDeclaration(JobDeclarationOwned::DeclareMiningJobSuccess(s))) => {
            assert_eq!(s.request_id, 7);
            assert_eq!(s.new_mining_job_token.as_bytes(), &[1, 2, 3]);
        }
        other => panic!("{other:?}"),
    }
    // Garbage of a job declaration type is an error naming it, not a panic.
    let mut junk = [0xffu8; 3];
    assert!(decode(0, 0x58, &mut junk)
        .unwrap_err()
        .0
        .contains("job declaration"));
}
