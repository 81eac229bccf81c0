//! The v1 session message by message and failure by failure, without a socket.

use super::*;
use crate::source::stratum::session::testing::{closed, shares};
use crate::source::stratum::session::Action;
use crate::verify::Share;
use serde_json::json;

const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["1f","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"20000000","207fffff","504e86b9",true]}"#;

fn config() -> Config {
    Config {
        session: 7,
        pool: 0,
        user: "worker.1".into(),
        password: Secret::new("s3cret"),
        suggest_difficulty: None,
        configure: true,
        resume: None,
        answer_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(180),
        algo: crate::algo::Algo::Sha256d,
    }
}

/// Feeds one line as the driver would.
fn feed(s: &mut Session, line: &str, now: Instant) {
    s.line(protocol::parse(line), now);
}

fn sent(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Outgoing::Line(l)) => Some(serde_json::from_str(l).unwrap()),
            _ => None,
        })
        .collect()
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A session through configure, subscribe and authorize (rolling mask 1fffe000).
fn logged_in(cfg: Config, now: Instant) -> Session {
    let mut s = Session::new(cfg, now);
    s.connected(now);
    feed(
        &mut s,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":2,"result":[[["mining.notify","sub-1"]],"08000002",4],"error":null}"#,
        now,
    );
    feed(&mut s, r#"{"id":3,"result":true,"error":null}"#, now);
    assert_eq!(s.phase(), Phase::Ready);
    s.take_actions();
    s
}

/// A solution of the session's current work (the share need not meet anything here).
fn solution(s: &Session) -> Solution {
    let (work, _) = s.work(false).unwrap();
    let roll = work.roll(3).unwrap();
    let header = work.header(&roll, work.time.now()).with_nonce(0x1234_5678);
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
fn the_handshake_is_configure_subscribe_then_authorize() {
    let now = Instant::now();
    let mut s = Session::new(
        Config {
            suggest_difficulty: Some(0.5),
            resume: Some("old-session".into()),
            ..config()
        },
        now,
    );
    s.connected(now);
    let out = sent(&s.take_actions());
    assert_eq!(out[0]["method"], "mining.configure");
    assert_eq!(out[0]["params"][1]["version-rolling.mask"], "1fffe000");
    assert_eq!(out[1]["method"], "mining.subscribe");
    assert_eq!(out[1]["params"][1], "old-session");
    feed(
        &mut s,
        r#"{"id":2,"result":[[["mining.set_difficulty","a"],["mining.notify","old-session"]],"08000002",4],"error":null}"#,
        now,
    );
    let actions = s.take_actions();
    assert!(matches!(&actions[0], Action::Subscribed { resume: Some(r) } if r == "old-session"));
    assert!(logs(&actions).iter().any(|l| l == "session resumed"));
    let out = sent(&actions);
    assert_eq!(out[0]["method"], "mining.suggest_difficulty");
    assert_eq!(out[1]["method"], "mining.authorize");
    assert_eq!(out[1]["params"], json!(["worker.1", "s3cret"]));
    feed(&mut s, r#"{"id":4,"result":true,"error":null}"#, now);
    feed(&mut s, r#"{"id":5,"result":true,"error":null}"#, now);
    let actions = s.take_actions();
    assert!(actions.iter().any(|a| matches!(a, Action::Ready)));
    assert!(logs(&actions)[0].contains("no version rolling"));
    assert_eq!(s.rolling_mask(), None, "configure was never answered");
}

#[test]
fn a_pool_that_dropped_configure_is_subscribed_without_it() {
    let now = Instant::now();
    let mut s = Session::new(
        Config {
            configure: false,
            ..config()
        },
        now,
    );
    s.connected(now);
    let out = sent(&s.take_actions());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["method"], "mining.subscribe");
    assert!(!s.configure_unanswered());
    let mut s = Session::new(config(), now);
    s.connected(now);
    assert!(s.configure_unanswered());
}

#[test]
fn a_refused_login_closes_without_the_password() {
    let now = Instant::now();
    let mut s = Session::new(config(), now);
    s.connected(now);
    feed(
        &mut s,
        r#"{"id":2,"result":[[],"08000002",4],"error":null}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":3,"result":null,"error":[24,"Unauthorized worker",null]}"#,
        now,
    );
    let e = closed(&s.take_actions()).unwrap();
    assert!(e.contains("refused the login of \"worker.1\""), "{e}");
    assert!(e.contains("Unauthorized worker"), "{e}");
    assert!(!e.contains("s3cret"));
}

#[test]
fn a_bad_subscribe_answer_closes_and_forgets_the_session_id() {
    let now = Instant::now();
    let mut s = Session::new(config(), now);
    s.connected(now);
    s.take_actions();
    feed(
        &mut s,
        r#"{"id":2,"result":[[],"08000002",64],"error":null}"#,
        now,
    );
    let actions = s.take_actions();
    assert!(matches!(&actions[0], Action::Subscribed { resume: None }));
    assert!(closed(&actions).unwrap().contains("extranonce2_size 64"));
}

#[test]
fn jobs_become_work_and_difficulty_applies_from_the_next_job() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    assert!(!s.has_work());
    feed(&mut s, NOTIFY, now);
    assert!(matches!(s.take_actions()[..], [Action::Work]));
    let (work, difficulty) = s.work(true).unwrap();
    assert_eq!(difficulty, 1.0);
    assert_eq!(work.version_mask, 0x1fff_e000);
    assert_eq!(work.id, "0/1f");
    assert!(s.take_clean());
    assert!(!s.take_clean());
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_difficulty","params":[0.25]}"#,
        now,
    );
    assert_eq!(s.work(false).unwrap().1, 1.0, "only from the next job");
    feed(&mut s, &NOTIFY.replace("\"1f\"", "\"20\""), now);
    assert_eq!(s.work(false).unwrap().1, 0.25);
}

#[test]
fn an_absurd_difficulty_is_worked_with_not_a_crash() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_difficulty","params":[1e-300]}"#,
        now,
    );
    feed(&mut s, NOTIFY, now);
    let (work, _) = s.work(false).unwrap();
    // Every hash meets it; the dispatcher clamps it to what the devices can usefully send.
    assert_eq!(work.share_target, Target::from_le_bytes([0xff; 32]));
}

use crate::chain::Target;

#[test]
fn early_jobs_wait_for_the_subscription_and_are_capped() {
    let now = Instant::now();
    let mut s = Session::new(config(), now);
    s.connected(now);
    for i in 0..100 {
        feed(&mut s, &NOTIFY.replace("\"1f\"", &format!("\"e{i}\"")), now);
    }
    assert_eq!(s.early.len(), MAX_EARLY);
    feed(
        &mut s,
        r#"{"id":2,"result":[[],"08000002",4],"error":null}"#,
        now,
    );
    assert!(s.has_work());
    assert_eq!(s.jobs.len(), 1, "each early job was clean");
}

#[test]
fn shares_go_with_version_bits_and_their_answers_count() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    s.take_actions();
    let sol = solution(&s);
    s.submit(&sol, false, now);
    let out = sent(&s.take_actions());
    assert_eq!(out[0]["method"], "mining.submit");
    let params = out[0]["params"].as_array().unwrap();
    assert_eq!(params.len(), 6, "{params:?}");
    assert_eq!(params[1], "1f");
    assert_eq!(params[4], "12345678");
    assert_eq!(s.pending(), 1);
    let id = out[0]["id"].as_u64().unwrap();
    feed(
        &mut s,
        &format!(r#"{{"id":{id},"result":true,"error":null}}"#),
        now,
    );
    assert_eq!(shares(&s.take_actions()), vec![ShareResult::Accepted]);
    s.submit(&sol, false, now);
    let id = sent(&s.take_actions())[0]["id"].as_u64().unwrap();
    feed(
        &mut s,
        &format!(r#"{{"id":{id},"result":null,"error":[23,"Low difficulty share",null]}}"#),
        now,
    );
    assert_eq!(
        shares(&s.take_actions()),
        vec![ShareResult::Rejected("23 Low difficulty share".into())]
    );
    assert_eq!(s.pending(), 0);
}

#[test]
fn shares_of_replaced_jobs_or_another_extranonce1_are_stale_not_sent() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    let old = solution(&s);
    feed(&mut s, &NOTIFY.replace("\"1f\"", "\"20\""), now);
    s.take_actions();
    s.submit(&old, false, now);
    let actions = s.take_actions();
    assert!(sent(&actions).is_empty());
    assert!(matches!(&shares(&actions)[0], ShareResult::Stale(r) if r.contains("clean_jobs")));
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_extranonce","params":["09000003",4]}"#,
        now,
    );
    let before = solution(&s);
    feed(
        &mut s,
        &NOTIFY
            .replace("\"1f\"", "\"21\"")
            .replace("true]", "false]"),
        now,
    );
    s.take_actions();
    s.submit(&before, false, now);
    let actions = s.take_actions();
    assert!(sent(&actions).is_empty());
    assert!(matches!(&shares(&actions)[0], ShareResult::Stale(r) if r.contains("extranonce1")));
}

#[test]
fn the_pool_remembers_at_most_max_jobs() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    let first = solution(&s);
    for i in 0..1000 {
        let job = NOTIFY
            .replace("\"1f\"", &format!("\"j{i}\""))
            .replace("true]", "false]");
        feed(&mut s, &job, now);
    }
    assert_eq!(s.jobs.len(), MAX_JOBS);
    s.take_actions();
    s.submit(&first, false, now);
    assert!(matches!(
        shares(&s.take_actions())[0],
        ShareResult::Stale(_)
    ));
}

#[test]
fn unanswered_submits_time_out_and_are_capped() {
    let now = Instant::now();
    let mut s = logged_in(
        Config {
            answer_timeout: Duration::from_secs(5),
            ..config()
        },
        now,
    );
    feed(&mut s, NOTIFY, now);
    let sol = solution(&s);
    for _ in 0..MAX_PENDING + 10 {
        s.submit(&sol, false, now);
    }
    assert_eq!(s.pending(), MAX_PENDING);
    let given_up = shares(&s.take_actions());
    assert_eq!(given_up.len(), 10);
    assert!(given_up
        .iter()
        .all(|r| matches!(r, ShareResult::Unanswered(w) if w.contains("too many"))));
    s.tick(now + Duration::from_secs(6));
    let timed_out = shares(&s.take_actions());
    assert_eq!(timed_out.len(), MAX_PENDING);
    assert_eq!(s.pending(), 0);
}

#[test]
fn a_handshake_that_stalls_or_a_silent_pool_closes_the_session() {
    let now = Instant::now();
    let mut s = Session::new(
        Config {
            answer_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            ..config()
        },
        now,
    );
    s.connected(now);
    s.take_actions();
    s.tick(now + Duration::from_millis(500));
    assert!(closed(&s.take_actions()).is_none());
    s.tick(now + Duration::from_secs(2));
    let e = closed(&s.take_actions()).unwrap();
    assert!(
        e.contains("did not answer mining.subscribe within 1 s"),
        "{e}"
    );
    let mut s = logged_in(
        Config {
            idle_timeout: Duration::from_secs(2),
            ..config()
        },
        now,
    );
    s.tick(now + Duration::from_secs(3));
    let e = closed(&s.take_actions()).unwrap();
    assert!(e.contains("no new job from the pool for 2 s"), "{e}");
}

#[test]
fn requests_of_the_pool_are_answered() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(
        &mut s,
        r#"{"id":9,"method":"client.get_version","params":[]}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":10,"method":"mining.ping","params":[]}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":11,"method":"mining.bogus","params":[]}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.bogus2","params":[]}"#,
        now,
    );
    let actions = s.take_actions();
    let out = sent(&actions);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["result"], AGENT);
    assert_eq!(out[1]["result"], "pong");
    assert_eq!(out[2]["error"][1], "method not supported");
    assert_eq!(logs(&actions).len(), 2);
}

#[test]
fn reconnect_requests_become_actions() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(
        &mut s,
        r#"{"id":null,"method":"client.reconnect","params":["other.example",3334,5]}"#,
        now,
    );
    feed(
        &mut s,
        r#"{"id":null,"method":"client.reconnect","params":[]}"#,
        now,
    );
    let actions = s.take_actions();
    assert!(matches!(
        &actions[0],
        Action::Reconnect { to: Some((Some(h), Some(3334))), after } if h == "other.example" && after.as_secs() == 5
    ));
    assert!(matches!(
        &actions[1],
        Action::Reconnect { to: None, after } if after.is_zero()
    ));
}

#[test]
fn version_masks_only_narrow_and_only_when_negotiated() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_version_mask","params":["ffffffff"]}"#,
        now,
    );
    assert_eq!(s.rolling_mask(), Some(0x1fff_e000));
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_version_mask","params":["00ff0000"]}"#,
        now,
    );
    assert_eq!(s.rolling_mask(), Some(0x00ff_0000 & 0x1fff_e000));
    assert!(s.take_actions().iter().any(|a| matches!(a, Action::Work)));
    let mut s = Session::new(
        Config {
            configure: false,
            ..config()
        },
        now,
    );
    s.connected(now);
    feed(&mut s, r#"{"id":1,"result":[[],"00",4],"error":null}"#, now);
    feed(&mut s, r#"{"id":2,"result":true,"error":null}"#, now);
    s.take_actions();
    feed(
        &mut s,
        r#"{"id":null,"method":"mining.set_version_mask","params":["1fffe000"]}"#,
        now,
    );
    assert_eq!(s.rolling_mask(), None);
    assert!(logs(&s.take_actions())[0].contains("not negotiated"));
}

/// Issue 15: show_message with escape codes reached the terminal raw; a flood of bad lines
/// was logged line by line.
#[test]
fn hostile_text_is_escaped_clipped_and_rate_limited() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    let evil = format!("\u{1b}]0;owned\u{7}\u{1b}[2J{}", "A".repeat(10_000));
    for _ in 0..1000 {
        feed(
            &mut s,
            &json!({"id": null, "method": "client.show_message", "params": [evil]}).to_string(),
            now,
        );
        feed(&mut s, "garbage", now);
    }
    let lines = logs(&s.take_actions());
    assert!(
        lines.len() <= 2 * Throttle::BURST as usize,
        "{}",
        lines.len()
    );
    for l in &lines {
        assert!(!l.contains('\u{1b}') && !l.contains('\u{7}'), "{l:?}");
        assert!(l.len() < 600, "{} bytes", l.len());
    }
    // Later, one line says how many were held back.
    let later = now + WARN_EVERY;
    feed(&mut s, "garbage", later);
    let lines = logs(&s.take_actions());
    assert!(lines[0].contains("held back"), "{lines:?}");
}

#[test]
fn closing_reports_every_waiting_share_unanswered() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    let sol = solution(&s);
    s.submit(&sol, false, now);
    s.submit(&sol, false, now);
    s.take_actions();
    s.close("the connection ended");
    assert_eq!(
        shares(&s.take_actions()),
        vec![ShareResult::Unanswered("the connection ended".into()); 2]
    );
}

#[test]
fn a_share_before_login_is_not_sent() {
    let now = Instant::now();
    let mut s = logged_in(config(), now);
    feed(&mut s, NOTIFY, now);
    let sol = solution(&s);
    let mut fresh = Session::new(config(), now);
    fresh.connected(now);
    fresh.take_actions();
    fresh.submit(&sol, true, now);
    let actions = fresh.take_actions();
    assert!(sent(&actions).is_empty());
    assert!(matches!(&shares(&actions)[0], ShareResult::Stale(r) if r.contains("not logged in")));
}
