//! Hand-vectorized x86_64 backends, and how one is chosen.
//!
//! | name         | needs                         | byte dot product                 |
//! |--------------|-------------------------------|----------------------------------|
//! | `scalar`     | -                             | plain Rust (the reference)       |
//! | `sse2`       | - (x86_64 baseline)           | bytes widened to i16, `pmaddwd`  |
//! | `ssse3`      | SSSE3                         | `pmaddubsw` + `pmaddwd`          |
//! | `tcg`        | AVX2 + FMA + F16C             | SWAR: 2-4 products per 64-bit integer multiply (for QEMU's TCG) |
//! | `tcg-vec`    | AVX2 + FMA + F16C             | shifts + `vpmullw` + adds (TCG-friendly vector code) |
//! | `avx2`       | AVX2 + FMA + F16C             | `vpmaddubsw` + `vpmaddwd`        |
//! | `avxvnni`    | AVX-VNNI                      | `vpdpbusd` (VEX)                 |
//! | `avx512vnni` | AVX512F/BW/VL + AVX512-VNNI   | `vpdpbusd` on ymm (EVEX)         |
//!
//! [`BACKENDS`] lists them after the scalar reference, in order of
//! preference by CPUID (best last), so [`crate::quant::best`] picks the best
//! native one. Under an emulator that preference is wrong (QEMU's TCG turns
//! `vpmaddubsw` into a slow helper call), so the kernel calls
//! [`pick_by_timing`] at boot: it times every available backend's matrix ×
//! vector kernels on a small synthetic matrix and returns the fastest.
//!
//! # In the kernel
//! 1. Enable the AVX register state (CR4.OSXSAVE, then `xsetbv` with XCR0
//!    bits 0-2, plus 5-7 for AVX-512) and save it on context switches;
//!    otherwise [`crate::cpu::detect`] reports no AVX and only `scalar`
//!    runs.
//! 2. Raise MXCSR's inexact flag once with an inexact operation (QEMU's
//!    softfloat is faster with it set).
//! 3. Call [`pick_by_timing`] once (a few ms natively, ~0.5 s under TCG)
//!    and use the returned backend for every `Session`; print
//!    [`crate::cpu::info`] for `/cpu`.
//!
//! Matrix kernels take a row range, so a matrix can be split across CPUs.
//!
//! CPUs without AVX2 (older Atoms, Pentiums/Celerons, AMD K10) run the
//! 128-bit `ssse3` backend, or `sse2` where SSSE3 is missing too (see
//! [`sse`]). Their results are bit-identical to the scalar reference's
//! (matrix products, activation quantizers and the decoder's helpers), so
//! a run on them reproduces a scalar run exactly, only faster (`ssse3`
//! on a Xeon: decode 1.8x (SmolLM2 Q4_1) to 3.5x (Qwen2.5 Q4_K_M) the
//! scalar speed and 83-88% of `avx2`'s; prefill 3.4-8x scalar, ~45% of
//! `avx2`).
//!
//! All `unsafe` SIMD code lives in this directory; the entry points are safe
//! functions that are only reachable through a backend whose `available()`
//! check passed.

use crate::quant::backend::{Backend, SCALAR};

pub mod driver;
#[cfg(target_arch = "x86_64")]
pub mod sse;
#[cfg(target_arch = "x86_64")]
pub mod tcg;
#[cfg(target_arch = "x86_64")]
mod tcg_asm;
#[cfg(target_arch = "x86_64")]
pub mod vec_avx2;
#[cfg(target_arch = "x86_64")]
pub mod vec_sse;
#[cfg(target_arch = "x86_64")]
pub mod x86;

/// SSE2 only (every x86_64 CPU): bytes widened to 16-bit lanes, `pmaddwd`;
/// SSE2 vector helpers (f16 converted with integer operations: no F16C).
#[cfg(target_arch = "x86_64")]
pub const SSE2: Backend = Backend {
    name: "sse2",
    available: sse::sse2::available,
    gemm_q4_0: sse::sse2::gemm_q4_0,
    gemm_q4_1: sse::sse2::gemm_q4_1,
    gemm_q5_0: sse::sse2::gemm_q5_0,
    gemm_q8_0: sse::sse2::gemm_q8_0,
    gemm_q4_k: sse::sse2::gemm_q4_k,
    gemm_q6_k: sse::sse2::gemm_q6_k,
    add: vec_sse::add,
    rmsnorm: vec_sse::rmsnorm,
    attend: vec_sse::attend,
    silu_mul: vec_sse::silu_mul,
    dot_f32: vec_sse::dot_f32,
    quantize_q8_0: vec_sse::quantize_q8_0,
    quantize_q8_1: vec_sse::quantize_q8_1,
    quantize_q8_k: vec_sse::quantize_q8_k,
    ..SCALAR
};

/// SSSE3: `pmaddubsw` kernels (llama.cpp's SSSE3 approach), the SSE2
/// vector helpers.
#[cfg(target_arch = "x86_64")]
pub const SSSE3: Backend = Backend {
    name: "ssse3",
    available: sse::ssse3::available,
    gemm_q4_0: sse::ssse3::gemm_q4_0,
    gemm_q4_1: sse::ssse3::gemm_q4_1,
    gemm_q5_0: sse::ssse3::gemm_q5_0,
    gemm_q8_0: sse::ssse3::gemm_q8_0,
    gemm_q4_k: sse::ssse3::gemm_q4_k,
    gemm_q6_k: sse::ssse3::gemm_q6_k,
    ..SSE2
};

/// AVX2 + FMA: `vpmaddubsw` kernels, vectorized helpers.
#[cfg(target_arch = "x86_64")]
pub const AVX2: Backend = Backend {
    name: "avx2",
    available: x86::avx2::available,
    gemm_q4_0: x86::avx2::gemm_q4_0,
    gemm_q4_1: x86::avx2::gemm_q4_1,
    gemm_q5_0: x86::avx2::gemm_q5_0,
    gemm_q8_0: x86::avx2::gemm_q8_0,
    gemm_q4_k: x86::avx2::gemm_q4_k,
    gemm_q6_k: x86::avx2::gemm_q6_k,
    add: vec_avx2::add,
    rmsnorm: vec_avx2::rmsnorm,
    attend: vec_avx2::attend,
    silu_mul: vec_avx2::silu_mul,
    dot_f32: vec_avx2::dot_f32,
    quantize_q8_0: vec_avx2::quantize_q8_0,
    quantize_q8_1: vec_avx2::quantize_q8_1,
    quantize_q8_k: vec_avx2::quantize_q8_k,
    ..SCALAR
};

/// AVX-VNNI (VEX `vpdpbusd`).
#[cfg(target_arch = "x86_64")]
pub const AVXVNNI: Backend = Backend {
    name: "avxvnni",
    available: x86::avxvnni::available,
    gemm_q4_0: x86::avxvnni::gemm_q4_0,
    gemm_q4_1: x86::avxvnni::gemm_q4_1,
    gemm_q5_0: x86::avxvnni::gemm_q5_0,
    gemm_q8_0: x86::avxvnni::gemm_q8_0,
    gemm_q4_k: x86::avxvnni::gemm_q4_k,
    gemm_q6_k: x86::avxvnni::gemm_q6_k,
    ..AVX2
};

/// AVX512-VNNI (EVEX `vpdpbusd` on ymm registers).
#[cfg(target_arch = "x86_64")]
pub const AVX512VNNI: Backend = Backend {
    name: "avx512vnni",
    available: x86::vnni512::available,
    gemm_q4_0: x86::vnni512::gemm_q4_0,
    gemm_q4_1: x86::vnni512::gemm_q4_1,
    gemm_q5_0: x86::vnni512::gemm_q5_0,
    gemm_q8_0: x86::vnni512::gemm_q8_0,
    gemm_q4_k: x86::vnni512::gemm_q4_k,
    gemm_q6_k: x86::vnni512::gemm_q6_k,
    ..AVX2
};

/// Integer-only AVX2 kernels for QEMU's TCG (see [`tcg`]).
#[cfg(target_arch = "x86_64")]
pub const TCG: Backend = Backend {
    name: "tcg",
    available: tcg::available,
    gemm_q4_0: tcg::gemm_q4_0_swar,
    gemm_q4_1: tcg::gemm_q4_1_swar,
    gemm_q5_0: tcg::gemm_q5_0_swar,
    gemm_q8_0: tcg::gemm_q8_0_swar,
    gemm_q4_k: tcg::gemm_q4_k_swar,
    // `/bench kernels` under TCG, Qwen's ffn_down 896x4864: 60 ns per 32
    // weights (the plain loop it replaced: 330, the vector kernel: 320).
    gemm_q6_k: tcg::gemm_q6_k_swar,
    // Helpers: integer fixed-point attention and table-based SiLU (float
    // instructions are emulator helper calls under TCG); the AVX2
    // quantizers (integer compares, few float vector ops).
    add: vec_avx2::add,
    attend: tcg::attend,
    silu_mul: tcg::silu_mul,
    dot_f32: vec_avx2::dot_f32,
    quantize_q8_0: vec_avx2::quantize_q8_0,
    quantize_q8_1: vec_avx2::quantize_q8_1,
    quantize_q8_k: vec_avx2::quantize_q8_k,
    ..SCALAR
};

/// The `tcg` backend with the shift/`vpmullw` vector nibble kernels
/// instead of the SWAR ones (for measurements).
#[cfg(target_arch = "x86_64")]
pub const TCG_VEC: Backend = Backend {
    name: "tcg-vec",
    gemm_q4_0: tcg::gemm_q4_0,
    gemm_q4_1: tcg::gemm_q4_1,
    gemm_q5_0: tcg::gemm_q5_0,
    gemm_q8_0: tcg::gemm_q8_0,
    gemm_q4_k: tcg::gemm_q4_k,
    gemm_q6_k: tcg::gemm_q6_k,
    ..TCG
};

/// Every backend compiled in, the scalar reference first, then in order of
/// preference by CPUID (best last). `quant::BACKENDS` is this list.
#[cfg(target_arch = "x86_64")]
pub static BACKENDS: &[&Backend] = &[
    &SCALAR,
    &SSE2,
    &SSSE3,
    &TCG_VEC,
    &TCG,
    &AVX2,
    &AVXVNNI,
    &AVX512VNNI,
];
#[cfg(not(target_arch = "x86_64"))]
pub static BACKENDS: &[&Backend] = &[&SCALAR];

// ---------------------------------------------------------------------------
// Choosing by timing.

/// A monotonic tick counter for [`pick_by_timing`] (the TSC on x86_64).
#[inline]
fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC is available on every x86_64 CPU (unless the OS
        // disabled it for user mode, which neither our kernel nor Linux does).
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// One timed candidate's result.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub name: &'static str,
    /// Best-of-N ticks of one round over the synthetic matrices.
    pub ticks: u64,
}

/// The synthetic workload: one matrix × vector per weight type in `types`
/// (small enough to run in a few ms under emulation).
struct Workload {
    mats: alloc::vec::Vec<(crate::ggml::GgmlType, alloc::vec::Vec<u8>, usize, usize)>,
    x: alloc::vec::Vec<f32>,
}

impl Workload {
    fn new(types: &[crate::ggml::GgmlType]) -> Workload {
        use crate::rng::Rng;
        let mut rng = Rng::new(0x71_3e);
        let (rows, cols) = (64usize, 1024usize);
        let mats = types
            .iter()
            .map(|&ty| {
                let (bytes, _) = crate::quant::testing::random_matrix(&mut rng, ty, rows, cols);
                (ty, bytes, rows, cols)
            })
            .collect();
        let x = crate::quant::testing::random_activations(&mut rng, cols);
        Workload { mats, x }
    }

    /// Ticks of one round with backend `b` (best of `reps`).
    fn time(&self, b: &Backend, reps: usize) -> u64 {
        use crate::quant::QMatrix;
        let mut out = alloc::vec![0.0f32; 64];
        let mut best = u64::MAX;
        let acts: alloc::vec::Vec<_> = self
            .mats
            .iter()
            .map(|(ty, _, _, _)| {
                let at = crate::quant::ActType::for_weight(*ty).expect("supported type");
                SCALAR.quantize_vec(at, &self.x).expect("whole blocks")
            })
            .collect();
        for _ in 0..reps + 1 {
            let t0 = ticks();
            for ((ty, bytes, rows, cols), a) in self.mats.iter().zip(&acts) {
                let w = QMatrix::new(*ty, *cols, *rows, bytes).expect("consistent");
                b.gemm(&w, &a.view(*cols, 1), 0..*rows, &mut out, *rows)
                    .expect("consistent");
            }
            let dt = ticks().wrapping_sub(t0);
            best = best.min(dt);
        }
        best
    }
}

/// Times every available backend (except the scalar reference, unless it is
/// the only one) on matrix × vector products of the given weight types and
/// returns them, fastest first.
pub fn time_backends(types: &[crate::ggml::GgmlType]) -> alloc::vec::Vec<Timing> {
    let wl = Workload::new(types);
    let mut v: alloc::vec::Vec<Timing> = crate::quant::available()
        .filter(|b| b.name != SCALAR.name)
        .map(|b| Timing {
            name: b.name,
            ticks: wl.time(b, 3),
        })
        .collect();
    if v.is_empty() {
        v.push(Timing {
            name: SCALAR.name,
            ticks: 0,
        });
    }
    v.sort_by_key(|t| t.ticks);
    v
}

/// The weight types timed by [`pick_by_timing`]: those of the two shipped
/// models.
pub const TIMED_TYPES: [crate::ggml::GgmlType; 5] = [
    crate::ggml::GgmlType::Q4_1,
    crate::ggml::GgmlType::Q8_0,
    crate::ggml::GgmlType::Q5_0,
    crate::ggml::GgmlType::Q4_K,
    crate::ggml::GgmlType::Q6_K,
];

/// The fastest available backend on this machine, by timing (natively the
/// VNNI/`vpmaddubsw` kernels, under QEMU's TCG the `tcg` ones). Takes a
/// few milliseconds natively, a few hundred under emulation.
pub fn pick_by_timing() -> &'static Backend {
    let t = time_backends(&TIMED_TYPES);
    crate::quant::by_name(t[0].name).unwrap_or(&SCALAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::check_backend;

    #[test]
    fn every_available_backend_matches_scalar() {
        let mut n = 0;
        for b in crate::quant::available() {
            check_backend(b, 2e-5).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 1);
    }

    /// Weight blocks of raw random bytes (every nibble / byte value,
    /// including -128 in Q8_0 and 6-bit scales and mins of all values),
    /// with f16 scales from a list of edge cases (zero, negative,
    /// subnormal, smallest normal): every backend against the scalar
    /// reference, matrix × vector and prefill batches (panels).
    #[test]
    fn edge_value_blocks_match_scalar() {
        use crate::ggml::GgmlType as T;
        use crate::quant::{dequantize_row, ActType, QMatrix};
        use half::f16;
        let scales = [0.0f32, 1.0, -0.5, 6.1035156e-5, 3.0e-7, 0.0123, -0.02, 2.0];
        let mut rng = crate::rng::Rng::new(0xed9e);
        let (rows, cols) = (13usize, 512usize);
        for ty in [T::Q4_0, T::Q4_1, T::Q5_0, T::Q8_0, T::Q4_K, T::Q6_K] {
            let bb = ty.block_bytes();
            let mut w: alloc::vec::Vec<u8> = (0..rows * ty.row_bytes(cols))
                .map(|_| rng.below(256) as u8)
                .collect();
            // Scale fields: (offset, count) of f16 values per block.
            let fields: &[usize] = match ty {
                T::Q4_0 | T::Q5_0 | T::Q8_0 => &[0],
                T::Q4_1 => &[0, 2],
                T::Q4_K => &[0, 2],
                _ => &[208],
            };
            for (i, blk) in w.chunks_exact_mut(bb).enumerate() {
                for (j, &off) in fields.iter().enumerate() {
                    let v = scales[(i * 3 + j * 5) % scales.len()];
                    blk[off..off + 2].copy_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
                }
            }
            let m = QMatrix::new(ty, cols, rows, &w).unwrap();
            let mut wf = alloc::vec![0.0f32; rows * cols];
            for r in 0..rows {
                dequantize_row(ty, m.row(r), &mut wf[r * cols..(r + 1) * cols]).unwrap();
            }
            for nt in [1usize, 5] {
                let x = crate::quant::testing::random_activations(&mut rng, cols * nt);
                let at = ActType::for_weight(ty).unwrap();
                let acts = SCALAR.quantize_vec(at, &x).unwrap();
                let view = acts.view(cols, nt);
                let mut want = alloc::vec![0.0f32; rows * nt];
                SCALAR.gemm(&m, &view, 0..rows, &mut want, rows).unwrap();
                for b in crate::quant::available() {
                    let mut got = alloc::vec![f32::NAN; rows * nt];
                    b.gemm(&m, &view, 0..rows, &mut got, rows).unwrap();
                    for t in 0..nt {
                        for r in 0..rows {
                            let mag: f32 = wf[r * cols..(r + 1) * cols]
                                .iter()
                                .zip(&x[t * cols..(t + 1) * cols])
                                .map(|(a, c)| (a * c).abs())
                                .sum();
                            let (g, e) = (got[t * rows + r], want[t * rows + r]);
                            assert!(
                                (g - e).abs() <= 1e-4 * (mag + 1.0),
                                "{} {ty} row {r} token {t} ({nt} tokens): {g} vs scalar {e}",
                                b.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in BACKENDS.iter().enumerate() {
            for b in &BACKENDS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn timing_picks_an_available_backend() {
        let t = time_backends(&TIMED_TYPES);
        assert!(!t.is_empty());
        for w in t.windows(2) {
            assert!(w[0].ticks <= w[1].ticks);
        }
        let b = pick_by_timing();
        assert!((b.available)());
    }
}
