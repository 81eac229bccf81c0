//! The dashboard page (`GET /` of the monitoring API) in a real headless browser (Debian's
//! chromium) at a desktop size (1280x800) and a phone's (390x844): every field an operator
//! watches is filled from the live API, the chart has its axes and units, and nothing makes
//! the page scroll sideways. Screenshots are kept in target/test-artifacts/.

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

fn browser(bin: &str, size: &str, args: &[&str], url: &str) -> std::process::Output {
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
        .args([
            "--virtual-time-budget=8000",
            &format!("--window-size={size}"),
        ])
        .args(args)
        .arg(url)
        .output()
        .unwrap()
}

fn the_dashboard_at_desktop_and_phone_sizes() -> common::Outcome {
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
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut pages = Vec::new();
    for (size, width) in [("1280,800", 1280), ("390,844", 390)] {
        let dom = browser(&bin, size, &["--dump-dom"], &url);
        let html = String::from_utf8_lossy(&dom.stdout).into_owned();
        let shot = artifacts.join(format!("dashboard-{}.png", size.replace(',', "x")));
        let _ = std::fs::remove_file(&shot);
        browser(
            &bin,
            size,
            &[&format!("--screenshot={}", shot.display())],
            &url,
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        pages.push((width, html));
    }
    stop(&mut child);
    let _ = child.wait_with_output();
    for (width, html) in &pages {
        // The devices table got a row for the CPU from /v1/devices, the pools table the pool.
        assert!(html.contains("<td>cpu "), "{html}");
        assert!(html.contains(&format!(">{}</td>", pool.url())), "{html}");
        // The pool: connection state, reject rate, best share, last share age.
        assert!(html.contains(">in use</td>"), "{html}");
        assert!(html.contains(" s ago</td>"), "{html}");
        assert!(html.contains("(0.0%)</td>"), "{html}");
        // Every card filled: rate, effective rate, counts, best share, uptime h:m:s, version.
        for id in [
            "rate",
            "effective",
            "accepted",
            "rejected",
            "stale",
            "best",
            "blocks",
            "uptime",
        ] {
            let value = html
                .split(&format!("id=\"{id}\">"))
                .nth(1)
                .and_then(|r| r.split('<').next())
                .unwrap_or("-");
            assert!(value != "-" && !value.is_empty(), "{id} empty: {html}");
        }
        assert!(html.contains("/s</b>"), "{html}");
        let uptime = html.split("id=\"uptime\">").nth(1).unwrap_or("");
        assert!(uptime.starts_with("00:00:"), "{html}");
        assert!(
            html.contains(&format!("id=\"version\">v{}<", env!("CARGO_PKG_VERSION"))),
            "{html}"
        );
        // The chart: one series over several samples, its unit named.
        assert!(html.contains("data-series=\"1\""), "{html}");
        assert!(
            html.contains("data-unit=\"MH/s\"") || html.contains("data-unit=\"kH/s\""),
            "{html}"
        );
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
        // Nothing wider than the window (no sideways scrolling, on a phone either).
        let scroll: usize = html
            .split("data-scroll-width=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let view: usize = html
            .split("data-view-width=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // (Headless chromium lays a page out at least 500 px wide; the 390 px screenshot shows
        // the phone's view.)
        assert!(
            view > 0 && view <= (*width).max(500),
            "{view} px for a {width} px window"
        );
        assert!(
            scroll <= view,
            "laid out {scroll} px wide in a {view} px window ({width} px asked)"
        );
    }
    Ok(())
}

crate::tests!(the_dashboard_at_desktop_and_phone_sizes);
