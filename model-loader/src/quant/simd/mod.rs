//! Hand-vectorized x86_64 backends, and how one is chosen.
//!
//! | name         | needs                         | byte dot product                 |
//! |--------------|-------------------------------|----------------------------------|
//! | `ssse3`      | SSSE3 (128-bit baseline)      | `pmaddubsw` + `pmaddwd`          |
//! | `tcg`        | AVX2                          | shifts + `vpmullw` + adds (fast under QEMU's TCG) |
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
//! All `unsafe` SIMD code lives in this directory; the entry points are safe
//! functions that are only reachable through a backend whose `available()`
//! check passed.

use crate::quant::backend::{Backend, SCALAR};

pub mod driver;
#[cfg(target_arch = "x86_64")]
pub mod tcg;
#[cfg(target_arch = "x86_64")]
pub mod vec_avx2;
#[cfg(target_arch = "x86_64")]
pub mod x86;

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
    gemm_q4_0: tcg::gemm_q4_0,
    gemm_q4_1: tcg::gemm_q4_1,
    gemm_q5_0: tcg::gemm_q5_0,
    gemm_q8_0: tcg::gemm_q8_0,
    // The shift/`vpmullw` k-quant kernels measured 2x slower under TCG
    // than the plain scalar ones (which LLVM compiles to scalar integer
    // code, cheap under TCG); they stay in `tcg` for comparison.
    gemm_q4_k: crate::quant::scalar::gemm_q4_k,
    gemm_q6_k: crate::quant::scalar::gemm_q6_k,
    // The AVX2 helpers: a few vector float instructions (one emulator
    // helper call each) instead of many scalar ones, integer compares
    // instead of float ones where possible.
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

/// The `tcg` backend with its own k-quant kernels (for measurements).
#[cfg(target_arch = "x86_64")]
pub const TCG_K: Backend = Backend {
    name: "tcg-k",
    gemm_q4_k: tcg::gemm_q4_k,
    gemm_q6_k: tcg::gemm_q6_k,
    ..TCG
};

/// Every backend compiled in, the scalar reference first, then in order of
/// preference by CPUID (best last). `quant::BACKENDS` is this list.
#[cfg(target_arch = "x86_64")]
pub static BACKENDS: &[&Backend] = &[&SCALAR, &TCG_K, &TCG, &AVX2, &AVXVNNI, &AVX512VNNI];
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
            .filter_map(|&ty| {
                let (bytes, _) = crate::quant::testing::random_matrix(&mut rng, ty, rows, cols);
                Some((ty, bytes, rows, cols))
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
