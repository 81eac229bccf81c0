//! Hash-rate arithmetic and formatting.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(format_hashrate(0.0), "0.00 H/s");
        assert_eq!(format_hashrate(999.0), "999.00 H/s");
        assert_eq!(format_hashrate(27_310_000.0), "27.31 MH/s");
        assert_eq!(format_hashrate(6.2e9), "6.20 GH/s");
    }
}
