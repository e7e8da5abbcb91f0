//! SSE2 versions of the decoder's vector helpers (f32 dot, add, rmsnorm,
//! attention over the f16 KV cache, SiLU, activation quantizers), for the
//! `sse2` and `ssse3` backends, and the small SSE2 building blocks their
//! matrix kernels share (f16 → f32 with integer operations, 4-row
//! reductions).
//!
//! Everything here is plain SSE2, the x86_64 baseline (the kernel's target
//! enables it too), so no `target_feature` attribute or CPUID check is
//! needed. CPUs without AVX2 often lack F16C as well, so f16 values are
//! converted with integer operations (exactly, subnormals included).
//! The exponentials of softmax stay scalar `libm` as in the AVX2 helpers;
//! SiLU has its own vector `exp`. Results differ from the scalar backend
//! only by summation order (the quantizers not at all).

use core::arch::x86_64::*;

use half::f16;

use crate::quant::blocks::{round_f16, BlockQ8_0, BlockQ8_1, BlockQ8_K};
use crate::quant::scalar;

// ---------------------------------------------------------------------------
// Building blocks shared with the matrix kernels.

/// Four f16 values (the low 16 bits of each 32-bit lane; the high bits must
/// be zero) as f32, exactly, with integer operations only (no F16C): the
/// exponent is rebased by adding 112 to it; zero/subnormal inputs are
/// renormalized by one float subtraction of normal numbers (no denormal
/// operands), Inf/NaN get the maximal exponent.
#[inline(always)]
pub(super) unsafe fn cvt_ph4(h: __m128i) -> __m128 {
    let em = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
    let sign = _mm_slli_epi32(_mm_xor_si128(h, em), 16);
    let o = _mm_slli_epi32(em, 13);
    let exp = _mm_and_si128(o, _mm_set1_epi32(0x0f80_0000));
    let is_infnan = _mm_cmpeq_epi32(exp, _mm_set1_epi32(0x0f80_0000));
    let is_sub = _mm_cmpeq_epi32(exp, _mm_setzero_si128());
    // Rebase the exponent (15 → 127), twice for Inf/NaN (31 → 255).
    let o = _mm_add_epi32(o, _mm_set1_epi32(112 << 23));
    let o = _mm_add_epi32(o, _mm_and_si128(is_infnan, _mm_set1_epi32(112 << 23)));
    // Zero / subnormal: m · 2^-24 = (2^-14 · (1 + m/1024)) - 2^-14.
    let magic = _mm_castsi128_ps(_mm_set1_epi32(113 << 23));
    let sub = _mm_sub_ps(
        _mm_castsi128_ps(_mm_add_epi32(o, _mm_set1_epi32(1 << 23))),
        magic,
    );
    let o = _mm_or_si128(
        _mm_andnot_si128(is_sub, o),
        _mm_and_si128(is_sub, _mm_castps_si128(sub)),
    );
    _mm_castsi128_ps(_mm_or_si128(o, sign))
}

/// Eight f16 values at `p` as two vectors of f32.
#[inline(always)]
unsafe fn load8_f16(p: *const f16) -> (__m128, __m128) {
    let v = _mm_loadu_si128(p as *const __m128i);
    let z = _mm_setzero_si128();
    (
        cvt_ph4(_mm_unpacklo_epi16(v, z)),
        cvt_ph4(_mm_unpackhi_epi16(v, z)),
    )
}

/// `[Σs0, Σs1, Σs2, Σs3]`: the lane sums of four i32 vectors, one per lane.
#[inline(always)]
pub(super) unsafe fn reduce4(s0: __m128i, s1: __m128i, s2: __m128i, s3: __m128i) -> __m128i {
    let u0 = _mm_add_epi32(_mm_unpacklo_epi32(s0, s1), _mm_unpackhi_epi32(s0, s1));
    let u1 = _mm_add_epi32(_mm_unpacklo_epi32(s2, s3), _mm_unpackhi_epi32(s2, s3));
    _mm_add_epi32(_mm_unpacklo_epi64(u0, u1), _mm_unpackhi_epi64(u0, u1))
}

/// The sum of the four i32 lanes.
#[inline(always)]
pub(super) unsafe fn hsum_epi32(s: __m128i) -> i32 {
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    _mm_cvtsi128_si32(s)
}

#[inline(always)]
unsafe fn hsum_ps(v: __m128) -> f32 {
    let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    _mm_cvtss_f32(s)
}

// ---------------------------------------------------------------------------
// Vector helpers.

/// `a · b`.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: SSE2 is the x86_64 baseline; every load is below `n`.
    unsafe {
        let mut acc = [_mm_setzero_ps(); 4];
        let mut i = 0;
        while i + 16 <= n {
            for (k, v) in acc.iter_mut().enumerate() {
                let p = _mm_mul_ps(
                    _mm_loadu_ps(pa.add(i + 4 * k)),
                    _mm_loadu_ps(pb.add(i + 4 * k)),
                );
                *v = _mm_add_ps(*v, p);
            }
            i += 16;
        }
        while i + 4 <= n {
            let p = _mm_mul_ps(_mm_loadu_ps(pa.add(i)), _mm_loadu_ps(pb.add(i)));
            acc[0] = _mm_add_ps(acc[0], p);
            i += 4;
        }
        let s = _mm_add_ps(_mm_add_ps(acc[0], acc[1]), _mm_add_ps(acc[2], acc[3]));
        let mut r = hsum_ps(s);
        while i < n {
            r += a[i] * b[i];
            i += 1;
        }
        r
    }
}

/// `y += x`.
pub fn add(y: &mut [f32], x: &[f32]) {
    let n = y.len().min(x.len());
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    // SAFETY: SSE2 baseline; indices < n.
    unsafe {
        while i + 4 <= n {
            let v = _mm_add_ps(_mm_loadu_ps(py.add(i)), _mm_loadu_ps(px.add(i)));
            _mm_storeu_ps(py.add(i), v);
            i += 4;
        }
    }
    while i < n {
        y[i] += x[i];
        i += 1;
    }
}

/// RMSNorm (see [`scalar::rmsnorm`]): the sum of squares in f64.
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let n = x.len();
    let px = x.as_ptr();
    let mut i = 0;
    // SAFETY: SSE2 baseline; loads below n = x.len().
    let mut sum = unsafe {
        let mut acc = [_mm_setzero_pd(); 2];
        while i + 4 <= n {
            let v = _mm_loadu_ps(px.add(i));
            let sq = _mm_mul_ps(v, v);
            acc[0] = _mm_add_pd(acc[0], _mm_cvtps_pd(sq));
            acc[1] = _mm_add_pd(acc[1], _mm_cvtps_pd(_mm_movehl_ps(sq, sq)));
            i += 4;
        }
        let s = _mm_add_pd(acc[0], acc[1]);
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    };
    while i < n {
        sum += (x[i] * x[i]) as f64;
        i += 1;
    }
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / libm::sqrtf(mean + eps);
    let m = n.min(out.len()).min(w.len());
    let (po, pw) = (out.as_mut_ptr(), w.as_ptr());
    let mut i = 0;
    // SAFETY: SSE2 baseline; indices < m = min of the three lengths.
    unsafe {
        let vs = _mm_set1_ps(scale);
        while i + 4 <= m {
            let v = _mm_mul_ps(
                _mm_mul_ps(_mm_loadu_ps(px.add(i)), vs),
                _mm_loadu_ps(pw.add(i)),
            );
            _mm_storeu_ps(po.add(i), v);
            i += 4;
        }
    }
    while i < m {
        out[i] = (x[i] * scale) * w[i];
        i += 1;
    }
}

/// One attention head (see [`scalar::attend`]), f16 keys and values
/// converted with integer operations.
pub fn attend(
    q: &[f16],
    keys: &[f16],
    values: &[f16],
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let hd = q.len();
    let n_pos = scores.len();
    assert!(keys.len() >= n_pos * hd && values.len() >= n_pos * hd && out.len() >= hd);
    if !hd.is_multiple_of(8) || hd > 256 {
        scalar::attend(q, keys, values, scale, scores, out);
        return;
    }
    let nv = hd / 4;
    // SAFETY: SSE2 baseline; q has hd = 4 · nv elements (nv <= 64), key
    // and value rows p < n_pos have hd elements each (asserted), out >= hd.
    unsafe {
        let mut qv = [_mm_setzero_ps(); 64];
        for j in 0..hd / 8 {
            let (a, b) = load8_f16(q.as_ptr().add(8 * j));
            qv[2 * j] = a;
            qv[2 * j + 1] = b;
        }
        let kp = keys.as_ptr();
        for (p, s) in scores.iter_mut().enumerate() {
            let k = kp.add(p * hd);
            let mut a0 = _mm_setzero_ps();
            let mut a1 = _mm_setzero_ps();
            for j in 0..hd / 8 {
                let (x, y) = load8_f16(k.add(8 * j));
                a0 = _mm_add_ps(a0, _mm_mul_ps(qv[2 * j], x));
                a1 = _mm_add_ps(a1, _mm_mul_ps(qv[2 * j + 1], y));
            }
            *s = hsum_ps(_mm_add_ps(a0, a1)) * scale;
        }
        scalar::softmax(scores);
        let mut acc = [_mm_setzero_ps(); 64];
        let vp = values.as_ptr();
        for (p, &s) in scores.iter().enumerate() {
            let v = vp.add(p * hd);
            let sv = _mm_set1_ps(s);
            for j in 0..hd / 8 {
                let (x, y) = load8_f16(v.add(8 * j));
                acc[2 * j] = _mm_add_ps(acc[2 * j], _mm_mul_ps(sv, x));
                acc[2 * j + 1] = _mm_add_ps(acc[2 * j + 1], _mm_mul_ps(sv, y));
            }
        }
        for (j, a) in acc.iter().enumerate().take(nv) {
            _mm_storeu_ps(out.as_mut_ptr().add(4 * j), *a);
        }
    }
}

/// `exp(x)` for 4 lanes without FMA (Cephes: `2^n · p(r)`, `n` rounded by
/// `cvtps2dq`, a two-constant reduction exact for |n| <= 128, degree-6
/// polynomial; clamped to [-87.3, 88.7]).
#[inline(always)]
unsafe fn exp4(x: __m128) -> __m128 {
    let x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.3)), _mm_set1_ps(88.7));
    let ni = _mm_cvtps_epi32(_mm_mul_ps(x, _mm_set1_ps(core::f32::consts::LOG2_E)));
    let n = _mm_cvtepi32_ps(ni);
    let r = _mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(0.693_359_4)));
    let r = _mm_sub_ps(r, _mm_mul_ps(n, _mm_set1_ps(-2.121_944_4e-4)));
    let mut p = _mm_set1_ps(1.987_569_1e-4);
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.398_199_9e-3));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(8.333_452e-3));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(4.166_579_6e-2));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.666_666_5e-1));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(0.5));
    p = _mm_add_ps(
        _mm_mul_ps(p, _mm_mul_ps(r, r)),
        _mm_add_ps(r, _mm_set1_ps(1.0)),
    );
    // 2^n in two factors (n may be 128).
    let half = _mm_srai_epi32(ni, 1);
    let s1 = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(half, _mm_set1_epi32(127)), 23));
    let s2 = _mm_castsi128_ps(_mm_slli_epi32(
        _mm_add_epi32(_mm_sub_epi32(ni, half), _mm_set1_epi32(127)),
        23,
    ));
    _mm_mul_ps(_mm_mul_ps(p, s1), s2)
}

/// `gate = silu(gate) * up` with a vectorized exponential.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let (pg, pu) = (gate.as_mut_ptr(), up.as_ptr());
    let mut i = 0;
    // SAFETY: SSE2 baseline; indices < n.
    unsafe {
        let one = _mm_set1_ps(1.0);
        while i + 4 <= n {
            let g = _mm_loadu_ps(pg.add(i));
            let e = exp4(_mm_sub_ps(_mm_setzero_ps(), g));
            let v = _mm_mul_ps(_mm_div_ps(g, _mm_add_ps(one, e)), _mm_loadu_ps(pu.add(i)));
            _mm_storeu_ps(pg.add(i), v);
            i += 4;
        }
    }
    scalar::silu_mul(&mut gate[i..n], &up[i..n]);
}

// ---------------------------------------------------------------------------
// Activation quantizers, bit-identical to `quant::act`: `cvtps2dq` rounds
// half to even under the default MXCSR, as `rintf`. Products are cleared
// where NaN and clamped to [-128, 127] before the conversion (the scalar
// `as i32` maps NaN to 0 and saturates), so the quants match for any input.

/// max |x| over `n` (a multiple of 4) floats at `p`; NaN is ignored, as
/// by the scalar `a > amax` (`maxps` returns its second operand when the
/// first is NaN).
#[inline(always)]
unsafe fn amax(p: *const f32, n: usize) -> f32 {
    let m = _mm_castsi128_ps(_mm_set1_epi32(0x7fff_ffff));
    let mut acc = _mm_setzero_ps();
    let mut i = 0;
    while i < n {
        acc = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(p.add(i)), m), acc);
        i += 4;
    }
    let acc = _mm_max_ps(acc, _mm_movehl_ps(acc, acc));
    let acc = _mm_max_ss(acc, _mm_shuffle_ps(acc, acc, 0x55));
    _mm_cvtss_f32(acc)
}

/// `round(x * s)` for 4 floats at `p`, as i32 clamped to [-128, 127].
#[inline(always)]
unsafe fn round4(p: *const f32, s: __m128) -> __m128i {
    let v = _mm_mul_ps(_mm_loadu_ps(p), s);
    let v = _mm_and_ps(v, _mm_cmpord_ps(v, v));
    let v = _mm_min_ps(_mm_max_ps(v, _mm_set1_ps(-128.0)), _mm_set1_ps(127.0));
    _mm_cvtps_epi32(v)
}

/// 32 quants of `x * id` at `p` into `q`; returns their i32 lane sums.
#[inline(always)]
unsafe fn quant32(p: *const f32, id: f32, q: *mut i8) -> __m128i {
    let s = _mm_set1_ps(id);
    let mut sum = _mm_setzero_si128();
    for h in 0..2 {
        let v: [__m128i; 4] = core::array::from_fn(|k| round4(p.add(16 * h + 4 * k), s));
        sum = _mm_add_epi32(
            sum,
            _mm_add_epi32(_mm_add_epi32(v[0], v[1]), _mm_add_epi32(v[2], v[3])),
        );
        let b = _mm_packs_epi16(_mm_packs_epi32(v[0], v[1]), _mm_packs_epi32(v[2], v[3]));
        _mm_storeu_si128(q.add(16 * h) as *mut __m128i, b);
    }
    sum
}

/// Q8_0 activations (see [`crate::quant::act::quantize_q8_0`]).
pub fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert!(x.len() >= 32 * y.len());
    for (xb, yb) in x.chunks_exact(32).zip(y.iter_mut()) {
        // SAFETY: SSE2 baseline; 32 floats in xb, 32 bytes in yb.qs.
        unsafe {
            let amax = amax(xb.as_ptr(), 32);
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            yb.d = round_f16(d);
            quant32(xb.as_ptr(), id, yb.qs.as_mut_ptr());
        }
    }
}

/// Q8_1 activations (see [`crate::quant::act::quantize_q8_1`]).
pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert!(x.len() >= 32 * y.len());
    for (xb, yb) in x.chunks_exact(32).zip(y.iter_mut()) {
        // SAFETY: as in `quantize_q8_0`.
        unsafe {
            let amax = amax(xb.as_ptr(), 32);
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            yb.d = round_f16(d);
            let sum = hsum_epi32(quant32(xb.as_ptr(), id, yb.qs.as_mut_ptr()));
            yb.s = round_f16(d * sum as f32);
        }
    }
}

/// Q8_K activations (see [`crate::quant::act::quantize_q8_k`]).
pub fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8_K]) {
    assert!(x.len() >= 256 * y.len());
    for (xb, yb) in x.chunks_exact(256).zip(y.iter_mut()) {
        // SAFETY: SSE2 baseline; 256 floats in xb, 256 bytes in yb.qs.
        unsafe {
            let amax = amax(xb.as_ptr(), 256);
            if amax == 0.0 {
                *yb = BlockQ8_K::ZERO;
                continue;
            }
            // The first element of that magnitude, with its sign.
            let bits = amax.to_bits();
            let max = *xb
                .iter()
                .find(|v| v.to_bits() & 0x7fff_ffff == bits)
                .unwrap_or(&0.0);
            let iscale = -127.0 / max;
            for g in 0..8 {
                let s = quant32(
                    xb.as_ptr().add(32 * g),
                    iscale,
                    yb.qs.as_mut_ptr().add(32 * g),
                );
                let _ = s;
            }
            // Sums of 16 quants: sign-extend and add pairs with pmaddwd.
            let ones = _mm_set1_epi16(1);
            for k in 0..16 {
                let q = _mm_loadu_si128(yb.qs.as_ptr().add(16 * k) as *const __m128i);
                let lo = _mm_srai_epi16(_mm_unpacklo_epi8(q, q), 8);
                let hi = _mm_srai_epi16(_mm_unpackhi_epi8(q, q), 8);
                yb.bsums[k] = hsum_epi32(_mm_madd_epi16(_mm_add_epi16(lo, hi), ones)) as i16;
            }
            yb.d = 1.0 / iscale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvt_ph4_is_exact_for_every_f16() {
        for base in (0..65536u32).step_by(4) {
            let h: [u32; 4] = core::array::from_fn(|k| base + k as u32);
            let mut out = [0.0f32; 4];
            // SAFETY: SSE2 baseline.
            unsafe {
                let v = cvt_ph4(_mm_loadu_si128(h.as_ptr() as *const __m128i));
                _mm_storeu_ps(out.as_mut_ptr(), v);
            }
            for k in 0..4 {
                let want = f16::from_bits(h[k] as u16).to_f32();
                assert!(
                    out[k].to_bits() == want.to_bits() || (want.is_nan() && out[k].is_nan()),
                    "f16 {:#06x}: {} vs {}",
                    h[k],
                    out[k],
                    want
                );
            }
        }
    }

    #[test]
    fn exp4_is_close_to_libm() {
        let mut x = -90.0f32;
        while x < 90.0 {
            let v: [f32; 4] = core::array::from_fn(|k| x + k as f32 * 0.01);
            let mut out = [0.0f32; 4];
            // SAFETY: SSE2 baseline.
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), exp4(_mm_loadu_ps(v.as_ptr()))) };
            for k in 0..4 {
                let want = libm::expf(v[k].clamp(-87.3, 88.7));
                let err = (out[k] - want).abs() / want;
                assert!(err < 1e-6, "exp({}) = {} vs {}", v[k], out[k], want);
            }
            x += 0.173;
        }
    }

    #[test]
    fn quantizers_match_scalar_on_odd_inputs() {
        use crate::quant::act;
        // NaN, infinities, subnormal-only blocks, exact ties, signed zeros.
        let mut x = [0.0f32; 512];
        for (i, v) in x.iter_mut().enumerate() {
            *v = (i as f32 - 200.0) * 0.5;
        }
        x[3] = f32::NAN;
        x[40] = -0.0;
        for v in &mut x[64..96] {
            *v = 1e-40;
        }
        x[65] = -3e-41;
        x[300] = -1000.0;
        let (mut a, mut b) = ([BlockQ8_0::ZERO; 16], [BlockQ8_0::ZERO; 16]);
        act::quantize_q8_0(&x, &mut a);
        quantize_q8_0(&x, &mut b);
        assert_eq!(a, b);
        let (mut a, mut b) = ([BlockQ8_K::ZERO; 2], [BlockQ8_K::ZERO; 2]);
        act::quantize_q8_k(&x, &mut a);
        quantize_q8_k(&x, &mut b);
        assert_eq!(a, b);
        let x1 = &x[96..];
        let (mut a, mut b) = ([BlockQ8_1::ZERO; 13], [BlockQ8_1::ZERO; 13]);
        act::quantize_q8_1(x1, &mut a);
        quantize_q8_1(x1, &mut b);
        assert_eq!(a, b);
    }
}
