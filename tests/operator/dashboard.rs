//! The dashboard page (`GET /` of the monitoring API) in a real headless browser (Debian's
//! chromium): it renders the devices and the hash-rate chart from the live API. A
//! screenshot is kept in target/test-artifacts/dashboard.png.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::bcoin::{free_port, http};
use common::miner::{spawn, stop, wait_for};
use common::pool::honest_pool;

fn chromium() -> Result<String, common::Skip> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(name.to_string());
        }
    }
    Err(common::skip(
        "no headless browser (apt-get install chromium)",
    ))
}

fn browser(bin: &str, args: &[&str], url: &str) -> std::process::Output {
    let profile = std::env::temp_dir().join(format!("hashrig-chromium-{}", std::process::id()));
    Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=8000", "--window-size=900,800"])
        .args(args)
        .arg(url)
        .output()
        .unwrap()
}

fn the_dashboard_shows_devices_and_the_chart() -> common::Outcome {
    let bin = chromium()?;
    let pool = honest_pool();
    let port = free_port();
    let mut child = spawn(
        &[
            "mine",
            "--pool",
            &pool.url(),
            "--user",
            "worker.1",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--duration",
            "60",
            "--api",
            &format!("127.0.0.1:{port}"),
        ]
        .map(String::from),
    );
    wait_for("history in the API", Duration::from_secs(30), || {
        http(port, "GET", "/v1/history", "").is_ok_and(|h| h.matches('[').count() > 4)
    });
    let url = format!("http://127.0.0.1:{port}/");
    let dom = browser(&bin, &["--dump-dom"], &url);
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browser(&bin, &[&format!("--screenshot={}", shot.display())], &url);
    stop(&mut child);
    let _ = child.wait_with_output();
    // The devices table got a row for the CPU from /v1/devices, the pools table the pool,
    // and the chart drew one series over several samples.
    assert!(html.contains("<td>cpu "), "{html}");
    assert!(html.contains(&format!("<td>{}</td>", pool.url())), "{html}");
    assert!(html.contains("data-series=\"1\""), "{html}");
    let points: usize = html
        .split("data-points=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(points >= 2, "{html}");
    assert!(
        !html.contains("id=\"error\">T"),
        "the page reported an error: {html}"
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    Ok(())
}

crate::tests!(the_dashboard_shows_devices_and_the_chart);
