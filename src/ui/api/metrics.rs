//! `/metrics`: the Prometheus exposition of the shared counters (prometheus-client), in
//! OpenMetrics when the scraper's Accept asks for it, the classic 0.0.4 text otherwise.

use super::*;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    /// The device's position (as in `/v1/devices`).
    index: String,
    /// cpu or gpu.
    backend: String,
    /// The CPU kernel (avx512, sha-ni, ...) or wgsl.
    kernel: String,
    /// The device's full name.
    device: String,
}

impl DeviceLabel {
    /// Labels for backend `index` named `name` ("cpu avx512 x2", "gpu NVIDIA H200 (Vulkan)").
    fn new(index: usize, name: &str) -> DeviceLabel {
        let mut words = name.split_whitespace();
        let backend = words.next().unwrap_or("").to_string();
        let kernel = match backend.as_str() {
            "cpu" => words.next().unwrap_or("").to_string(),
            "gpu" => "wgsl".to_string(),
            _ => String::new(),
        };
        DeviceLabel {
            index: index.to_string(),
            backend,
            kernel,
            device: name.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShareLabel {
    pool: String,
    result: String,
}

pub(super) fn metrics(state: &State) -> String {
    let s = &state.stats;
    let (recent, _) = rates(state);
    let mut registry = Registry::with_prefix("hashrig");
    let hashes = Family::<DeviceLabel, Counter>::default();
    let rate = Family::<DeviceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let hw = Family::<DeviceLabel, Counter>::default();
    for (i, b) in s.backends.iter().enumerate() {
        let l = DeviceLabel::new(i, &b.name);
        hashes.get_or_create(&l).inc_by(Stats::get(&b.hashes));
        hw.get_or_create(&l).inc_by(Stats::get(&b.hw_errors));
        rate.get_or_create(&l)
            .set(recent.get(i).copied().unwrap_or(0.0));
    }
    registry.register("hashes", "Hashes computed, per device", hashes);
    registry.register(
        "hashrate_hashes_per_second",
        "Hash rate over the last 5 seconds, per device",
        rate,
    );
    registry.register(
        "hardware_errors",
        "Results the reference hash refused, per device",
        hw,
    );
    let shares = Family::<ShareLabel, Counter>::default();
    let up = Family::<PoolLabel, Gauge>::default();
    let connected = Family::<PoolLabel, Gauge>::default();
    let difficulty = Family::<PoolLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let failovers = Family::<PoolLabel, Counter>::default();
    for p in s.pools() {
        for (result, n) in [
            ("accepted", Stats::get(&p.accepted)),
            ("rejected", Stats::get(&p.rejected)),
            ("stale", Stats::get(&p.stale)),
            ("unanswered", Stats::get(&p.unanswered)),
        ] {
            shares
                .get_or_create(&ShareLabel {
                    pool: p.url.clone(),
                    result: result.into(),
                })
                .inc_by(n);
        }
        let l = PoolLabel {
            pool: p.url.clone(),
        };
        up.get_or_create(&l)
            .set(p.in_use.load(Ordering::Relaxed) as i64);
        connected
            .get_or_create(&l)
            .set(p.connected.load(Ordering::Relaxed) as i64);
        difficulty.get_or_create(&l).set(p.difficulty());
        failovers.get_or_create(&l).inc_by(Stats::get(&p.failovers));
    }
    registry.register("shares", "Shares, by pool and result", shares);
    registry.register("pool_in_use", "1 for the pool being mined", up);
    registry.register(
        "pool_connected",
        "1 while a session with the pool is logged in (in use or not)",
        connected,
    );
    registry.register(
        "pool_difficulty",
        "Share difficulty of the pool's job",
        difficulty,
    );
    registry.register("pool_failovers", "Times mining left the pool", failovers);
    let pool_best = Family::<PoolLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for p in s.pools() {
        pool_best
            .get_or_create(&PoolLabel {
                pool: p.url.clone(),
            })
            .set(p.best_share());
    }
    registry.register(
        "pool_best_share_difficulty",
        "Highest difficulty a verified solution for the pool reached",
        pool_best,
    );
    let best: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    best.set(s.best_share());
    registry.register(
        "best_share_difficulty",
        "Highest difficulty any verified solution reached",
        best,
    );
    let network: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    network.set(s.network_difficulty());
    registry.register(
        "network_difficulty",
        "Network difficulty of the work being mined",
        network,
    );
    let solutions = Family::<Vec<(String, String)>, Counter>::default();
    for (result, n) in [
        ("accepted", Stats::get(&s.accepted)),
        ("rejected", Stats::get(&s.rejected)),
        ("stale", Stats::get(&s.stale)),
        ("unanswered", Stats::get(&s.unanswered)),
    ] {
        solutions
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc_by(n);
    }
    registry.register(
        "solutions",
        "Solutions handed to the source (blocks or shares), by result",
        solutions,
    );
    let blocks: Counter = Counter::default();
    blocks.inc_by(Stats::get(&s.blocks));
    registry.register("blocks", "Blocks accepted by the node", blocks);
    if let Some(jd) = s.jd() {
        job_declaration(&mut registry, &jd);
    }
    let build = Family::<Vec<(String, String)>, Gauge>::default();
    build
        .get_or_create(&vec![
            ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("commit".to_string(), env!("HASHRIG_COMMIT").to_string()),
            ("features".to_string(), env!("HASHRIG_FEATURES").to_string()),
        ])
        .set(1);
    registry.register(
        "build_info",
        "hashrig's version, commit and features",
        build,
    );
    let uptime: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    uptime.set(s.uptime().as_secs_f64());
    registry.register("uptime_seconds", "Seconds since the run started", uptime);
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::warn!("encoding metrics: {e}");
    }
    out
}

/// Job declaration mode's metrics.
fn job_declaration(registry: &mut Registry, jd: &crate::stats::JdStatus) {
    type Labels = Vec<(String, String)>;
    let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let state = Family::<Labels, Gauge>::default();
    for s in ["declared", "pending", "fallback"] {
        state
            .get_or_create(&label("state", s))
            .set(i64::from(jd.state == s));
    }
    registry.register(
        "jd_state",
        "1 for job declaration's state: declared (the pool's job on our template), pending, fallback (solo)",
        state,
    );
    let declarations = Family::<Labels, Counter>::default();
    declarations
        .get_or_create(&label("result", "declared"))
        .inc_by(jd.declared);
    declarations
        .get_or_create(&label("result", "accepted"))
        .inc_by(jd.accepted);
    declarations
        .get_or_create(&label("result", "refused"))
        .inc_by(jd.refused_total());
    registry.register(
        "jd_declarations",
        "Templates declared to the JDS, and its answers",
        declarations,
    );
    let refused = Family::<Labels, Counter>::default();
    for (code, n) in &jd.refused {
        refused
            .get_or_create(&label("code", &crate::ui::output::clip(code, 64)))
            .inc_by(*n);
    }
    registry.register(
        "jd_declarations_refused",
        "Declarations the JDS refused, by error code",
        refused,
    );
    let provided: Counter = Counter::default();
    provided.inc_by(jd.provided);
    registry.register(
        "jd_transactions_provided",
        "Transactions the JDS asked for and got (ProvideMissingTransactions)",
        provided,
    );
    let custom = Family::<Labels, Counter>::default();
    custom
        .get_or_create(&label("result", "accepted"))
        .inc_by(jd.custom_jobs);
    custom
        .get_or_create(&label("result", "refused"))
        .inc_by(jd.custom_refused);
    registry.register(
        "jd_custom_jobs",
        "Custom jobs (SetCustomMiningJob) the pool took or refused",
        custom,
    );
    let fallbacks: Counter = Counter::default();
    fallbacks.inc_by(jd.fallbacks);
    registry.register(
        "jd_fallbacks",
        "Times mining fell back to solo on the node",
        fallbacks,
    );
}

/// True when the request's Accept header names OpenMetrics.
pub(super) fn wants_openmetrics<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.contains("application/openmetrics-text"))
        })
}

/// OpenMetrics text as the classic Prometheus text format: a counter's HELP and TYPE name its
/// `_total` samples, no `# UNIT` and no `# EOF`.
pub(super) fn classic_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.strip_suffix(" counter"))
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}
