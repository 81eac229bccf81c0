//! Numbers as the views write them: hash rates, difficulties, durations.

use std::time::Duration;

/// `rate` hashes per second in human units: "27.31 MH/s".
pub fn format_hashrate(rate: f64) -> String {
    const UNITS: [&str; 6] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"];
    let mut value = rate.max(0.0);
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// A difficulty for people: 0.0047, 12.3k, 4.56M, 1.23T (SI steps of 1000).
pub fn format_difficulty(d: f64) -> String {
    if !d.is_finite() || d <= 0.0 {
        return "-".into();
    }
    if d < 1e-3 {
        return format!("{d:.3e}");
    }
    if d < 1000.0 {
        let digits = if d >= 100.0 {
            0
        } else if d >= 1.0 {
            2
        } else {
            4
        };
        return format!("{d:.digits$}");
    }
    const UNITS: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = d;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// A duration for people: 45s, 12m, 3.5h, 2.1d, 4.2y.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "never".into();
    }
    let (value, unit) = if seconds < 60.0 {
        (seconds, "s")
    } else if seconds < 3600.0 {
        (seconds / 60.0, "m")
    } else if seconds < 86_400.0 {
        (seconds / 3600.0, "h")
    } else if seconds < 365.25 * 86_400.0 {
        (seconds / 86_400.0, "d")
    } else {
        (seconds / (365.25 * 86_400.0), "y")
    };
    if value < 10.0 && unit != "s" {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// "12:04:05" (hours can exceed 24).
pub fn format_clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
