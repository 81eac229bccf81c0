//! The V2 channel message by message and failure by failure, without a socket.

use super::*;
use crate::source::stratum::session::testing::{closed, shares};
use crate::source::stratum::v2::wire::Frame;
use crate::verify::Share;
use stratum_core::binary_sv2::{
    B032Owned, B064KOwned, Seq0255Owned, Str0255Owned, Sv2OptionOwned, U256Owned,
};
use stratum_core::common_messages_sv2::{ReconnectOwned, SetupConnectionSuccess};
use stratum_core::mining_sv2::{
    CloseChannelOwned, NewExtendedMiningJobOwned, NewMiningJobOwned,
    OpenExtendedMiningChannelSuccessOwned, OpenMiningChannelErrorOwned,
    OpenStandardMiningChannelSuccessOwned, SetNewPrevHashOwned, SetTargetOwned,
    SubmitSharesErrorOwned, SubmitSharesSuccessOwned,
};
use stratum_core::parsers_sv2::AnyMessageOwned;

const CHANNEL: u32 = 5;
const BITS: u32 = 0x207f_ffff;
const NTIME: u32 = 1_700_000_000;

fn config(kind: ChannelKind) -> Config {
    Config {
        session: 3,
        pool: 1,
        user: "worker.1".into(),
        kind,
        host: "127.0.0.1".into(),
        port: 34254,
        hash_rate: 1e9,
        answer_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(180),
        update_every: Duration::from_secs(60),
    }
}

fn mining(m: MiningOwned) -> Result<Frame, FrameError> {
    Ok(Frame::Mining(m))
}

fn setup_success() -> Result<Frame, FrameError> {
    Ok(Frame::Common(CommonMessagesOwned::SetupConnectionSuccess(
        SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        },
    )))
}

fn sent(actions: &[Action]) -> Vec<AnyMessageOwned> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Outgoing::V2(m)) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

/// A channel through setup and open, with `target` (every hash meets all-ff).
fn opened(kind: ChannelKind, target: [u8; 32], now: Instant) -> Channel {
    let mut c = Channel::new(config(kind), now);
    c.connected(now);
    c.frame(setup_success(), now);
    let m = match kind {
        ChannelKind::Standard => {
            MiningOwned::OpenStandardMiningChannelSuccess(OpenStandardMiningChannelSuccessOwned {
                request_id: OPEN_REQUEST,
                channel_id: CHANNEL,
                target: U256Owned::from(target),
                extranonce_prefix: B032Owned::new(vec![0, 0, 0, 1]).unwrap(),
                group_channel_id: 9,
            })
        }
        ChannelKind::Extended => {
            MiningOwned::OpenExtendedMiningChannelSuccess(OpenExtendedMiningChannelSuccessOwned {
                request_id: OPEN_REQUEST,
                channel_id: CHANNEL,
                target: U256Owned::from(target),
                extranonce_size: 4,
                extranonce_prefix: B032Owned::new(vec![0xaa, 0xbb]).unwrap(),
                group_channel_id: 9,
            })
        }
        // pool_sv2 gives a custom-work channel a longer prefix and 8 bytes to roll.
        ChannelKind::Custom => {
            MiningOwned::OpenExtendedMiningChannelSuccess(OpenExtendedMiningChannelSuccessOwned {
                request_id: OPEN_REQUEST,
                channel_id: CHANNEL,
                target: U256Owned::from(target),
                extranonce_size: 8,
                extranonce_prefix: B032Owned::new(vec![0, 0, 0, 1, 0, 0, 0, 2]).unwrap(),
                group_channel_id: 0,
            })
        }
    };
    c.frame(mining(m), now);
    assert_eq!(c.phase(), Phase::Ready);
    c.take_actions();
    c
}

fn job(channel_id: u32, id: u32, active: Option<u32>) -> Result<Frame, FrameError> {
    let mut root = [0u8; 32];
    root[..4].copy_from_slice(&id.to_le_bytes());
    mining(MiningOwned::NewMiningJob(NewMiningJobOwned {
        channel_id,
        job_id: id,
        min_ntime: Sv2OptionOwned::new(active),
        version: 0x2000_0000,
        merkle_root: U256Owned::from(root),
    }))
}

fn prev_hash(channel_id: u32, job_id: u32, tag: u8) -> Result<Frame, FrameError> {
    mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
        channel_id,
        job_id,
        prev_hash: U256Owned::from([tag; 32]),
        min_ntime: NTIME,
        nbits: BITS,
    }))
}

fn extended_job(channel_id: u32, id: u32) -> Result<Frame, FrameError> {
    // A coinbase split around its extranonce: version, one input, scriptSig with room.
    let mut prefix = vec![1, 0, 0, 0, 1];
    prefix.extend_from_slice(&[0; 32]);
    prefix.extend_from_slice(&[0xff; 4]);
    // scriptSig: 7 bytes, OP_TRUE then the extranonce (2 bytes of prefix, 4 rolled).
    prefix.extend_from_slice(&[7, 0x51]);
    // Sequence, one output of 0 paying OP_TRUE, lock time.
    let mut suffix = vec![0xff; 4];
    suffix.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51, 0, 0, 0, 0]);
    mining(MiningOwned::NewExtendedMiningJob(
        NewExtendedMiningJobOwned {
            channel_id,
            job_id: id,
            min_ntime: Sv2OptionOwned::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Seq0255Owned::new(vec![U256Owned::from([7u8; 32])]).unwrap(),
            coinbase_tx_prefix: B064KOwned::try_from(prefix).unwrap(),
            coinbase_tx_suffix: B064KOwned::try_from(suffix).unwrap(),
        },
    ))
}

/// A solution of the channel's current work with `nonce` (its hash need not meet anything).
fn solution(c: &Channel, nonce: u32) -> Solution {
    let (work, _) = c.work(false).unwrap();
    let roll = work.roll(1).unwrap();
    let header = work.header(&roll, work.time.now()).with_nonce(nonce);
    Solution {
        work: Arc::new(work),
        roll,
        share: Share {
            header,
            digest: crate::algo::sha256d::reference_digest(header.as_bytes()),
            algo: crate::algo::Algo::Sha256d,
        },
        found_at: Instant::now(),
    }
}

#[test]
fn setup_then_a_standard_channel_with_the_announced_rate() {
    let now = Instant::now();
    let mut c = Channel::new(config(ChannelKind::Standard), now);
    c.connected(now);
    let out = sent(&c.take_actions());
    let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(s)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(s.flags, REQUIRES_VERSION_ROLLING | REQUIRES_STANDARD_JOBS);
    c.frame(setup_success(), now);
    let out = sent(&c.take_actions());
    let AnyMessageOwned::Mining(MiningOwned::OpenStandardMiningChannel(o)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(o.nominal_hash_rate, 1e9);
    assert_eq!(o.request_id, OPEN_REQUEST);
    let c = opened(ChannelKind::Standard, [0xff; 32], now);
    assert!(!c.has_work());
}

#[test]
fn refusals_and_messages_out_of_order_close_the_session() {
    let now = Instant::now();
    let mut c = Channel::new(config(ChannelKind::Standard), now);
    c.frame(setup_success(), now);
    assert!(closed(&c.take_actions()).unwrap().contains("out of order"));
    let mut c = Channel::new(config(ChannelKind::Standard), now);
    c.connected(now);
    c.frame(setup_success(), now);
    c.take_actions();
    c.frame(
        mining(MiningOwned::OpenMiningChannelError(
            OpenMiningChannelErrorOwned {
                request_id: OPEN_REQUEST,
                error_code: Str0255Owned::new(b"unknown-user".to_vec()).unwrap(),
            },
        )),
        now,
    );
    let e = closed(&c.take_actions()).unwrap();
    assert!(
        e.contains("refused the login of \"worker.1\": unknown-user"),
        "{e}"
    );
    let mut c = Channel::new(config(ChannelKind::Standard), now);
    c.connected(now);
    c.frame(setup_success(), now);
    c.frame(
        mining(MiningOwned::OpenStandardMiningChannelSuccess(
            OpenStandardMiningChannelSuccessOwned {
                request_id: 77,
                channel_id: 1,
                target: U256Owned::from([0xff; 32]),
                extranonce_prefix: B032Owned::new(vec![]).unwrap(),
                group_channel_id: 0,
            },
        )),
        now,
    );
    assert!(closed(&c.take_actions())
        .unwrap()
        .contains("request 77, which was not asked for"));
}

#[test]
fn a_future_job_is_mined_once_its_prev_hash_comes() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(CHANNEL, 1, None), now);
    assert!(!c.has_work());
    assert!(c.take_actions().is_empty());
    c.frame(prev_hash(CHANNEL, 1, 0xab), now);
    assert!(matches!(c.take_actions()[..], [Action::Work]));
    assert!(c.take_clean());
    let (work, difficulty) = c.work(true).unwrap();
    assert_eq!(work.prev_hash.to_byte_array(), [0xab; 32]);
    assert_eq!(work.bits.to_consensus(), BITS);
    assert_eq!(work.time.min, NTIME);
    assert_eq!(work.version_mask, VERSION_MASK);
    assert_eq!(work.share_target, Target::from_le_bytes([0xff; 32]));
    assert!(difficulty < 1e-9);
    let MerkleShape::Fixed(root) = work.merkle else {
        panic!("a standard channel's work has a fixed root")
    };
    assert_eq!(root[..4], 1u32.to_le_bytes());
    // An immediately active job replaces it without a new previous hash.
    c.frame(job(CHANNEL, 2, Some(NTIME + 5)), now);
    assert!(matches!(c.take_actions()[..], [Action::Work]));
    assert!(!c.take_clean());
    assert_eq!(c.work(false).unwrap().0.id, "1/2");
}

#[test]
fn messages_for_channels_never_opened_or_unknown_jobs_close_the_session() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(99, 1, None), now);
    let e = closed(&c.take_actions()).unwrap();
    assert!(
        e.contains("channel 99, which was never opened (ours: 5)"),
        "{e}"
    );
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(prev_hash(CHANNEL, 42, 1), now);
    let e = closed(&c.take_actions()).unwrap();
    assert!(e.contains("job 42, which it never sent"), "{e}");
    // The group the channel is in may be addressed.
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(9, 1, None), now);
    c.frame(prev_hash(9, 1, 1), now);
    assert!(c.has_work());
    let mut c = Channel::new(config(ChannelKind::Standard), now);
    c.connected(now);
    c.frame(job(CHANNEL, 1, None), now);
    assert!(closed(&c.take_actions()).unwrap().contains("none yet"));
}

#[test]
fn shares_are_sent_with_sequence_numbers_and_batched_answers_count() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(CHANNEL, 1, None), now);
    c.frame(prev_hash(CHANNEL, 1, 1), now);
    c.take_actions();
    for nonce in 0..3 {
        c.submit(&solution(&c, nonce), false, now);
    }
    let out = sent(&c.take_actions());
    let seqs: Vec<u32> = out
        .iter()
        .map(|m| match m {
            AnyMessageOwned::Mining(MiningOwned::SubmitSharesStandard(s)) => {
                assert_eq!((s.channel_id, s.job_id), (CHANNEL, 1));
                s.sequence_number
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    c.frame(
        mining(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
            channel_id: CHANNEL,
            sequence_number: 1,
            error_code: Str0255Owned::new(b"difficulty-too-low".to_vec()).unwrap(),
        })),
        now,
    );
    c.frame(
        mining(MiningOwned::SubmitSharesSuccess(SubmitSharesSuccessOwned {
            channel_id: CHANNEL,
            last_sequence_number: 2,
            new_submits_accepted_count: 2,
            new_shares_sum: 2,
        })),
        now,
    );
    assert_eq!(
        shares(&c.take_actions()),
        vec![
            ShareResult::Rejected("difficulty-too-low".into()),
            ShareResult::Accepted,
            ShareResult::Accepted
        ]
    );
    assert_eq!(c.pending(), 0);
}

#[test]
fn shares_of_a_replaced_job_or_below_the_target_are_not_sent() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(CHANNEL, 1, None), now);
    c.frame(prev_hash(CHANNEL, 1, 1), now);
    let old = solution(&c, 1);
    c.frame(job(CHANNEL, 2, None), now);
    c.frame(prev_hash(CHANNEL, 2, 2), now);
    c.take_actions();
    c.submit(&old, false, now);
    let actions = c.take_actions();
    assert!(sent(&actions).is_empty());
    assert!(matches!(&shares(&actions)[0], ShareResult::Stale(r) if r.contains("SetNewPrevHash")));
    // A harder target applies at once: the work is published again with it.
    let mut hard = [0u8; 32];
    hard[27] = 1;
    c.frame(
        mining(MiningOwned::SetTarget(SetTargetOwned {
            channel_id: CHANNEL,
            maximum_target: U256Owned::from(hard),
        })),
        now,
    );
    assert!(c.take_actions().iter().any(|a| matches!(a, Action::Work)));
    assert_eq!(
        c.work(false).unwrap().0.share_target,
        Target::from_le_bytes(hard)
    );
}

#[test]
fn reconnect_close_channel_and_undecodable_frames() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(
        Ok(Frame::Common(CommonMessagesOwned::Reconnect(
            ReconnectOwned {
                new_host: Str0255Owned::new(b"10.0.0.1".to_vec()).unwrap(),
                new_port: 3336,
            },
        ))),
        now,
    );
    assert!(matches!(
        &c.take_actions()[0],
        Action::Reconnect { to: Some((Some(h), Some(3336))), .. } if h == "10.0.0.1"
    ));
    c.frame(
        mining(MiningOwned::CloseChannel(CloseChannelOwned {
            channel_id: CHANNEL,
            reason_code: Str0255Owned::new(b"maintenance".to_vec()).unwrap(),
        })),
        now,
    );
    assert_eq!(
        closed(&c.take_actions()).unwrap(),
        "the pool closed the channel: maintenance"
    );
    c.frame(Err(FrameError("message type 0x7e is not...".into())), now);
    assert!(closed(&c.take_actions()).unwrap().contains("0x7e"));
    for _ in 0..100 {
        c.frame(
            Ok(Frame::Extension {
                ext_type: 2,
                msg_type: 1,
            }),
            now,
        );
    }
    let actions = c.take_actions();
    assert!(closed(&actions).is_none());
    assert!(actions.len() <= Throttle::BURST as usize);
}

#[test]
fn timeouts_and_update_channel() {
    let now = Instant::now();
    let mut c = Channel::new(
        Config {
            answer_timeout: Duration::from_secs(1),
            ..config(ChannelKind::Standard)
        },
        now,
    );
    c.connected(now);
    c.take_actions();
    c.tick(now + Duration::from_secs(2), 0);
    assert!(closed(&c.take_actions())
        .unwrap()
        .contains("did not answer SetupConnection within 1 s"));
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.tick(now, 1000);
    // 1 GH/s announced; 10 MH/s measured over a minute.
    c.tick(now + Duration::from_secs(60), 1000 + 600_000_000);
    let actions = c.take_actions();
    let out = sent(&actions);
    let AnyMessageOwned::Mining(MiningOwned::UpdateChannel(u)) = &out[0] else {
        panic!("{actions:?}")
    };
    assert!((u.nominal_hash_rate / 1e7 - 1.0).abs() < 0.01);
    c.tick(now + Duration::from_secs(500), 1000 + 600_000_000);
    assert!(closed(&c.take_actions())
        .unwrap()
        .contains("no new job from the pool for 180 s"));
}

#[test]
fn unacknowledged_shares_are_capped_and_reported_at_close() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Standard, [0xff; 32], now);
    c.frame(job(CHANNEL, 1, None), now);
    c.frame(prev_hash(CHANNEL, 1, 1), now);
    c.take_actions();
    for nonce in 0..(MAX_PENDING as u32 + 5) {
        c.submit(&solution(&c, nonce), false, now);
    }
    assert_eq!(c.pending(), MAX_PENDING);
    assert_eq!(shares(&c.take_actions()).len(), 5);
    c.close("gone");
    assert_eq!(shares(&c.take_actions()).len(), MAX_PENDING);
}

#[test]
fn an_extended_channel_builds_the_coinbase_and_sends_its_extranonce() {
    let now = Instant::now();
    let mut c = opened(ChannelKind::Extended, [0xff; 32], now);
    c.frame(extended_job(CHANNEL, 4), now);
    c.frame(prev_hash(CHANNEL, 4, 3), now);
    c.take_actions();
    let (work, _) = c.work(true).unwrap();
    let MerkleShape::Coinbase {
        extranonce1,
        extranonce2_size,
        branch,
        ..
    } = &work.merkle
    else {
        panic!("an extended channel's work has a coinbase")
    };
    assert_eq!(
        (extranonce1.as_slice(), *extranonce2_size),
        (&[0xaa, 0xbb][..], 4)
    );
    assert_eq!(branch, &vec![[7u8; 32]]);
    let s = solution(&c, 9);
    c.submit(&s, false, now);
    let out = sent(&c.take_actions());
    let AnyMessageOwned::Mining(MiningOwned::SubmitSharesExtended(e)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(e.extranonce.as_bytes(), s.roll.extranonce2.as_slice());
    // Rolling more than 16 bytes is refused at open.
    let mut c = Channel::new(config(ChannelKind::Extended), now);
    c.connected(now);
    c.frame(setup_success(), now);
    c.frame(
        mining(MiningOwned::OpenExtendedMiningChannelSuccess(
            OpenExtendedMiningChannelSuccessOwned {
                request_id: OPEN_REQUEST,
                channel_id: 1,
                target: U256Owned::from([0xff; 32]),
                extranonce_size: 0,
                extranonce_prefix: B032Owned::new(vec![]).unwrap(),
                group_channel_id: 0,
            },
        )),
        now,
    );
    assert!(closed(&c.take_actions())
        .unwrap()
        .contains("0 extranonce bytes"));
}

mod custom {
    //! A custom-work channel (Job Declaration): SetCustomMiningJob out, the pool's answer in.

    use super::*;
    use crate::chain::block::Template;
    use crate::source::stratum::v2::declare::tests::{pool_outputs, spend, template};
    use crate::source::stratum::v2::declare::Declared;
    use stratum_core::binary_sv2::Str0255Owned;
    use stratum_core::mining_sv2::{SetCustomMiningJobErrorOwned, SetCustomMiningJobSuccess};

    fn declared(c: &Channel, t: Arc<Template>) -> Arc<Declared> {
        Arc::new(Declared::new(t, &pool_outputs(), c.full_extranonce_size().unwrap()).unwrap())
    }

    fn custom_sent(actions: &[Action]) -> Vec<SetCustomMiningJobOwned> {
        sent(actions)
            .into_iter()
            .filter_map(|m| match m {
                AnyMessageOwned::Mining(MiningOwned::SetCustomMiningJob(j)) => Some(j),
                _ => None,
            })
            .collect()
    }

    fn success(request_id: u32, job_id: u32) -> Result<Frame, FrameError> {
        mining(MiningOwned::SetCustomMiningJobSuccess(
            SetCustomMiningJobSuccess {
                channel_id: CHANNEL,
                request_id,
                job_id,
            },
        ))
    }

    #[test]
    fn setup_asks_for_work_selection() {
        let now = Instant::now();
        let mut c = Channel::new(config(ChannelKind::Custom), now);
        c.connected(now);
        let m = sent(&c.take_actions());
        match &m[..] {
            [AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(s))] => {
                assert_eq!(s.flags, REQUIRES_WORK_SELECTION | REQUIRES_VERSION_ROLLING)
            }
            other => panic!("{other:?}"),
        }
        c.frame(setup_success(), now);
        let m = sent(&c.take_actions());
        assert!(
            matches!(
                &m[..],
                [AnyMessageOwned::Mining(
                    MiningOwned::OpenExtendedMiningChannel(_)
                )]
            ),
            "{m:?}"
        );
    }

    #[test]
    fn a_custom_job_is_mined_once_the_pool_takes_it() {
        let now = Instant::now();
        let mut c = opened(ChannelKind::Custom, [0xff; 32], now);
        assert_eq!(c.full_extranonce_size(), Some(16));
        let d = declared(&c, template(vec![spend(1, 22), spend(2, 30)]));
        c.set_custom_job(d.clone(), b"active-token", now);
        let jobs = custom_sent(&c.take_actions());
        let [j] = &jobs[..] else { panic!("{jobs:?}") };
        assert_eq!(j.channel_id, CHANNEL);
        assert_eq!(j.token.as_bytes(), b"active-token");
        assert_eq!(j.min_ntime, d.default_min_ntime());
        // Not mined before the pool's answer.
        assert!(!c.has_work());
        c.frame(success(j.request_id, 77), now);
        let a = c.take_actions();
        assert!(a.iter().any(|x| matches!(x, Action::Work)), "{a:?}");
        assert!(
            c.take_clean(),
            "a new previous block makes older work stale"
        );
        let (work, _) = c.work(true).unwrap();
        assert_eq!(work.prev_hash, d.template.prev_hash);
        // The coinbase the devices hash is the declared one with the rolled extranonce.
        let rolled = [1, 2, 3, 4, 5, 6, 7, 8];
        let ours = work.coinbase(&rolled).unwrap();
        let mut full = vec![0, 0, 0, 1, 0, 0, 0, 2];
        full.extend_from_slice(&rolled);
        let theirs = d.coinbase(&full).unwrap();
        assert_eq!(
            bitcoin::hashes::sha256d::Hash::hash(&ours).to_byte_array(),
            theirs.compute_txid().to_byte_array()
        );
        assert!(Arc::ptr_eq(&c.declared_for(77).unwrap(), &d));
        // A newer template on the same block keeps the chain tip's time: the older job's
        // shares stay valid, and the work is not clean.
        let newer = Arc::new(Template {
            curtime: d.template.curtime + 30,
            ..(*template(vec![spend(1, 22), spend(2, 30), spend(3, 25)])).clone()
        });
        let d2 = declared(&c, newer);
        c.set_custom_job(d2, b"t2", now);
        let jobs = custom_sent(&c.take_actions());
        assert_eq!(jobs[0].min_ntime, d.default_min_ntime());
        c.frame(success(jobs[0].request_id, 78), now);
        c.take_actions();
        assert!(!c.take_clean());
        assert!(c.declared_for(77).is_some());
    }

    #[test]
    fn a_refused_custom_job_is_reported_and_pool_jobs_are_ignored() {
        let now = Instant::now();
        let mut c = opened(ChannelKind::Custom, [0xff; 32], now);
        let d = declared(&c, template(vec![spend(1, 22)]));
        c.set_custom_job(d, b"t", now);
        let jobs = custom_sent(&c.take_actions());
        c.frame(
            mining(MiningOwned::SetCustomMiningJobError(
                SetCustomMiningJobErrorOwned {
                    channel_id: CHANNEL,
                    request_id: jobs[0].request_id,
                    error_code: Str0255Owned::new(b"invalid-mining-job-token".to_vec()).unwrap(),
                },
            )),
            now,
        );
        let a = c.take_actions();
        assert!(
            a.iter().any(|x| matches!(x, Action::CustomJobRefused { code } if code == "invalid-mining-job-token")),
            "{a:?}"
        );
        assert!(!c.has_work());
        // The pool's own jobs have no place on this channel.
        c.frame(extended_job(CHANNEL, 5), now);
        c.frame(prev_hash(CHANNEL, 5, 3), now);
        assert!(!c.has_work());
        assert!(closed(&c.take_actions()).is_none());
        // An answer to a request never made is logged, not acted on.
        c.frame(success(999, 1), now);
        assert!(!c.has_work());
    }

    #[test]
    fn a_quiet_pool_is_fine_but_an_unanswered_custom_job_is_not() {
        let now = Instant::now();
        let mut c = opened(ChannelKind::Custom, [0xff; 32], now);
        // No jobs from the pool for longer than the idle timeout: expected on this channel.
        c.tick(now + Duration::from_secs(400), 0);
        assert!(closed(&c.take_actions()).is_none());
        let d = declared(&c, template(vec![spend(1, 22)]));
        c.set_custom_job(d, b"t", now + Duration::from_secs(400));
        c.take_actions();
        c.tick(now + Duration::from_secs(431), 0);
        let e = closed(&c.take_actions()).expect("closed");
        assert!(e.contains("SetCustomMiningJob"), "{e}");
    }
}
