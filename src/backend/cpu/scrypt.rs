//! The CPU's scrypt kernels: the portable one (one hash at a time) and the SIMD ones in the
//! row layout (x86_scrypt.rs): 2 to 8 hashes in 128-bit registers, or 8 or 16 four to a
//! 512-bit register. Each worker thread owns one [`ScryptWorker`], whose scratchpads (128 KiB
//! per hash) are allocated once. (Structure-of-arrays kernels, one lane per hash, were tried and
//! measured slower than one portable hash: BENCHMARKS.md.)

#[cfg(target_arch = "x86_64")]
use super::x86_scrypt::rows::{self, RowScratch};
#[cfg(target_arch = "x86_64")]
use super::x86_scrypt::{ymm, zmm};
use crate::algo::scrypt::{self, Prepared, Scratch};

/// A scrypt kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScryptKernel {
    Portable,
    /// Row layout (SSE2), 2 or 4 hashes interleaved; 4 with AVX-512's rotate.
    Rows2,
    Rows4,
    Rows4Avx512,
    Rows8Avx512,
    /// Row layout four hashes per 512-bit register, 2 or 4 registers interleaved.
    Zmm8Avx512,
    Zmm16Avx512,
    /// Row layout two hashes per 256-bit register, 4 registers interleaved.
    Ymm8Avx2,
}

impl ScryptKernel {
    pub const ALL: [ScryptKernel; 8] = [
        Self::Portable,
        Self::Rows2,
        Self::Rows4,
        Self::Rows4Avx512,
        Self::Rows8Avx512,
        Self::Zmm8Avx512,
        Self::Zmm16Avx512,
        Self::Ymm8Avx2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Rows2 => "sse2-rows-x2",
            Self::Rows4 => "sse2-rows-x4",
            Self::Rows4Avx512 => "avx512-rows-x4",
            Self::Rows8Avx512 => "avx512-rows-x8",
            Self::Zmm8Avx512 => "avx512-zmm-x8",
            Self::Zmm16Avx512 => "avx512-zmm-x16",
            Self::Ymm8Avx2 => "avx2-ymm-x8",
        }
    }

    /// Hashes per call.
    pub fn lanes(self) -> usize {
        match self {
            Self::Portable => 1,
            Self::Rows2 => 2,
            Self::Rows4 | Self::Rows4Avx512 => 4,
            Self::Rows8Avx512 | Self::Zmm8Avx512 | Self::Ymm8Avx2 => 8,
            Self::Zmm16Avx512 => 16,
        }
    }

    pub fn is_supported(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Rows2 | Self::Rows4 => true,
            #[cfg(target_arch = "x86_64")]
            Self::Rows4Avx512 | Self::Rows8Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Ymm8Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Self::Zmm8Avx512 | Self::Zmm16Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernels this CPU runs.
    pub fn supported() -> Vec<ScryptKernel> {
        Self::ALL.into_iter().filter(|k| k.is_supported()).collect()
    }

    /// The kernels mining picks from, fastest first (as measured: BENCHMARKS.md).
    pub const PREFERENCE: [ScryptKernel; 8] = [
        Self::Zmm16Avx512,
        Self::Zmm8Avx512,
        Self::Ymm8Avx2,
        Self::Rows8Avx512,
        Self::Rows4Avx512,
        Self::Rows4,
        Self::Rows2,
        Self::Portable,
    ];

    /// The fastest kernel this CPU runs.
    pub fn best() -> ScryptKernel {
        Self::PREFERENCE
            .into_iter()
            .find(|k| k.is_supported())
            .unwrap_or(Self::Portable)
    }

    /// The kernel called `name` (as [`ScryptKernel::name`] writes it), if this CPU runs it.
    pub fn by_name(name: &str) -> Result<ScryptKernel, ScryptKernelError> {
        let names =
            |ks: &[ScryptKernel]| ks.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
        let wanted = name.trim().to_ascii_lowercase();
        let kernel = Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| ScryptKernelError::Unknown {
                name: name.to_string(),
                known: names(&Self::ALL),
            })?;
        if !kernel.is_supported() {
            return Err(ScryptKernelError::Unsupported {
                kernel,
                available: names(&Self::supported()),
            });
        }
        Ok(kernel)
    }
}

/// `--kernel` named no scrypt kernel this CPU runs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScryptKernelError {
    #[error("unknown scrypt kernel {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error(
        "scrypt kernel {kernel} needs instructions this CPU lacks (this CPU can run: {available})"
    )]
    Unsupported {
        kernel: ScryptKernel,
        available: String,
    },
}

impl std::fmt::Display for ScryptKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

enum Pads {
    One(Scratch),
    #[cfg(target_arch = "x86_64")]
    Rows2(Box<[RowScratch; 2]>),
    #[cfg(target_arch = "x86_64")]
    Rows4(Box<[RowScratch; 4]>),
    #[cfg(target_arch = "x86_64")]
    Rows8(Box<[RowScratch; 8]>),
    #[cfg(target_arch = "x86_64")]
    Zmm(Vec<zmm::ZScratch>),
    #[cfg(target_arch = "x86_64")]
    Ymm(Vec<ymm::YScratch>),
}

/// Step 1 of `K` hashes: their keys and ROMix inputs.
fn starts<const K: usize>(
    p: &Prepared,
    first: u32,
) -> ([scrypt::Keyed; K], [[u32; scrypt::WORDS]; K]) {
    let mut words = [[0u32; scrypt::WORDS]; K];
    let keys = std::array::from_fn(|i| {
        let (k, w) = scrypt::start(p, first.wrapping_add(i as u32));
        words[i] = w;
        k
    });
    (keys, words)
}

/// One thread's kernel and scratchpads.
pub struct ScryptWorker {
    kernel: ScryptKernel,
    pads: Pads,
    out: Vec<[u8; 32]>,
}

impl ScryptWorker {
    /// `None` when this CPU cannot run `kernel`.
    pub fn new(kernel: ScryptKernel) -> Option<Self> {
        if !kernel.is_supported() {
            return None;
        }
        let pads = match kernel {
            ScryptKernel::Portable => Pads::One(Scratch::default()),
            #[cfg(target_arch = "x86_64")]
            ScryptKernel::Rows2 => Pads::Rows2(Box::default()),
            #[cfg(target_arch = "x86_64")]
            ScryptKernel::Rows4 | ScryptKernel::Rows4Avx512 => Pads::Rows4(Box::default()),
            #[cfg(target_arch = "x86_64")]
            ScryptKernel::Rows8Avx512 => Pads::Rows8(Box::default()),
            #[cfg(target_arch = "x86_64")]
            ScryptKernel::Zmm8Avx512 | ScryptKernel::Zmm16Avx512 => Pads::Zmm(
                (0..kernel.lanes() / 4)
                    .map(|_| zmm::ZScratch::new())
                    .collect::<Option<_>>()?,
            ),
            #[cfg(target_arch = "x86_64")]
            ScryptKernel::Ymm8Avx2 => Pads::Ymm(
                (0..4)
                    .map(|_| ymm::YScratch::new())
                    .collect::<Option<_>>()?,
            ),
            #[cfg(not(target_arch = "x86_64"))]
            _ => return None,
        };
        Some(ScryptWorker {
            kernel,
            pads,
            out: Vec::with_capacity(16),
        })
    }

    pub fn kernel(&self) -> ScryptKernel {
        self.kernel
    }

    /// The scrypt hashes of the job's header with nonces `first`, `first + 1`, ... (as many as
    /// the kernel has lanes).
    pub fn hashes(&mut self, p: &Prepared, first: u32) -> &[[u8; 32]] {
        self.out.clear();
        match &mut self.pads {
            Pads::One(s) => self.out.push(scrypt::hash(p, first, s)),
            #[cfg(target_arch = "x86_64")]
            Pads::Rows2(s) => {
                let (keys, mut words) = starts::<2>(p, first);
                rows::romix_sse2(&mut words, s);
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(target_arch = "x86_64")]
            Pads::Rows4(s) => {
                let (keys, mut words) = starts::<4>(p, first);
                if self.kernel == ScryptKernel::Rows4Avx512 {
                    rows::romix_avx512::<4>(&mut words, s).expect("AVX-512 was detected at new()");
                } else {
                    rows::romix_sse2(&mut words, s);
                }
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(target_arch = "x86_64")]
            Pads::Rows8(s) => {
                let (keys, mut words) = starts::<8>(p, first);
                rows::romix_avx512::<8>(&mut words, s).expect("AVX-512 was detected at new()");
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(target_arch = "x86_64")]
            Pads::Zmm(s) if s.len() == 2 => {
                let (keys, mut words) = starts::<8>(p, first);
                zmm::romix::<8>(&mut words, s).expect("AVX-512 was detected at new()");
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(target_arch = "x86_64")]
            Pads::Zmm(s) => {
                let (keys, mut words) = starts::<16>(p, first);
                zmm::romix::<16>(&mut words, s).expect("AVX-512 was detected at new()");
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(target_arch = "x86_64")]
            Pads::Ymm(s) => {
                let (keys, mut words) = starts::<8>(p, first);
                ymm::romix8(&mut words, s).expect("AVX2 was detected at new()");
                self.out
                    .extend(keys.iter().zip(&words).map(|(k, w)| scrypt::finish(k, w)));
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("not supported here"),
        }
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Litecoin mainnet headers (self-proving: each hash meets its bits): every kernel, with
    /// the header's own nonce in each of its lanes in turn, gives the known hash.
    #[test]
    fn every_kernel_hashes_litecoin_mainnet_headers_to_their_known_values() {
        use crate::algo::scrypt::tests::{display, header, LITECOIN};
        for kernel in ScryptKernel::supported() {
            let mut w = ScryptWorker::new(kernel).unwrap();
            for (k, (input, expected)) in LITECOIN.iter().enumerate() {
                let h = header(input);
                let nonce = u32::from_le_bytes(h[76..].try_into().unwrap());
                let lane = k % kernel.lanes();
                let got = w.hashes(&Prepared::new(&h), nonce.wrapping_sub(lane as u32))[lane];
                assert_eq!(display(&got), *expected, "{} lane {lane}", kernel.name());
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_crate_on_random_headers_and_edge_nonces() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for kernel in ScryptKernel::supported() {
            let mut w = ScryptWorker::new(kernel).unwrap();
            for round in 0..3 {
                let mut h = [0u8; 80];
                for b in h.iter_mut() {
                    *b = next() as u8;
                }
                let p = Prepared::new(&h);
                // The first batch wraps past 0xffffffff to 0.
                for first in [u32::MAX - 1, 0, next() as u32] {
                    let got = w.hashes(&p, first).to_vec();
                    assert_eq!(got.len(), kernel.lanes());
                    for (i, g) in got.iter().enumerate() {
                        let nonce = first.wrapping_add(i as u32);
                        h[76..].copy_from_slice(&nonce.to_le_bytes());
                        assert_eq!(
                            *g,
                            scrypt::reference(&h),
                            "{} round {round} nonce {nonce}",
                            kernel.name()
                        );
                    }
                }
            }
        }
    }
}
