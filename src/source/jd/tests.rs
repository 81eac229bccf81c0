use super::*;

#[test]
fn retries_back_off_to_a_ceiling_and_start_afresh_after_a_success() {
    let mut r = Retry::default();
    let t0 = Instant::now();
    assert!(r.due(t0));
    let waits: Vec<u64> = (0..7).map(|_| r.failed(t0).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    assert!(!r.due(t0 + Duration::from_secs(29)));
    assert!(r.due(t0 + Duration::from_secs(30)));
    r.reset();
    assert_eq!(r.failed(t0).as_secs(), 1);
}

#[test]
fn counts_of_ended_sessions_add_up_by_code() {
    let mut total = JdCounts::default();
    let one = JdCounts {
        declared: 3,
        accepted: 2,
        refused: [("invalid-job".to_string(), 1)].into(),
        provided: 5,
    };
    let two = JdCounts {
        declared: 2,
        accepted: 1,
        refused: [
            ("invalid-job".to_string(), 1),
            ("stale-chain-tip".to_string(), 1),
        ]
        .into(),
        provided: 0,
    };
    add_counts(&mut total, &one);
    add_counts(&mut total, &two);
    assert_eq!(total.declared, 5);
    assert_eq!(total.accepted, 3);
    assert_eq!(total.provided, 5);
    assert_eq!(total.refused["invalid-job"], 2);
    assert_eq!(total.refused["stale-chain-tip"], 1);
    let status = JdStatus {
        jds: "stratum2+tcp://127.0.0.1:1/k".into(),
        state: "fallback",
        reason: "the JDS is away: closed".into(),
        declared: total.declared,
        accepted: total.accepted,
        refused: total.refused,
        provided: total.provided,
        custom_jobs: 3,
        custom_refused: 1,
        fallbacks: 2,
        height: 0,
    };
    assert_eq!(
        status.line(),
        "job declaration stratum2+tcp://127.0.0.1:1/k: state fallback (the JDS is away: closed) declarations 5 accepted 3 refused 3 (\"invalid-job\": 2, \"stale-chain-tip\": 1) provided 5 custom_jobs 3 custom_refused 1 fallbacks 2"
    );
}
