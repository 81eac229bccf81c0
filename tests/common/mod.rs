//! Test support shared by the integration tests.
#![allow(dead_code)]

pub mod bcoin;
pub mod litecoind;
pub mod miner;
pub mod pool;
pub mod probe;
pub mod stub;
pub mod sv2;
pub mod sv2_peer;
pub mod tls;

use hashrig::backend::cpu::{Kernel, KernelKind};
use hashrig::chain::Header;
use serde::Deserialize;

/// Environment variable that turns every skipped test into a failure (set by `.ci/run`).
pub const REQUIRE_ALL: &str = "HASHRIG_REQUIRE_ALL";

/// Environment variable that also turns a CPU kernel this CPU lacks into a failure. Unset in
/// `.ci/run`: nothing a CI script installs gives a CPU AVX-512, and no emulator the registries
/// offer runs it, so CI lists such a kernel as ignored with its reason (and prints the CPU's
/// features first). Set it on a machine known to have every kernel's instructions.
pub const REQUIRE_CPU: &str = "HASHRIG_REQUIRE_CPU";

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v != "0" && !v.is_empty())
}

/// A test that cannot run here, with the reason: it shows as `ignored (REASON)` in cargo
/// test's summary.
#[derive(Debug)]
pub struct Skip(pub String);

/// What a test returns: `Err(Skip)` when it could not run here.
pub type Outcome = Result<(), Skip>;

/// A test (or part of one) that cannot run here: ignored with the reason, or a failure when
/// `HASHRIG_REQUIRE_ALL` is set.
pub fn skip(reason: impl Into<String>) -> Skip {
    let reason = reason.into();
    if env_flag(REQUIRE_ALL) {
        panic!("{REQUIRE_ALL} is set, but this would be skipped: {reason}");
    }
    Skip(reason)
}

/// A CPU kernel this CPU lacks the instructions for: ignored with the reason, a failure only
/// under `HASHRIG_REQUIRE_CPU` (hardware no install can provide; see [`REQUIRE_CPU`]).
pub fn skip_for_cpu(reason: impl Into<String>) -> Skip {
    let reason = reason.into();
    if env_flag(REQUIRE_CPU) {
        panic!("{REQUIRE_CPU} is set, but this would be skipped: {reason}");
    }
    Skip(reason)
}

/// One test of a harness: a plain test, or one per CPU kernel (ignored where the CPU lacks
/// the kernel). Names are `module::test`.
pub enum Test {
    Plain(String, fn() -> Outcome),
    PerKernel(String, fn(Kernel)),
}

/// The integration tests' harness (libtest-mimic): the same flags and output as cargo's own,
/// with tests that cannot run here listed as ignored with their reason.
pub fn run_tests(tests: Vec<Test>) -> ! {
    use libtest_mimic::{Arguments, Completion, Trial};
    let done = |r: Outcome| match r {
        Ok(()) => Ok(Completion::Completed),
        Err(Skip(reason)) => Ok(Completion::ignored_with(reason)),
    };
    let mut trials = Vec::new();
    for test in tests {
        match test {
            Test::Plain(name, f) => trials.push(Trial::ignorable_test(name, move || done(f()))),
            Test::PerKernel(name, f) => {
                for kind in KernelKind::ALL {
                    trials.push(Trial::ignorable_test(
                        format!("{name}::{kind}"),
                        move || {
                            done(match Kernel::new(kind) {
                                Ok(kernel) => {
                                    f(kernel);
                                    Ok(())
                                }
                                Err(e) => Err(skip_for_cpu(format!("this CPU cannot run it: {e}"))),
                            })
                        },
                    ));
                }
            }
        }
    }
    libtest_mimic::run(&Arguments::from_args(), trials).exit()
}

/// The tests of a module: `tests!(plain_a, plain_b; per_kernel_c)` makes `pub fn tests()`,
/// which the binary's `main` gathers.
#[macro_export]
macro_rules! tests {
    ($($plain:ident),* $(,)? $(; $($per_kernel:ident),* $(,)?)?) => {
        pub fn tests() -> Vec<$crate::common::Test> {
            let module = module_path!().rsplit("::").next().unwrap_or("");
            vec![
                $($crate::common::Test::Plain(format!("{module}::{}", stringify!($plain)), $plain),)*
                $($($crate::common::Test::PerKernel(format!("{module}::{}", stringify!($per_kernel)), $per_kernel),)*)?
            ]
        }
    };
}

/// Ok when a GPU adapter exists; a skip when there is none. An adapter that exists but
/// cannot be opened or fails its self-test is a failure (a panic), not a skip.
#[cfg(feature = "gpu")]
pub fn gpu_adapter() -> Result<(), Skip> {
    use hashrig::backend::gpu::{GpuDevice, GpuError};
    match GpuDevice::open_all(None) {
        Ok(_) => Ok(()),
        Err(GpuError::NoAdapter) => Err(skip("no GPU adapter on this machine")),
        Err(e) => panic!("a GPU adapter exists but does not work: {e}"),
    }
}

/// Without the GPU backend compiled in, GPU tests cannot run.
#[cfg(not(feature = "gpu"))]
pub fn gpu_adapter() -> Result<(), Skip> {
    Err(skip("built without the `gpu` feature"))
}

#[derive(Debug, Deserialize)]
pub struct GoldenFile {
    pub headers: Vec<Golden>,
}

#[derive(Debug, Deserialize)]
pub struct Golden {
    pub chain: String,
    pub block: String,
    pub header_hex: String,
    pub version: i64,
    pub bits: String,
    pub nonce: u32,
    pub block_hash: String,
    pub pow_algo: String,
    pub pow_hash: String,
}

impl Golden {
    pub fn header(&self) -> Header {
        Header::from_hex(&self.header_hex).expect("golden header hex")
    }
}

/// Real mainnet headers (tests/data/golden-headers.json).
pub fn golden() -> Vec<Golden> {
    let text = include_str!("../data/golden-headers.json");
    serde_json::from_str::<GoldenFile>(text)
        .expect("golden file parses")
        .headers
}

/// A display-order hash hex as digest bytes (internal order).
pub fn digest_from_display(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    out.reverse();
    out
}

/// At most `max` bytes of `text` (for assertion messages about hostile output).
pub fn clip_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}
