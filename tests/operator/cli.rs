//! The `hashrig` binary end to end: the bench command's JSON, and clear errors on bad flags.

use crate::common;

use common::miner::hashrig;

/// `bench --algo scrypt`: its own baseline (the scrypt crate, one thread), every scrypt kernel
/// this CPU runs at one thread, the best at all threads, each compared with that baseline;
/// scrypt kernel names are checked, and `--lookup-gap` is scrypt's.
fn bench_scrypt_has_its_own_baseline_and_kernels() -> common::Outcome {
    use hashrig::backend::cpu::scrypt::ScryptKernel;
    let out = hashrig()
        .args([
            "bench",
            "--algo",
            "scrypt",
            "--json",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--threads",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["algo"], "scrypt");
    assert!(v["baseline"]["name"]
        .as_str()
        .unwrap()
        .contains("scrypt crate"));
    let base = v["baseline"]["hashrate"].as_f64().unwrap();
    // Thousands of hashes a second, not millions: the scrypt crate really ran.
    assert!(base > 100.0 && base < 1e6, "{base}");
    let results = v["results"].as_array().unwrap();
    let supported: Vec<ScryptKernel> = ScryptKernel::PREFERENCE
        .into_iter()
        .filter(|k| k.is_supported())
        .collect();
    assert_eq!(results.len(), supported.len() + 1, "{v}");
    for (r, k) in results.iter().zip(&supported) {
        assert_eq!(r["kernel"], k.name());
        assert_eq!(r["hw_errors"], 0);
        let ratio = r["ratio"].as_f64().unwrap();
        assert!((ratio - r["hashrate"].as_f64().unwrap() / base).abs() < 1e-6);
    }
    assert_eq!(
        results.last().unwrap()["kernel"],
        ScryptKernel::best().name()
    );
    assert_eq!(results.last().unwrap()["threads"], 2);

    let out = hashrig()
        .args(["bench", "--algo", "scrypt", "--kernel", "avx2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown scrypt kernel"), "{stderr}");
    let out = hashrig()
        .args(["bench", "--lookup-gap", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--lookup-gap is scrypt's"), "{stderr}");
    // A gap the CPU backend would ignore is refused, not taken silently.
    let out = hashrig()
        .args([
            "bench",
            "--algo",
            "scrypt",
            "--backend",
            "cpu",
            "--lookup-gap",
            "4",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--backend cpu opens none"), "{stderr}");
    for bad in ["0", "33"] {
        let out = hashrig()
            .args(["bench", "--algo", "scrypt", "--lookup-gap", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--lookup-gap"), "{stderr}");
    }
    Ok(())
}

/// `bench --sweep --algo scrypt`: every lookup gap measured on the adapter (a row each: the
/// hashes that fit, the tuned batch, kernel time, rate) and the fastest named; a gap given
/// with `--lookup-gap` is the one the bench row runs.
fn bench_sweep_scrypt_measures_each_lookup_gap() -> common::Outcome {
    common::gpu_adapter()?;
    let out = hashrig()
        .env("XDG_RUNTIME_DIR", "/tmp")
        .args([
            "bench",
            "--algo",
            "scrypt",
            "--backend",
            "gpu",
            "--sweep",
            "--seconds",
            "0.2",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v[0]["rows"].as_array().unwrap();
    let gaps: Vec<u64> = rows.iter().map(|r| r["gap"].as_u64().unwrap()).collect();
    // A software adapter's 64 MiB holds its 512 hashes at every gap.
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32], "{v}");
    for r in rows {
        assert!(r["hashrate"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["batch"].as_u64().unwrap() <= r["max_hashes"].as_u64().unwrap());
        assert!(r["kernel_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    let best = v[0]["best_gap"].as_u64().unwrap();
    let fastest = rows
        .iter()
        .max_by(|a, b| {
            a["hashrate"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["hashrate"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(fastest["gap"].as_u64().unwrap(), best);

    let out = hashrig()
        .env("XDG_RUNTIME_DIR", "/tmp")
        .args([
            "bench",
            "--algo",
            "scrypt",
            "--backend",
            "gpu",
            "--lookup-gap",
            "3",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gpu = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["backend"] == "gpu")
        .unwrap_or_else(|| panic!("a gpu row in {v}"));
    assert!(gpu["kernel"].as_str().unwrap().contains("gap=3"), "{gpu}");
    assert_eq!(gpu["hw_errors"], 0);
    Ok(())
}

fn bench_json_has_the_documented_fields() -> common::Outcome {
    let out = hashrig()
        .args([
            "bench",
            "--json",
            "--seconds",
            "0.1",
            "--rounds",
            "3",
            "--threads",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["algo"], "sha256d");
    let baseline = &v["baseline"];
    assert!(baseline["name"].as_str().unwrap().contains("sha2"));
    assert_eq!(baseline["threads"], 1);
    assert!(baseline["hashrate"].as_f64().unwrap() > 0.0);

    let results = v["results"].as_array().unwrap();
    let supported = hashrig::backend::cpu::Kernel::supported();
    // Every supported kernel at one thread, then the best one at all (here: 2) threads.
    assert_eq!(results.len(), supported.len() + 1);
    for (r, k) in results.iter().zip(&supported) {
        assert_eq!(r["kernel"], k.name());
        assert_eq!(r["threads"], 1);
    }
    let last = results.last().unwrap();
    assert_eq!(last["kernel"], supported[0].name());
    assert_eq!(last["threads"], 2);
    assert_eq!(v["failures"], serde_json::json!([]));
    for r in results {
        assert_eq!(r["backend"], "cpu");
        assert!(r["device"].as_str().is_some());
        assert!(r["hashes"].as_u64().unwrap() > 0);
        assert!(r["seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(r["hw_errors"], 0);
    }
    // Three rounds a row (the baseline too): the rate is their median, the spread their range
    // over it, and the mean over all rounds lies within.
    assert_eq!(v["rounds"], 3);
    for r in results.iter().chain([baseline]) {
        let mut rounds: Vec<f64> = r["rounds"]
            .as_array()
            .unwrap_or_else(|| panic!("no rounds: {r}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(rounds.len(), 3, "{r}");
        rounds.sort_by(f64::total_cmp);
        let rate = r["hashrate"].as_f64().unwrap();
        assert_eq!(rate, rounds[1], "{r}");
        let spread = r["spread_percent"].as_f64().unwrap();
        assert!((spread - 100.0 * (rounds[2] - rounds[0]) / rounds[1]).abs() < 1e-9);
        let mean = r["hashes"].as_f64().unwrap() / r["seconds"].as_f64().unwrap();
        assert!(
            mean >= rounds[0] * 0.999 && mean <= rounds[2] * 1.001,
            "{r}"
        );
    }
    assert!(v["warnings"].is_array());
    Ok(())
}

fn bench_with_a_forced_kernel_measures_only_that_kernel() -> common::Outcome {
    let out = hashrig()
        .args([
            "bench",
            "--json",
            "--seconds",
            "0.1",
            "--kernel",
            "scalar",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kernels: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kernel"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kernels, ["scalar", "scalar"]);
    Ok(())
}

fn the_table_names_the_baseline_and_units() -> common::Outcome {
    let out = hashrig()
        .args([
            "bench",
            "--seconds",
            "0.1",
            "--kernel",
            "scalar",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("baseline: sha2"), "{text}");
    assert!(text.contains("H/s"), "{text}");
    assert!(text.contains("scalar"), "{text}");
    Ok(())
}

fn an_unknown_kernel_is_a_clear_error() -> common::Outcome {
    let out = hashrig()
        .args(["bench", "--kernel", "avx9000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown CPU kernel \"avx9000\""), "{err}");
    assert!(err.contains("scalar, sha-ni, avx2, avx512"), "{err}");
    Ok(())
}

fn bad_numbers_are_usage_errors() -> common::Outcome {
    let out = hashrig()
        .args(["bench", "--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    for bad in ["0", "nan", "1e9"] {
        let out = hashrig()
            .args(["bench", "--seconds", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--seconds {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--seconds must be"), "{err}");
    }
    Ok(())
}

/// Job declaration's flags: node, one stratum2 pool and its JDS, a user, a fallback payout.
fn job_declaration_flags_are_checked_before_anything_starts() -> common::Outcome {
    const KEY: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    let v2 = |port: u16| format!("stratum2+tcp://127.0.0.1:{port}/{KEY}");
    let node = [
        "--node",
        "http://127.0.0.1:1",
        "--rpc-user",
        "u",
        "--rpc-password",
        "p",
    ];
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--pool".into(), v2(2)],
            "--node and --pool together mean job declaration: give the pool's --jds too",
        ),
        (
            vec![
                "--pool".into(),
                v2(2),
                "--jds".into(),
                v2(3),
                "--payout-script".into(),
                "51".into(),
            ],
            "job declaration needs --user",
        ),
        (
            vec![
                "--pool".into(),
                v2(2),
                "--jds".into(),
                v2(3),
                "--user".into(),
                "u".into(),
            ],
            "give one of --payout and --payout-script",
        ),
        (
            vec![
                "--pool".into(),
                "stratum+tcp://127.0.0.1:2".into(),
                "--jds".into(),
                v2(3),
                "--user".into(),
                "u".into(),
                "--payout-script".into(),
                "51".into(),
            ],
            "job declaration is Stratum V2",
        ),
        (
            vec![
                "--pool".into(),
                v2(2),
                "--pool".into(),
                v2(4),
                "--jds".into(),
                v2(3),
                "--user".into(),
                "u".into(),
                "--payout-script".into(),
                "51".into(),
            ],
            "job declaration takes one --pool",
        ),
    ];
    for (extra, expected) in cases {
        let out = hashrig()
            .arg("mine")
            .args(node)
            .args(&extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    // --jds without a node to take templates from: clap's own usage error.
    let out = hashrig()
        .args(["mine", "--pool", &v2(2), "--jds", &v2(3), "--user", "u"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node"));
    // The same rules in the config file (`config check`).
    let file = std::env::temp_dir().join(format!("hashrig-jd-{}.toml", std::process::id()));
    for (jds, code) in [(v2(3), 0), ("stratum+tcp://127.0.0.1:3".to_string(), 2)] {
        std::fs::write(
            &file,
            format!(
                "[mine]\nnode = \"http://127.0.0.1:1\"\nrpc_user = \"u\"\nrpc_password = \"p\"\npayout_script = \"51\"\npool = [\"{}\"]\njds = \"{jds}\"\nuser = \"u\"\n",
                v2(2)
            ),
        )
        .unwrap();
        let out = hashrig()
            .args(["config", "check"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{jds}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_file(&file);
    Ok(())
}

fn bad_gpu_shader_options_are_usage_errors() -> common::Outcome {
    if cfg!(not(feature = "gpu")) {
        return Err(common::skip("built without the `gpu` feature"));
    }
    for (args, expected) in [
        (
            ["--gpu-workgroup", "48"],
            "--gpu-workgroup 48 is not one of [32, 64, 128, 256]",
        ),
        (
            ["--gpu-rotate", "rol"],
            "unknown rotate \"rol\" (one of or, xor, add, insert-bits)",
        ),
    ] {
        let out = hashrig()
            .args(["bench", "--backend", "gpu"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }
    Ok(())
}

/// A GPU that fails during `bench --backend all` is reported and left out; the CPU rows are
/// still measured and printed, and the run exits 1.
fn bench_goes_on_without_a_failed_gpu() -> common::Outcome {
    common::gpu_adapter()?;
    let out = hashrig()
        .args(["bench", "--backend", "all", "--json", "--seconds", "0.2"])
        .args(["--kernel", "scalar", "--lose-gpus-after-ms", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed while measured"), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let backends: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["cpu", "cpu"], "{v}");
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{v}");
    assert!(failures[0].as_str().unwrap().contains("device lost"), "{v}");
    Ok(())
}

/// `bench --plot`: an SVG that parses as XML, with one series per measured row.
fn bench_plot_writes_an_svg_with_a_series_per_row() -> common::Outcome {
    let path = std::env::temp_dir().join(format!("hashrig-plot-{}.svg", std::process::id()));
    let out = hashrig()
        .args([
            "bench",
            "--backend",
            "cpu",
            "--seconds",
            "0.3",
            "--json",
            "--plot",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["results"].as_array().unwrap().len();
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the plot is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // Data series are drawn 2 px wide (legend marks and the grid are thinner).
    let series = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .count();
    assert_eq!(series, rows + 1, "{rows} rows and the baseline");
    // The baseline is a horizontal line (its median), named in the legend.
    let flat = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .any(|n| {
            let ys: Vec<&str> = n
                .attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| p.split(',').nth(1))
                .collect();
            ys.len() == 2 && ys[0] == ys[1]
        });
    assert!(flat, "no baseline line:\n{text}");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    assert!(texts.iter().any(|t| t.ends_with("(baseline)")), "{texts:?}");
    // Machine, date and commit under the chart.
    let note = texts
        .iter()
        .find(|t| t.contains(" commit "))
        .unwrap_or_else(|| panic!("no note: {texts:?}"));
    let dated = note.split([' ', ',']).any(|w| {
        let b = w.as_bytes();
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && w.chars().filter(char::is_ascii_digit).count() == 8
    });
    assert!(dated, "no date in {note:?}");
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// `bench --plot` with a path that cannot be written, or that is not an SVG name, fails
/// before measuring (at once, naming the path); a good path prints the table and names the
/// file it wrote.
fn bench_plot_paths_are_checked_before_measuring() -> common::Outcome {
    let dir = std::env::temp_dir().join(format!("hashrig-plotdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, why) in [
        (dir.join("missing/x.svg"), "cannot write the plot there"),
        (dir.join("x.png"), "name it FILE.svg"),
    ] {
        let start = std::time::Instant::now();
        let out = hashrig()
            .args(["bench", "--backend", "cpu", "--seconds", "5", "--plot"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        // Nothing was measured (a row takes 5 s here).
        assert!(
            start.elapsed() < std::time::Duration::from_secs(4),
            "measured first"
        );
        assert!(!path.exists());
    }
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rate.svg");
    let out = hashrig()
        .args(["bench", "--backend", "cpu", "--seconds", "0.3", "--plot"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("baseline"));
    assert!(
        stderr.contains(&format!("plot written to {}", path.display())),
        "{stderr}"
    );
    assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A headless machine (no XDG_RUNTIME_DIR): the graphics stack's complaint about it is not
/// printed by `devices` or `bench` (it read like hashrig's own error, twice per run).
fn no_graphics_stack_noise_without_a_runtime_dir() -> common::Outcome {
    common::gpu_adapter()?;
    for args in [
        &["devices"][..],
        &["bench", "--seconds", "0.2", "--threads", "1"][..],
    ] {
        let out = hashrig()
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{args:?}: {stderr}");
    }
    Ok(())
}

/// `--help` in sections (work source, pool, solo, devices, monitoring, logging; global flags
/// last) with examples; `--version` names the commit and the features.
fn help_has_headings_examples_and_version() -> common::Outcome {
    let text = |args: &[&str]| {
        let out = hashrig().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let top = text(&["--help"]);
    assert!(top.contains("GPUs and CPUs"), "{top}");
    assert!(top.contains("Examples:"), "{top}");
    let mine = text(&["mine", "--help"]);
    let mut at = 0;
    for heading in [
        "Work source:",
        "Pool:",
        "Solo:",
        "Devices:",
        "Monitoring:",
        "Logging:",
        "Global options:",
        "Examples:",
    ] {
        let found = mine[at..]
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{mine}"));
        at += found + 1;
    }
    assert!(mine.contains("stratum2+tcp://"), "{mine}");
    // Testing aids stay out of the help.
    assert!(!mine.contains("nonces-per-roll"), "{mine}");
    let version = text(&["--version"]);
    assert!(version.starts_with("hashrig "), "{version}");
    assert!(version.contains("(commit "), "{version}");
    assert!(version.contains("features: "), "{version}");
    Ok(())
}

/// Shell completions and the man page come from the same flag definitions.
fn completions_and_man_page() -> common::Outcome {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = hashrig().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("--pool") && script.contains("hashrig"),
            "{shell}"
        );
        if shell == "bash" {
            // It is valid bash.
            let path =
                std::env::temp_dir().join(format!("hashrig-compl-{}.bash", std::process::id()));
            std::fs::write(&path, &script).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
            let _ = std::fs::remove_file(&path);
        }
    }
    let out = hashrig().arg("manpage").output().unwrap();
    assert!(out.status.success());
    let man = String::from_utf8(out.stdout).unwrap();
    assert!(
        man.contains(".TH hashrig 1") && man.contains(".SH NAME"),
        "{man}"
    );
    assert!(man.contains("completions"), "{man}");
    Ok(())
}

/// `--api 4028` and `--api localhost:4028` mean 127.0.0.1:4028.
fn api_takes_a_port_or_localhost() -> common::Outcome {
    let pool = common::pool::honest_pool();
    for form in ["{port}", "localhost:{port}"] {
        let port = common::bcoin::free_port();
        let addr = form.replace("{port}", &port.to_string());
        let mut child = common::miner::spawn(&common::miner::pool_mine_args(
            &pool.url(),
            &["--duration", "30", "--api", &addr],
        ));
        common::miner::wait_for(
            &format!("the API on --api {addr}"),
            std::time::Duration::from_secs(20),
            || {
                common::bcoin::http(port, "GET", "/v1/summary", "")
                    .is_ok_and(|b| b.contains("\"accepted\""))
            },
        );
        common::miner::stop(&mut child);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = hashrig()
        .args([
            "mine",
            "--pool",
            &pool.url(),
            "--user",
            "u",
            "--api",
            "localhost:http",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api"));
    Ok(())
}

/// `--gpu` takes a list (indexes, parts of names, `all`); an item that picks no adapter is
/// named in the error.
fn gpu_takes_a_list() -> common::Outcome {
    common::gpu_adapter()?;
    for list in ["0,0", "all", "0,llvmpipe"] {
        let out = hashrig()
            .args([
                "bench",
                "--backend",
                "gpu",
                "--seconds",
                "0.2",
                "--gpu",
                list,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{list}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = hashrig()
        .args([
            "bench",
            "--backend",
            "gpu",
            "--seconds",
            "0.2",
            "--gpu",
            "0,77",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no GPU matches \"77\""));
    Ok(())
}

/// `bench --sweep`: batch sizes doubling, the kernel time growing with them, a rate each.
fn bench_sweep_tables_batch_kernel_time_and_rate() -> common::Outcome {
    common::gpu_adapter()?;
    let out = hashrig()
        .env("XDG_RUNTIME_DIR", "/tmp")
        .args([
            "bench",
            "--backend",
            "gpu",
            "--sweep",
            "--seconds",
            "0.1",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v[0]["rows"].as_array().unwrap();
    assert!(rows.len() >= 3, "{v}");
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1]["batch"].as_u64().unwrap(),
            2 * pair[0]["batch"].as_u64().unwrap()
        );
    }
    let first = rows[0]["kernel_ms"].as_f64().unwrap();
    let last = rows[rows.len() - 1]["kernel_ms"].as_f64().unwrap();
    assert!(last > first, "{v}");
    assert!(rows.iter().all(|r| r["hashrate"].as_f64().unwrap() > 0.0));
    Ok(())
}

crate::tests!(
    bench_sweep_tables_batch_kernel_time_and_rate,
    bench_sweep_scrypt_measures_each_lookup_gap,
    bench_plot_writes_an_svg_with_a_series_per_row,
    bench_plot_paths_are_checked_before_measuring,
    no_graphics_stack_noise_without_a_runtime_dir,
    help_has_headings_examples_and_version,
    completions_and_man_page,
    api_takes_a_port_or_localhost,
    gpu_takes_a_list,
    bench_json_has_the_documented_fields,
    bench_scrypt_has_its_own_baseline_and_kernels,
    bench_with_a_forced_kernel_measures_only_that_kernel,
    the_table_names_the_baseline_and_units,
    an_unknown_kernel_is_a_clear_error,
    bad_numbers_are_usage_errors,
    bad_gpu_shader_options_are_usage_errors,
    job_declaration_flags_are_checked_before_anything_starts,
    bench_goes_on_without_a_failed_gpu
);
