//! Hostile operator input: values that used to panic the miner while `config check` said ok.

use crate::common;
use common::miner::hashrig;

fn mine(extra: &[&str]) -> std::process::Output {
    hashrig()
        .args(common::miner::pool_mine_args(
            "stratum+tcp://127.0.0.1:9",
            extra,
        ))
        .output()
        .unwrap()
}

/// Row: "--duration 1e20 (flag or config)": a panic in from_secs_f64, exit 134, while
/// `config check` said ok.
fn out_of_range_durations_are_usage_errors_everywhere() -> common::Outcome {
    for (flag, value) in [
        ("--duration", "1e20"),
        ("--duration", "inf"),
        ("--duration", "=-1"),
        ("--pool-timeout", "1e300"),
        ("--pool-idle", "1e20"),
        ("--pool-failback", "nan"),
        ("--rpc-timeout", "18446744073709551615"),
        ("--poll-ms", "18446744073709551615"),
        ("--longpoll-timeout", "99999999999"),
        ("--gpu-kernel-ms", "18446744073709551615"),
    ] {
        let out = match value.strip_prefix('=') {
            Some(v) => mine(&[&format!("{flag}={v}")]),
            None => mine(&[flag, value]),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag.trim_start_matches('-')) || stderr.contains(flag),
            "{flag} {value}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The same in a config file: `config check` refuses it too.
    let path = std::env::temp_dir().join(format!("hashrig-duration-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[mine]\npool = [\"stratum+tcp://127.0.0.1:9\"]\nuser = \"u\"\nduration = 1e20\n",
    )
    .unwrap();
    let check = hashrig()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{said}");
    // Named as the file's key.
    assert!(said.contains(".toml: mine.duration: "), "{said}");
    let run = hashrig()
        .args(["mine", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    Ok(())
}

crate::tests!(out_of_range_durations_are_usage_errors_everywhere);
