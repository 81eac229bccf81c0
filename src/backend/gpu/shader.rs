//! Builds the WGSL SHA-256d search shader: `shaders/sha256d.wgsl` with its body generated here
//! as straight-line code, step for step the same computation as
//! [`sha256d_h7`](crate::algo::sha256d::sha256d_h7) (whose comments explain the tricks), plus
//! the rest of the hash and the full target compare on a hit.

// Round numbers index K, KW1, KW2 and name the generated variables at once: index loops read
// best here.
#![allow(clippy::needless_range_loop)]

use std::fmt::Write;

use crate::algo::sha256d::{
    ssig0, H2_T1_0, H2_T2_0, IV, K, KW1, KW2, LEN1, LEN2, PAD, SSIG0_LEN2, SSIG0_PAD, SSIG1_LEN2,
};

const TEMPLATE: &str = include_str!("../../../shaders/sha256d.wgsl");
const MARKER: &str = "// @generated-body";

/// Entry point of the search shader.
pub const ENTRY_POINT: &str = "search";
/// Default invocations per workgroup (`--gpu-workgroup`).
pub const WORKGROUP_SIZE: u32 = 64;
/// Workgroup sizes the shader is built for: powers of two every WebGPU device runs (at least
/// 256 invocations per workgroup are guaranteed).
pub const WORKGROUP_SIZES: [u32; 4] = [32, 64, 128, 256];

/// How the shader writes a 32-bit rotate (WGSL has no rotate builtin). Each is exact; which
/// one a driver turns into a single funnel shift is an empirical question, so all of them can
/// be tried (`--gpu-rotate`, or `HASHRIG_GPU_ROTATE`, with `hashrig bench --backend gpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rotate {
    /// `(x >> n) | (x << (32 - n))`: the idiom compilers match most often.
    #[default]
    Or,
    /// `(x >> n) ^ (x << (32 - n))`.
    Xor,
    /// `(x >> n) + (x << (32 - n))`.
    Add,
    /// `insertBits(x >> n, x, 32 - n, n)` (SPIR-V OpBitFieldInsert).
    InsertBits,
}

impl Rotate {
    pub const ALL: [Rotate; 4] = [Rotate::Or, Rotate::Xor, Rotate::Add, Rotate::InsertBits];

    pub fn name(self) -> &'static str {
        match self {
            Rotate::Or => "or",
            Rotate::Xor => "xor",
            Rotate::Add => "add",
            Rotate::InsertBits => "insert-bits",
        }
    }

    /// The body of `fn rotr(x: u32, n: u32) -> u32`.
    fn wgsl(self) -> &'static str {
        match self {
            Rotate::Or => "return (x >> n) | (x << (32u - n));",
            Rotate::Xor => "return (x >> n) ^ (x << (32u - n));",
            Rotate::Add => "return (x >> n) + (x << (32u - n));",
            Rotate::InsertBits => "return insertBits(x >> n, x, 32u - n, n);",
        }
    }
}

impl std::fmt::Display for Rotate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A rotate form that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown rotate {0:?} (one of {names})", names = Rotate::ALL.map(|r| r.name()).join(", "))]
pub struct UnknownRotate(pub String);

impl std::str::FromStr for Rotate {
    type Err = UnknownRotate;
    fn from_str(s: &str) -> Result<Self, UnknownRotate> {
        Rotate::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| UnknownRotate(crate::ui::output::clip(s, 40)))
    }
}

/// Build-time choices of the search shader; every combination computes the same hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShaderOptions {
    /// Invocations per workgroup, one of [`WORKGROUP_SIZES`].
    pub workgroup_size: u32,
    pub rotate: Rotate,
}

impl Default for ShaderOptions {
    fn default() -> Self {
        ShaderOptions {
            workgroup_size: WORKGROUP_SIZE,
            rotate: Rotate::default(),
        }
    }
}

impl std::fmt::Display for ShaderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wg={} rotate={}", self.workgroup_size, self.rotate)
    }
}

fn hex(x: u32) -> String {
    format!("0x{x:08x}u")
}

/// Emits rounds with the working state in rotating order, as `round` in algo::sha256d does.
struct Rounds {
    out: String,
    /// Expression names of the working variables (rotating layout).
    v: [String; 8],
    /// Prefix of the names of this hash's variables.
    tag: &'static str,
    /// The `a` halves of rounds emitted without them, for the hit path.
    deferred: String,
}

impl Rounds {
    fn at(i: usize, k: usize) -> usize {
        (k + 8 - i % 8) % 8
    }

    /// Round `i` with `kw` = K[i] + W[i]. With `with_a` false the new `a` is only written to
    /// `deferred` (it is needed on the hit path alone).
    fn round(&mut self, i: usize, kw: &str, with_a: bool) {
        let n = |k: usize| self.v[Self::at(i, k)].clone();
        let (a, b, c, d, e, f, g, h) = (n(0), n(1), n(2), n(3), n(4), n(5), n(6), n(7));
        let tag = self.tag;
        let t1 = format!("{tag}t{i}");
        let ne = format!("{tag}e{}", i + 1);
        let na = format!("{tag}a{}", i + 1);
        let _ = writeln!(
            self.out,
            "    let {t1} = {h} + {kw} + ch({e}, {f}, {g}) + bsig1({e});"
        );
        let _ = writeln!(self.out, "    let {ne} = {d} + {t1};");
        let a_line = format!("    let {na} = {t1} + bsig0({a}) + maj({a}, {b}, {c});\n");
        if with_a {
            self.out.push_str(&a_line);
        } else {
            self.deferred.push_str(&a_line);
        }
        self.v[Self::at(i, 3)] = ne;
        self.v[Self::at(i, 7)] = na;
    }

    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str("    ");
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }
}

/// Word `k` of one of the 8-word arrays in `Params` (stored as two vec4s).
fn param_word(field: &str, k: usize) -> String {
    format!("params.{field}[{}][{}]", k / 4, k % 4)
}

/// `let {w}{i} = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16];`
fn schedule(w: &str, i: usize) -> String {
    format!(
        "let {w}{i} = ssig1({w}{}) + {w}{} + ssig0({w}{}) + {w}{};",
        i - 2,
        i - 7,
        i - 15,
        i - 16
    )
}

fn body(mode: Mode) -> String {
    // ---- First hash, second block: rounds 0..=2 precomputed, round 3 is three adds.
    let mut r = Rounds {
        out: String::new(),
        v: std::array::from_fn(|k| format!("s{k}")),
        tag: "x",
        deferred: String::new(),
    };
    for k in 0..8 {
        r.line(format!("let s{k} = {};", param_word("state3", k)));
    }
    r.line("let xt3 = params.t1_3 + w3;");
    r.line("let xe4 = s0 + xt3;");
    r.line("let xa4 = xt3 + params.t2_3;");
    r.v[0] = "xe4".into();
    r.v[4] = "xa4".into();
    for i in 4..16 {
        r.round(i, &hex(KW1[i]), true);
    }
    r.line("let xw16 = params.w16;");
    r.line("let xw17 = params.w17;");
    r.line("let xw18 = params.w18_part + ssig0(w3);");
    r.line("let xw19 = params.w19_part + w3;");
    r.line(format!("let xw20 = ssig1(xw18) + {};", hex(PAD)));
    r.line("let xw21 = ssig1(xw19);");
    r.line(format!("let xw22 = ssig1(xw20) + {};", hex(LEN1)));
    r.line("let xw23 = ssig1(xw21) + xw16;");
    r.line("let xw24 = ssig1(xw22) + xw17;");
    for i in 25..30 {
        r.line(format!("let xw{i} = ssig1(xw{}) + xw{};", i - 2, i - 7));
    }
    r.line(format!(
        "let xw30 = ssig1(xw28) + xw23 + {};",
        hex(ssig0(LEN1))
    ));
    r.line("let xw31 = ssig1(xw29) + xw24 + params.w31_part;");
    for i in 16..64 {
        if i >= 32 {
            r.line(schedule("xw", i));
        }
        r.round(i, &format!("xw{i} + {}", hex(K[i])), true);
    }
    // The first digest: the second hash's message words m0..m7.
    for k in 0..8 {
        let v = r.v[k].clone();
        r.line(format!("let m{k} = {v} + {};", param_word("midstate", k)));
    }

    // ---- Second hash, from the IV; round 0 mostly constant.
    let mut out = r.out;
    let mut r = Rounds {
        out: String::new(),
        v: std::array::from_fn(|k| hex(IV[k])),
        tag: "y",
        deferred: String::new(),
    };
    r.line(format!("let yt0 = {} + m0;", hex(H2_T1_0)));
    r.line(format!("let ye1 = {} + yt0;", hex(IV[3])));
    r.line(format!("let ya1 = yt0 + {};", hex(H2_T2_0)));
    r.v[3] = "ye1".into();
    r.v[7] = "ya1".into();
    for i in 1..8 {
        r.round(i, &format!("m{i} + {}", hex(K[i])), true);
    }
    for i in 8..16 {
        r.round(i, &hex(KW2[i]), true);
    }
    r.line("let yw16 = ssig0(m1) + m0;");
    r.line(format!("let yw17 = ssig0(m2) + m1 + {};", hex(SSIG1_LEN2)));
    for i in 18..22 {
        r.line(format!(
            "let yw{i} = ssig1(yw{}) + ssig0(m{}) + m{};",
            i - 2,
            i - 15,
            i - 16
        ));
    }
    r.line(format!(
        "let yw22 = ssig1(yw20) + ssig0(m7) + m6 + {};",
        hex(LEN2)
    ));
    r.line(format!(
        "let yw23 = ssig1(yw21) + yw16 + m7 + {};",
        hex(SSIG0_PAD)
    ));
    r.line(format!("let yw24 = ssig1(yw22) + yw17 + {};", hex(PAD)));
    for i in 25..30 {
        r.line(format!("let yw{i} = ssig1(yw{}) + yw{};", i - 2, i - 7));
    }
    r.line(format!(
        "let yw30 = ssig1(yw28) + yw23 + {};",
        hex(SSIG0_LEN2)
    ));
    r.line(format!(
        "let yw31 = ssig1(yw29) + yw24 + ssig0(yw16) + {};",
        hex(LEN2)
    ));
    for i in 16..61 {
        if i >= 32 {
            r.line(schedule("yw", i));
        }
        // The `a` halves of rounds 57..=60 do not feed H7: hit path only.
        r.round(i, &format!("yw{i} + {}", hex(K[i])), i < 57);
    }
    // After round 60, e61 is h64: H7 = IV7 + e61.
    let e61 = r.v[Rounds::at(60, 3)].clone();
    r.line(format!("let h7 = {e61} + {};", hex(IV[7])));
    r.line("let top = bswap(h7);");
    if mode == Mode::Search {
        r.line(format!(
            "if (top > {}) {{\n        return;\n    }}",
            param_word("target_words", 7)
        ));
    }

    // ---- Hit path: the rest of the hash and the full 256-bit compare.
    let deferred = std::mem::take(&mut r.deferred);
    r.out.push_str(&deferred);
    for i in 61..64 {
        r.line(schedule("yw", i));
        r.round(i, &format!("yw{i} + {}", hex(K[i])), true);
    }
    for k in 0..8 {
        let v = r.v[k].clone();
        r.line(format!("let hash{k} = bswap({v} + {});", hex(IV[k])));
    }
    if mode == Mode::Digests {
        for k in 0..8 {
            r.line(format!("results.nonces[index * 8u + {k}u] = hash{k};"));
        }
        out.push_str(&r.out);
        return out;
    }
    // Compare from the most significant word (hash7) down; equal everywhere is a hit.
    r.line("var decided = false;");
    r.line("var meets = true;");
    for k in (0..8).rev() {
        let t = param_word("target_words", k);
        r.line(format!(
            "if (!decided && hash{k} != {t}) {{ decided = true; meets = hash{k} < {t}; }}"
        ));
    }
    r.line("if (meets) {\n        record(nonce);\n    }");
    out.push_str(&r.out);
    out
}

/// What the generated body does at its end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Early reject, full compare, record the nonce of a hit.
    Search,
    /// Store every nonce's full digest words (self-test of the same code).
    Digests,
}

/// Text of the template that the options replace (each must occur exactly once).
const TEMPLATE_ROTATE: &str = "return (x >> n) | (x << (32u - n));";
const TEMPLATE_WORKGROUP: &str = "@workgroup_size(64)";
const TEMPLATE_INDEX: &str = "* 64u + lane";

fn build(mode: Mode, options: ShaderOptions) -> String {
    assert!(
        WORKGROUP_SIZES.contains(&options.workgroup_size),
        "workgroup size {} is not one of {WORKGROUP_SIZES:?}",
        options.workgroup_size
    );
    let mut source = TEMPLATE.to_string();
    for (from, to) in [
        (format!("    {MARKER}\n"), body(mode)),
        (
            TEMPLATE_ROTATE.to_string(),
            options.rotate.wgsl().to_string(),
        ),
        (
            TEMPLATE_WORKGROUP.to_string(),
            format!("@workgroup_size({})", options.workgroup_size),
        ),
        (
            TEMPLATE_INDEX.to_string(),
            format!("* {}u + lane", options.workgroup_size),
        ),
    ] {
        assert_eq!(
            source.matches(&from).count(),
            1,
            "shader template: {from:?}"
        );
        source = source.replace(&from, &to);
    }
    source
}

/// The complete WGSL source of the SHA-256d search shader.
pub fn sha256d_wgsl(options: ShaderOptions) -> String {
    build(Mode::Search, options)
}

/// The same computation storing each nonce's digest words (byte-swapped words, hash word 0
/// first) at `results.nonces[8 * index ..]`: for checking the GPU's digests against sha2.
pub fn sha256d_digests_wgsl(options: ShaderOptions) -> String {
    build(Mode::Digests, options)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every variant of the shader parses and validates with naga (what wgpu runs before any
    /// driver sees it) and translates to SPIR-V, MSL and HLSL: no GPU needed.
    #[test]
    fn shaders_validate_and_translate_to_spirv_msl_and_hlsl() {
        for workgroup_size in WORKGROUP_SIZES {
            for rotate in Rotate::ALL {
                let options = ShaderOptions {
                    workgroup_size,
                    rotate,
                };
                for source in [sha256d_wgsl(options), sha256d_digests_wgsl(options)] {
                    validate(&source);
                    assert!(source.contains(rotate.wgsl()), "{options}");
                    assert!(
                        source.contains(&format!("@workgroup_size({workgroup_size})")),
                        "{options}"
                    );
                }
            }
        }
    }

    #[test]
    fn rotate_names_round_trip() {
        for r in Rotate::ALL {
            assert_eq!(r.name().parse::<Rotate>(), Ok(r));
        }
        assert!("rol"
            .parse::<Rotate>()
            .unwrap_err()
            .to_string()
            .contains("insert-bits"));
    }

    fn validate(source: &str) {
        translate(source);
    }

    /// Parses and validates `source`, then translates it with naga to each language wgpu
    /// hands a driver: SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12). The README promises all
    /// three, and only Vulkan runs here: a construct one backend refuses fails here, with no
    /// GPU. Returns (MSL, HLSL) for inspection.
    pub(crate) fn translate(source: &str) -> (String, String) {
        translate_entries(source, &[ENTRY_POINT])
    }

    /// [`translate`] of a module with the entry points `entries`.
    pub(crate) fn translate_entries(source: &str, entries: &[&str]) -> (String, String) {
        use naga::back::{hlsl, msl, spv};
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| {
            panic!("{}", e.emit_to_string(source));
        });
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
        for entry in entries {
            assert!(
                module.entry_points.iter().any(|e| e.name == *entry),
                "no entry point {entry}"
            );
        }
        let words = spv::write_vec(&module, &info, &spv::Options::default(), None)
            .unwrap_or_else(|e| panic!("SPIR-V: {e}"));
        assert_eq!(words.first(), Some(&0x0723_0203), "the SPIR-V magic number");
        let msl_options = msl::Options {
            // wgpu asks for MSL 2.x on every Mac it supports; atomics need 2.0 or newer.
            lang_version: (2, 1),
            fake_missing_bindings: true,
            ..msl::Options::default()
        };
        let (metal, _) = msl::write_string(
            &module,
            &info,
            &msl_options,
            &msl::PipelineOptions::default(),
        )
        .unwrap_or_else(|e| panic!("MSL: {e}"));
        assert!(metal.contains("kernel void"), "{metal}");
        let hlsl_options = hlsl::Options {
            // Shader model 6.0 and newer: what wgpu's DX12 backend compiles with DXC.
            shader_model: hlsl::ShaderModel::V6_0,
            ..hlsl::Options::default()
        };
        let pipeline = hlsl::PipelineOptions::default();
        let mut text = String::new();
        hlsl::Writer::new(&mut text, &hlsl_options, &pipeline)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("HLSL: {e}"));
        assert!(text.contains("[numthreads("), "{text}");
        (metal, text)
    }

    #[test]
    fn shader_is_straight_line() {
        let source = sha256d_wgsl(ShaderOptions::default());
        assert!(!source.contains("for ("), "no loops");
        assert!(!source.contains("loop {"), "no loops");
        assert!(source.contains("let yt60 ="));
        assert!(!source.contains(MARKER));
    }
}
