//! A Stratum v1 session fed lines from a pool (after a handshake it starts), with solutions
//! of its work submitted now and then and the clock moved on. Invariants: nothing panics,
//! what the session holds stays under its caps, a parsed job round-trips through the wire
//! format, and its work makes headers on the job's previous block.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashrig::secret::Secret;
use hashrig::source::stratum::driver::parse_line;
use hashrig::source::stratum::v1::protocol::{parse, Incoming, Job};
use hashrig::source::stratum::v1::session::{Config, Session, MAX_JOBS, MAX_PENDING};
use hashrig::source::Solution;
use hashrig::verify::Share;
use libfuzzer_sys::fuzz_target;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `job` as a pool writes it.
fn notify_line(job: &Job) -> String {
    let mut wire = [0u8; 32];
    for (o, w) in wire.chunks_exact_mut(4).zip(job.prev_hash.chunks_exact(4)) {
        o.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
    }
    serde_json::json!({"id": null, "method": "mining.notify", "params": [
        job.id, hex(&wire), hex(&job.coinb1), hex(&job.coinb2),
        job.branch.iter().map(|b| hex(b)).collect::<Vec<_>>(),
        format!("{:08x}", job.version as u32), format!("{:08x}", job.bits),
        format!("{:08x}", job.time), job.clean
    ]})
    .to_string()
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut s = Session::new(
        Config {
            session: 1,
            pool: 0,
            user: "fuzz".into(),
            password: Secret::new("x"),
            suggest_difficulty: data.first().map(|b| *b as f64 / 7.0 + 1e-9),
            configure: data.len().is_multiple_of(2),
            resume: None,
            answer_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            // Both difficulty scales: scrypt pools' is 2^16 times easier.
            algo: if data.len() % 3 == 0 {
                hashrig::algo::Algo::Scrypt
            } else {
                hashrig::algo::Algo::Sha256d
            },
        },
        start,
    );
    s.connected(start);
    let mut now = start;
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        now += Duration::from_millis(u64::from(line.first().copied().unwrap_or(0)));
        let parsed = parse_line(line);
        if let Ok(Incoming::Notify(job)) = &parsed {
            let again = parse(&notify_line(job)).expect("a job re-encoded parses");
            assert_eq!(again, Incoming::Notify(job.clone()), "round trip");
        }
        s.line(parsed, now);
        if i % 3 == 2 {
            if let Some((work, _)) = s.work(i % 2 == 0) {
                let roll = work.roll(i as u64).or_else(|| work.roll(0));
                if let Some(roll) = roll {
                    let header = work.header(&roll, work.time.now()).with_nonce(i as u32);
                    assert_eq!(header.to_bitcoin().prev_blockhash, work.prev_hash);
                    let solution = Solution {
                        work: Arc::new(work),
                        roll,
                        share: Share {
                            header,
                            digest: [0; 32],
                            algo: hashrig::algo::Algo::Sha256d,
                        },
                        found_at: now,
                    };
                    s.submit(&solution, i % 5 == 0, now);
                }
            }
        }
        if i % 7 == 6 {
            s.tick(now + Duration::from_secs(u64::from(line.len() as u8)));
        }
        let _ = s.take_actions();
        let (jobs, early, requests) = s.held();
        assert!(jobs <= MAX_JOBS && early <= 8 && requests <= MAX_PENDING + 4);
    }
    s.close("fuzz");
    let _ = s.take_actions();
});
