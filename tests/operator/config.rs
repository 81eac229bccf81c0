//! The config file: the example round trip, flags over the file, unknown keys and bad values
//! named, `config check` exit codes.

use crate::common;

use std::time::Duration;

use common::miner::{hashrig, run};

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hashrig-config-{name}-{}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn check(path: &std::path::Path) -> (Option<i32>, String) {
    let out = hashrig()
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A solo run that never reaches its node leaves nothing in the current directory: the
/// journal and its lock are in the data directory ($XDG_DATA_HOME/hashrig/), named at start.
fn the_journal_lives_in_the_data_directory() -> common::Outcome {
    let base = std::env::temp_dir().join(format!("hashrig-datadir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (cwd, data) = (base.join("cwd"), base.join("data"));
    std::fs::create_dir_all(&cwd).unwrap();
    let port = common::bcoin::free_port();
    let out = hashrig()
        .current_dir(&cwd)
        .env("XDG_DATA_HOME", &data)
        .args([
            "mine",
            "--node",
            &format!("http://127.0.0.1:{port}"),
            "--rpc-user",
            "u",
            "--rpc-password",
            "p",
            "--payout-script",
            common::miner::PAYOUT,
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--duration",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let journal = data.join("hashrig").join("found-blocks.jsonl");
    let left: Vec<_> = std::fs::read_dir(&cwd)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left in the current directory: {left:?}\n{stderr}"
    );
    assert!(journal.exists(), "{stderr}");
    assert!(
        stderr.contains(&format!("(journal {})", journal.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

fn the_example_parses_and_passes_check() -> common::Outcome {
    let out = hashrig().args(["config", "example"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let table: toml::Table = text.parse().expect("the example is TOML");
    assert!(table.contains_key("mine") && table.contains_key("bench"));
    let path = write("example", &text);
    let (code, said) = check(&path);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("ok ([mine], [bench])"), "{said}");
    Ok(())
}

fn flags_win_over_the_file() -> common::Outcome {
    let path = write(
        "precedence",
        "[mine]\npool = [\"stratum+tcp://127.0.0.1:9\"]\nuser = \"u\"\nbackend = \"cpu\"\nthreads = 1\nduration = 30\n",
    );
    let out = run(
        &[
            "mine".to_string(),
            "--config".into(),
            path.display().to_string(),
            "--threads".into(),
            "2".into(),
            "--duration".into(),
            "0.5".into(),
        ],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The file's pool and backend are used; its threads and duration are overridden.
    assert!(
        stderr.contains("mining on pool stratum+tcp://127.0.0.1:9 with cpu "),
        "{stderr}"
    );
    assert!(stderr.contains(" x2"), "{stderr}");
    Ok(())
}

fn unknown_keys_and_bad_values_are_named() -> common::Outcome {
    // Every error is "FILE: section.key: what is wrong" (the path is the test's own).
    let mine = "[mine]\npool = [\"stratum+tcp://127.0.0.1:9\"]\nuser = \"u\"\n";
    for (name, text, expected) in [
        (
            "unknown",
            "[mine]\nfoo = 1\n".to_string(),
            ": mine.foo: unknown key",
        ),
        (
            "typo",
            "[mine]\nkernal = \"avx2\"\n".into(),
            ": mine.kernal: unknown key (did you mean `kernel`?)",
        ),
        (
            "section",
            "[mining]\npool = 1\n".into(),
            ": mining: unknown key (did you mean `mine`?)",
        ),
        ("top", "colour = true\n".into(), ": colour: unknown key"),
        // Testing aids are not config keys.
        (
            "hidden",
            "[mine]\nnonces_per_roll = 7\n".into(),
            ": mine.nonces_per_roll: unknown key",
        ),
        (
            "hidden2",
            "[mine]\nshare_bits = \"1d00ffff\"\n".into(),
            ": mine.share_bits: unknown key",
        ),
        (
            "verbose",
            "verbose = 7\n".into(),
            ": verbose: must be 0 to 3, or true",
        ),
        (
            "bad",
            format!("{mine}threads = \"many\"\n"),
            ": mine.threads: invalid value \"many\"",
        ),
        (
            "kernel",
            format!("{mine}kernel = \"avx9\"\n"),
            ": mine.kernel: unknown CPU kernel \"avx9\"",
        ),
        (
            "seconds",
            "[bench]\nseconds = 1e9\n".into(),
            ": bench.seconds: must be more than 0",
        ),
        (
            "url",
            "[mine]\npool = [\"http://127.0.0.1:9\"]\nuser = \"u\"\n".into(),
            ": mine.pool: ",
        ),
        (
            "type",
            "[mine]\npool = [{a = 1}]\nuser = \"u\"\n".into(),
            ": mine.pool: expected a string or a number",
        ),
        ("syntax", "[mine\n".into(), ": TOML parse error"),
    ] {
        let expected = format!("{}{expected}", write(name, "").display());
        let path = write(name, &text);
        let (code, said) = check(&path);
        assert_eq!(code, Some(2), "{name}: {said}");
        assert!(
            said.contains(&expected),
            "{name}: {expected:?} not in {said}"
        );
        // The same file given to a run is refused the same way, before anything starts.
        let out = hashrig()
            .args(["mine", "--config"])
            .arg(&path)
            .args(["--duration", "0.1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
    Ok(())
}

crate::tests!(
    the_journal_lives_in_the_data_directory,
    the_example_parses_and_passes_check,
    flags_win_over_the_file,
    unknown_keys_and_bad_values_are_named,
);
