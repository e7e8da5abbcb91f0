//! AVX2 + FMA + F16C versions of the decoder's vector helpers (f32 dot,
//! add, rmsnorm, rope and attention over the f16 KV cache). The
//! exponentials (softmax, SiLU) stay scalar `libm`, so results differ from the
//! scalar backend only by summation order.
//!
//! # Safety
//! Every `unsafe fn` here needs AVX2 + FMA + F16C (the `avx2`/`tcg`
//! backends' `available()` checks them); those taking raw pointers read
//! only the element count their doc names (8 f16 values, `n` f32 values, a
//! 32-value block), which their callers take from slices of that length.
//! The public functions are safe and only reached through such a backend.

use core::arch::x86_64::*;

use half::f16;

use crate::quant::scalar;

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, v) in acc.iter_mut().enumerate() {
            let x = _mm256_loadu_ps(pa.add(i + 8 * k));
            let y = _mm256_loadu_ps(pb.add(i + 8 * k));
            *v = _mm256_fmadd_ps(x, y, *v);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(pa.add(i)),
            _mm256_loadu_ps(pb.add(i)),
            acc[0],
        );
        i += 8;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut r = hsum(s);
    while i < n {
        r += a[i] * b[i];
        i += 1;
    }
    r
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: this backend is only selected when AVX2+FMA are available;
    // the loops stay below min(a.len(), b.len()).
    unsafe { dot_f32_impl(a, b) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn add_impl(y: &mut [f32], x: &[f32]) {
    let n = y.len().min(x.len());
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_add_ps(_mm256_loadu_ps(py.add(i)), _mm256_loadu_ps(px.add(i)));
        _mm256_storeu_ps(py.add(i), v);
        i += 8;
    }
    while i < n {
        y[i] += x[i];
        i += 1;
    }
}

pub fn add(y: &mut [f32], x: &[f32]) {
    // SAFETY: AVX2 is available (backend selection); indices < min length.
    unsafe { add_impl(y, x) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn rmsnorm_impl(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    // Sum of squares in f64, as the scalar reference (and llama.cpp).
    let n = x.len();
    let px = x.as_ptr();
    let mut acc = [_mm256_setzero_pd(); 2];
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_loadu_ps(px.add(i));
        let sq = _mm256_mul_ps(v, v);
        acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
        i += 8;
    }
    let s = _mm256_add_pd(acc[0], acc[1]);
    let s2 = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    let mut sum = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    while i < n {
        sum += (x[i] * x[i]) as f64;
        i += 1;
    }
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / libm::sqrtf(mean + eps);
    let m = n.min(out.len()).min(w.len());
    let vs = _mm256_set1_ps(scale);
    let (po, pw) = (out.as_mut_ptr(), w.as_ptr());
    let mut i = 0;
    while i + 8 <= m {
        let v = _mm256_mul_ps(
            _mm256_mul_ps(_mm256_loadu_ps(px.add(i)), vs),
            _mm256_loadu_ps(pw.add(i)),
        );
        _mm256_storeu_ps(po.add(i), v);
        i += 8;
    }
    while i < m {
        out[i] = (x[i] * scale) * w[i];
        i += 1;
    }
}

pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    // SAFETY: AVX2 is available (backend selection); indices < lengths.
    unsafe { rmsnorm_impl(out, x, w, eps) }
}

/// Eight f16 values at `p` as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load8_f16(p: *const f16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_impl(
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
    if !hd.is_multiple_of(8) {
        scalar::attend(q, keys, values, scale, scores, out);
        return;
    }
    // q in registers as f32 (head_dim up to 256 here; larger falls back).
    if hd > 256 {
        scalar::attend(q, keys, values, scale, scores, out);
        return;
    }
    let mut qv = [_mm256_setzero_ps(); 32];
    for (j, v) in qv.iter_mut().enumerate().take(hd / 8) {
        *v = load8_f16(q.as_ptr().add(8 * j));
    }
    let kp = keys.as_ptr();
    for (p, s) in scores.iter_mut().enumerate() {
        let k = kp.add(p * hd);
        let mut a0 = _mm256_setzero_ps();
        let mut a1 = _mm256_setzero_ps();
        let mut j = 0;
        while j + 2 <= hd / 8 {
            a0 = _mm256_fmadd_ps(qv[j], load8_f16(k.add(8 * j)), a0);
            a1 = _mm256_fmadd_ps(qv[j + 1], load8_f16(k.add(8 * j + 8)), a1);
            j += 2;
        }
        if j < hd / 8 {
            a0 = _mm256_fmadd_ps(qv[j], load8_f16(k.add(8 * j)), a0);
        }
        *s = hsum(_mm256_add_ps(a0, a1)) * scale;
    }
    scalar::softmax(scores);
    let mut acc = [_mm256_setzero_ps(); 32];
    let vp = values.as_ptr();
    for (p, &s) in scores.iter().enumerate() {
        let v = vp.add(p * hd);
        let sv = _mm256_set1_ps(s);
        for (j, a) in acc.iter_mut().enumerate().take(hd / 8) {
            *a = _mm256_fmadd_ps(sv, load8_f16(v.add(8 * j)), *a);
        }
    }
    for (j, a) in acc.iter().enumerate().take(hd / 8) {
        _mm256_storeu_ps(out.as_mut_ptr().add(8 * j), *a);
    }
}

pub fn attend(
    q: &[f16],
    keys: &[f16],
    values: &[f16],
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    // SAFETY: AVX2/FMA/F16C are available (backend selection); sizes are
    // asserted in the function.
    unsafe { attend_impl(q, keys, values, scale, scores, out) }
}

/// `exp(x)` for 8 lanes (Cephes-style: `2^n · p(r)` with a degree-6
/// polynomial on `|r| <= ln2/2`; within 2 ulp of `libm::expf` on the
/// clamped range [-87.3, 88.7]).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp8(x: __m256) -> __m256 {
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-87.3)),
        _mm256_set1_ps(88.7),
    );
    let n = _mm256_round_ps(
        _mm256_mul_ps(x, _mm256_set1_ps(core::f32::consts::LOG2_E)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
    );
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
    p = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    // 2^n: n in [-126, 128] after the clamp; build the exponent bits
    // (n = 128 only when p < 1 keeps the product finite... so split it).
    let ni = _mm256_cvtps_epi32(n);
    let half = _mm256_srai_epi32(ni, 1);
    let s1 = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(half, _mm256_set1_epi32(127)),
        23,
    ));
    let s2 = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)),
        23,
    ));
    _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn silu_mul_impl(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let (pg, pu) = (gate.as_mut_ptr(), up.as_ptr());
    let one = _mm256_set1_ps(1.0);
    let mut i = 0;
    while i + 8 <= n {
        let g = _mm256_loadu_ps(pg.add(i));
        let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        let v = _mm256_mul_ps(
            _mm256_div_ps(g, _mm256_add_ps(one, e)),
            _mm256_loadu_ps(pu.add(i)),
        );
        _mm256_storeu_ps(pg.add(i), v);
        i += 8;
    }
    scalar::silu_mul(&mut gate[i..n], &up[i..n]);
}

/// `gate = silu(gate) * up` with a vectorized exponential.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    // SAFETY: AVX2/FMA are available (backend selection); indices < min length.
    unsafe { silu_mul_impl(gate, up) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp8_is_close_to_libm() {
        if !super::super::x86::avx2::available() {
            return;
        }
        let mut x = -90.0f32;
        while x < 90.0 {
            let v: [f32; 8] = core::array::from_fn(|k| x + k as f32 * 0.01);
            let mut out = [0.0f32; 8];
            // SAFETY: AVX2/FMA checked above.
            unsafe {
                use core::arch::x86_64::*;
                _mm256_storeu_ps(out.as_mut_ptr(), super::exp8(_mm256_loadu_ps(v.as_ptr())));
            }
            for k in 0..8 {
                let want = libm::expf(v[k].clamp(-87.3, 88.7));
                let err = (out[k] - want).abs() / want;
                assert!(err < 5e-7, "exp({}) = {} vs {}", v[k], out[k], want);
            }
            x += 0.173;
        }
    }
}

// ---------------------------------------------------------------------------
// Activation quantizers, bit-identical to `quant::act` for finite inputs
// (`vcvtps2dq` rounds half to even under the default MXCSR, as `rintf`).
// The largest magnitude is found with integer compares on the bit patterns
// (equal to float compares for finite values), which also keeps them cheap
// under QEMU's TCG.

use crate::quant::blocks::{round_f16, BlockQ8_0, BlockQ8_1, BlockQ8_K};

/// max |x| of 32 floats, and the quantized `round(x * id)` for an `id`
/// computed from it by `scale`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn amax_bits(p: *const f32, n: usize) -> u32 {
    let m = _mm256_set1_epi32(0x7fff_ffff);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i < n {
        let v = _mm256_and_si256(_mm256_loadu_si256(p.add(i) as *const __m256i), m);
        acc = _mm256_max_epi32(acc, v);
        i += 8;
    }
    let mut t = [0u32; 8];
    _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, acc);
    let mut r = 0;
    for v in t {
        // NaN patterns (> inf) are ignored, as the scalar `a > amax` does.
        if v > r && v <= 0x7f80_0000 {
            r = v;
        }
    }
    r
}

/// 32 values `round(x * id)` as i32.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn round32(p: *const f32, id: f32, out: &mut [i32; 32]) {
    let vid = _mm256_set1_ps(id);
    for k in 0..4 {
        let v = _mm256_mul_ps(_mm256_loadu_ps(p.add(8 * k)), vid);
        _mm256_storeu_si256(
            out.as_mut_ptr().add(8 * k) as *mut __m256i,
            _mm256_cvtps_epi32(v),
        );
    }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_q8_0_impl(x: &[f32], y: &mut [BlockQ8_0]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.iter_mut()) {
        let amax = f32::from_bits(amax_bits(xb.as_ptr(), 32));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        yb.d = round_f16(d);
        let mut q = [0i32; 32];
        round32(xb.as_ptr(), id, &mut q);
        for (o, v) in yb.qs.iter_mut().zip(q) {
            *o = v.clamp(-128, 127) as i8;
        }
    }
}

/// Q8_0 activations (see [`crate::quant::act::quantize_q8_0`]).
pub fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert!(x.len() >= 32 * y.len());
    // SAFETY: AVX2 is available (backend selection); each block reads 32
    // floats inside `x` (asserted).
    unsafe { quantize_q8_0_impl(x, y) }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_q8_1_impl(x: &[f32], y: &mut [BlockQ8_1]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.iter_mut()) {
        let amax = f32::from_bits(amax_bits(xb.as_ptr(), 32));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        yb.d = round_f16(d);
        let mut q = [0i32; 32];
        round32(xb.as_ptr(), id, &mut q);
        let mut sum = 0i32;
        for (o, v) in yb.qs.iter_mut().zip(q) {
            sum += v;
            *o = v.clamp(-128, 127) as i8;
        }
        yb.s = round_f16(d * sum as f32);
    }
}

/// Q8_1 activations (see [`crate::quant::act::quantize_q8_1`]).
pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert!(x.len() >= 32 * y.len());
    // SAFETY: as in `quantize_q8_0`.
    unsafe { quantize_q8_1_impl(x, y) }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_q8_k_impl(x: &[f32], y: &mut [BlockQ8_K]) {
    for (xb, yb) in x.chunks_exact(256).zip(y.iter_mut()) {
        let abits = amax_bits(xb.as_ptr(), 256);
        if abits == 0 {
            *yb = BlockQ8_K::ZERO;
            continue;
        }
        // The first element of that magnitude, with its sign.
        let max = *xb
            .iter()
            .find(|v| v.to_bits() & 0x7fff_ffff == abits)
            .unwrap_or(&0.0);
        let iscale = -127.0 / max;
        let mut q = [0i32; 32];
        for c in 0..8 {
            round32(xb.as_ptr().add(32 * c), iscale, &mut q);
            for (o, v) in yb.qs[32 * c..32 * c + 32].iter_mut().zip(q) {
                *o = v.clamp(-128, 127) as i8;
            }
        }
        for (s, g) in yb.bsums.iter_mut().zip(yb.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        yb.d = 1.0 / iscale;
    }
}

/// Q8_K activations (see [`crate::quant::act::quantize_q8_k`]).
pub fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8_K]) {
    assert!(x.len() >= 256 * y.len());
    // SAFETY: as in `quantize_q8_0`.
    unsafe { quantize_q8_k_impl(x, y) }
}
