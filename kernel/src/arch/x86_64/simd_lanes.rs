//! SIMD work with an exactly known result, for the preemption test
//! (`/test-spin`, `crate::task::spin`): 32 float lanes, held in SIMD
//! registers for the whole loop, each adding its own small integer again
//! and again. Sums of small integers below 2^24 are exact in f32, so lane
//! `i` ends at exactly `iters * (base + i)`; a lane that lost its register
//! across a context switch (a switch that did not save the XMM/YMM state,
//! upper halves included) ends at another value.

use core::arch::x86_64::*;
use core::hint::black_box;

/// Lanes per call.
pub const LANES: usize = 32;

/// Which registers [`add_lanes`] uses: "AVX" (four YMM accumulators) when
/// AVX is enabled, else "SSE" (eight XMM accumulators).
pub fn kind() -> &'static str {
    if super::cpu::avx_enabled() {
        "AVX"
    } else {
        "SSE"
    }
}

/// Adds `base + i` to lane `i` (in registers), `iters` times; returns the
/// lanes. Exact while `iters * (base + 31) < 2^24`.
pub fn add_lanes(base: f32, iters: u32) -> [f32; LANES] {
    let inc: [f32; LANES] = core::array::from_fn(|i| base + i as f32);
    let mut out = [0f32; LANES];
    if super::cpu::avx_enabled() {
        // SAFETY: AVX is enabled (CPUID said present, XCR0 and CR4 set).
        unsafe { add_lanes_avx(&inc, black_box(iters), &mut out) };
    } else {
        // SAFETY: SSE is always on in this kernel (target and entry stub).
        unsafe { add_lanes_sse(&inc, black_box(iters), &mut out) };
    }
    out
}

#[inline(never)]
#[target_feature(enable = "avx")]
fn add_lanes_avx(inc: &[f32; LANES], iters: u32, out: &mut [f32; LANES]) {
    // SAFETY: each load/store reads or writes 8 floats inside a 32-float
    // array.
    unsafe {
        let p = inc.as_ptr();
        let (i0, i1, i2, i3) = (
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        );
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        for _ in 0..iters {
            a0 = _mm256_add_ps(a0, i0);
            a1 = _mm256_add_ps(a1, i1);
            a2 = _mm256_add_ps(a2, i2);
            a3 = _mm256_add_ps(a3, i3);
        }
        let q = out.as_mut_ptr();
        _mm256_storeu_ps(q, a0);
        _mm256_storeu_ps(q.add(8), a1);
        _mm256_storeu_ps(q.add(16), a2);
        _mm256_storeu_ps(q.add(24), a3);
    }
}

#[inline(never)]
#[target_feature(enable = "sse")]
fn add_lanes_sse(inc: &[f32; LANES], iters: u32, out: &mut [f32; LANES]) {
    let mut acc = [_mm_setzero_ps(); 8];
    let incs: [__m128; 8] = core::array::from_fn(|k| {
        // SAFETY: each load reads 4 floats inside a 32-float array.
        unsafe { _mm_loadu_ps(inc.as_ptr().add(4 * k)) }
    });
    for _ in 0..iters {
        for k in 0..8 {
            acc[k] = _mm_add_ps(acc[k], incs[k]);
        }
    }
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: writes 4 floats inside a 32-float array.
        unsafe { _mm_storeu_ps(out.as_mut_ptr().add(4 * k), *a) };
    }
}
