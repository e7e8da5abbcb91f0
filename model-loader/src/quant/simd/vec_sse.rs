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
//!
//! Every helper the decoder calls gives the scalar reference's results bit
//! for bit (as do the matrix kernels), so a run on these backends is the
//! scalar run, only faster: `add` and the scaling of `rmsnorm` are
//! element-wise; the `rmsnorm` sum of squares is the scalar loop; `attend`
//! puts one position per lane, so each lane sums its dot product in the
//! scalar order; `silu_mul` evaluates libm's `expf` algorithm on 4 lanes;
//! the quantizers round like `act.rs`. Only `dot_f32` (not used by the
//! decoder) sums in another order.
//!
//! # Safety
//! The `unsafe fn`s here need only SSE2 (always present on x86_64); those
//! taking raw pointers read or write only the element count their doc
//! names (8 f16 values, `n` or 4 f32 values, a 32-value block), which their
//! callers take from slices of that length.

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

/// [`cvt_ph4`] in fewer operations: the f16 bits moved into an f32's
/// exponent and mantissa, times 2^112 (exact: a subnormal f16 becomes a
/// denormal f32 operand, which is exact but slow on some CPUs, hence only
/// for the attention's keys and values, where subnormals are rare), and
/// the maximal exponent for Inf/NaN (ryg's `half_to_float_SSE2`).
#[inline(always)]
unsafe fn cvt_ph4_fast(h: __m128i) -> __m128 {
    let em = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
    let sign = _mm_slli_epi32(_mm_xor_si128(h, em), 16);
    let scaled = _mm_mul_ps(
        _mm_castsi128_ps(_mm_slli_epi32(em, 13)),
        _mm_castsi128_ps(_mm_set1_epi32((127 + 112) << 23)),
    );
    let infnan = _mm_and_si128(
        _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff)),
        _mm_set1_epi32(0x7f80_0000),
    );
    _mm_or_ps(scaled, _mm_castsi128_ps(_mm_or_si128(sign, infnan)))
}

/// Eight f16 values at `p` as two vectors of f32.
#[inline(always)]
unsafe fn load8_f16(p: *const f16) -> (__m128, __m128) {
    let v = _mm_loadu_si128(p as *const __m128i);
    let z = _mm_setzero_si128();
    (
        cvt_ph4_fast(_mm_unpacklo_epi16(v, z)),
        cvt_ph4_fast(_mm_unpackhi_epi16(v, z)),
    )
}

/// 4 × 4 transpose (`_MM_TRANSPOSE4_PS`).
#[inline(always)]
unsafe fn transpose4(r: [__m128; 4]) -> [__m128; 4] {
    let t0 = _mm_unpacklo_ps(r[0], r[1]);
    let t1 = _mm_unpacklo_ps(r[2], r[3]);
    let t2 = _mm_unpackhi_ps(r[0], r[1]);
    let t3 = _mm_unpackhi_ps(r[2], r[3]);
    [
        _mm_movelh_ps(t0, t1),
        _mm_movehl_ps(t1, t0),
        _mm_movelh_ps(t2, t3),
        _mm_movehl_ps(t3, t2),
    ]
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

/// RMSNorm (see [`scalar::rmsnorm`]): the sum of squares in f64 in the
/// scalar order (a short latency-bound loop, exact same result), the
/// scaling vectorized.
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let n = x.len();
    let mut sum = 0.0f64;
    for &v in x {
        sum += (v * v) as f64;
    }
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / libm::sqrtf(mean + eps);
    let m = n.min(out.len()).min(w.len());
    let (po, px, pw) = (out.as_mut_ptr(), x.as_ptr(), w.as_ptr());
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

/// One attention head (see [`scalar::attend`]), bit for bit: the scores
/// of 4 positions at a time, one per lane, each summed over the head
/// dimensions in order (keys converted 8 dimensions × 4 positions at a
/// time and transposed); the weighted sum of values per dimension lane,
/// positions in order.
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
    // and value rows p < n_pos have hd elements each (asserted), out >= hd,
    // scores has n_pos elements.
    unsafe {
        let mut qf = [0.0f32; 256];
        for j in 0..hd / 8 {
            let (a, b) = load8_f16(q.as_ptr().add(8 * j));
            _mm_storeu_ps(qf.as_mut_ptr().add(8 * j), a);
            _mm_storeu_ps(qf.as_mut_ptr().add(8 * j + 4), b);
        }
        let kp = keys.as_ptr();
        let sp = scores.as_mut_ptr();
        let vs = _mm_set1_ps(scale);
        // `G` groups of 4 positions from position `p` (independent sums).
        #[inline(always)]
        unsafe fn scores_at<const G: usize>(
            kp: *const f16,
            hd: usize,
            p: usize,
            qf: &[f32; 256],
        ) -> [__m128; G] {
            let mut acc = [_mm_setzero_ps(); G];
            let mut j = 0;
            while j < hd {
                let qj = qf.as_ptr().add(j);
                for (g, a) in acc.iter_mut().enumerate() {
                    let k = kp.add((p + 4 * g) * hd + j);
                    let r0 = load8_f16(k);
                    let r1 = load8_f16(k.add(hd));
                    let r2 = load8_f16(k.add(2 * hd));
                    let r3 = load8_f16(k.add(3 * hd));
                    let lo = transpose4([r0.0, r1.0, r2.0, r3.0]);
                    let hi = transpose4([r0.1, r1.1, r2.1, r3.1]);
                    let mut v = *a;
                    for (d, k) in lo.into_iter().enumerate() {
                        v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(*qj.add(d)), k));
                    }
                    for (d, k) in hi.into_iter().enumerate() {
                        v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(*qj.add(4 + d)), k));
                    }
                    *a = v;
                }
                j += 8;
            }
            acc
        }
        let mut p = 0;
        while p + 8 <= n_pos {
            let acc = scores_at::<2>(kp, hd, p, &qf);
            _mm_storeu_ps(sp.add(p), _mm_mul_ps(acc[0], vs));
            _mm_storeu_ps(sp.add(p + 4), _mm_mul_ps(acc[1], vs));
            p += 8;
        }
        if p + 4 <= n_pos {
            let acc = scores_at::<1>(kp, hd, p, &qf);
            _mm_storeu_ps(sp.add(p), _mm_mul_ps(acc[0], vs));
            p += 4;
        }
        for (i, s) in scores.iter_mut().enumerate().skip(p) {
            *s = scalar::dot_f16(q, &keys[i * hd..(i + 1) * hd]) * scale;
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

/// `(m & a) | (!m & b)`.
#[inline(always)]
unsafe fn select(m: __m128i, a: __m128i, b: __m128i) -> __m128i {
    _mm_or_si128(_mm_and_si128(m, a), _mm_andnot_si128(m, b))
}

/// libm's `expf` (FreeBSD's `e_expf.c`) on 4 lanes, bit for bit: the same
/// f32 operations in the same order (no FMA), its branches as lane
/// selects, and `scalbnf`'s pre-scaling for `k` outside [-126, 127].
#[inline(always)]
#[allow(clippy::excessive_precision)] // libm's constants, as written there
unsafe fn expf4(x: __m128) -> __m128 {
    const LN2_HI: f32 = 6.9314575195e-01;
    const LN2_LO: f32 = 1.4286067653e-06;
    const INV_LN2: f32 = 1.4426950216e+00;
    const P1: f32 = 1.6666625440e-1;
    const P2: f32 = -2.7667332906e-3;
    let i32x4 = |v: i32| _mm_set1_epi32(v);
    let xi = _mm_castps_si128(x);
    let hx = _mm_and_si128(xi, i32x4(0x7fff_ffff));
    let signbit = _mm_and_si128(xi, i32x4(i32::MIN));
    let neg = _mm_srai_epi32(xi, 31);
    // Argument reduction: k = trunc(x / ln2 ± 1/2) for |x| > 1.5 ln2,
    // ±1 for |x| > 0.5 ln2, else 0.
    let half = _mm_castsi128_ps(_mm_or_si128(_mm_castps_si128(_mm_set1_ps(0.5)), signbit));
    let kbig = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(INV_LN2), x), half));
    let kmid = _mm_or_si128(neg, i32x4(1));
    let big = _mm_cmpgt_epi32(hx, i32x4(0x3f85_1592));
    let mid = _mm_cmpgt_epi32(hx, i32x4(0x3eb1_7218));
    let k = select(big, kbig, _mm_and_si128(mid, kmid));
    let kf = _mm_cvtepi32_ps(k);
    // (k = 0: hi = x - 0 = x, lo = 0, as the scalar branch.)
    let hi = _mm_sub_ps(x, _mm_mul_ps(kf, _mm_set1_ps(LN2_HI)));
    let lo = _mm_mul_ps(kf, _mm_set1_ps(LN2_LO));
    let r = _mm_sub_ps(hi, lo);
    let xx = _mm_mul_ps(r, r);
    let c = _mm_sub_ps(
        r,
        _mm_mul_ps(
            xx,
            _mm_add_ps(_mm_set1_ps(P1), _mm_mul_ps(xx, _mm_set1_ps(P2))),
        ),
    );
    let t = _mm_div_ps(_mm_mul_ps(r, c), _mm_sub_ps(_mm_set1_ps(2.0), c));
    let y = _mm_add_ps(_mm_set1_ps(1.0), _mm_add_ps(_mm_sub_ps(t, lo), hi));
    // scalbnf(y, k): k > 127 (only 128): y · 2^127 · 2^(k - 127);
    // k < -126: y · 2^-102 · 2^(k + 102); else y · 2^k (k = 0: y · 1).
    let over = _mm_cmpgt_epi32(k, i32x4(127));
    let under = _mm_cmplt_epi32(k, i32x4(-126));
    let pre = select(
        over,
        i32x4(0x7f00_0000),
        select(under, i32x4(25 << 23), i32x4(127 << 23)),
    );
    let n = _mm_add_epi32(
        _mm_sub_epi32(k, _mm_and_si128(over, i32x4(127))),
        _mm_and_si128(under, i32x4(102)),
    );
    let scale = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(n, i32x4(127)), 23));
    let y = _mm_castps_si128(_mm_mul_ps(_mm_mul_ps(y, _mm_castsi128_ps(pre)), scale));
    // Special cases, in the scalar order of precedence (later wins).
    // |x| <= 2^-14: 1 + x.
    let tiny = _mm_cmpgt_epi32(i32x4(0x3900_0001), hx);
    let y = select(tiny, _mm_castps_si128(_mm_add_ps(_mm_set1_ps(1.0), x)), y);
    // x <= -103.97: 0.
    let zero = _mm_and_si128(neg, _mm_cmpgt_epi32(hx, i32x4(0x42cf_f1b4)));
    let y = _mm_andnot_si128(zero, y);
    // x >= 88.72: x · 2^127 (+Inf).
    let inf = _mm_andnot_si128(neg, _mm_cmpgt_epi32(hx, i32x4(0x42b1_7217)));
    let y = select(
        inf,
        _mm_castps_si128(_mm_mul_ps(x, _mm_set1_ps(f32::from_bits(0x7f00_0000)))),
        y,
    );
    // NaN: x.
    let nan = _mm_cmpgt_epi32(hx, i32x4(0x7f80_0000));
    _mm_castsi128_ps(select(nan, xi, y))
}

/// `gate = silu(gate) * up` = `g / (1 + expf(-g)) * u`, bit for bit as
/// the scalar reference (see [`expf4`]).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let (pg, pu) = (gate.as_mut_ptr(), up.as_ptr());
    let mut i = 0;
    // SAFETY: SSE2 baseline; indices < n.
    unsafe {
        let one = _mm_set1_ps(1.0);
        let sign = _mm_set1_ps(-0.0);
        while i + 4 <= n {
            let g = _mm_loadu_ps(pg.add(i));
            let e = expf4(_mm_xor_ps(g, sign));
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
    fn cvt_ph4_fast_is_exact_for_every_f16() {
        for base in (0..65536u32).step_by(4) {
            let h: [u32; 4] = core::array::from_fn(|k| base + k as u32);
            let mut out = [0.0f32; 4];
            // SAFETY: SSE2 baseline.
            unsafe {
                let v = cvt_ph4_fast(_mm_loadu_si128(h.as_ptr() as *const __m128i));
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

    fn expf4_of(v: [f32; 4]) -> [f32; 4] {
        let mut out = [0.0f32; 4];
        // SAFETY: SSE2 baseline.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), expf4(_mm_loadu_ps(v.as_ptr()))) };
        out
    }

    /// Bit for bit libm's expf: every f32 bit pattern with a stride (and
    /// the neighbourhood of every branch threshold); a full sweep of all
    /// 2^32 patterns passes too (`--ignored`).
    #[test]
    fn expf4_is_libm_expf() {
        let check = |bits: [u32; 4]| {
            let v = bits.map(f32::from_bits);
            let got = expf4_of(v);
            for k in 0..4 {
                let want = libm::expf(v[k]);
                assert!(
                    got[k].to_bits() == want.to_bits() || (want.is_nan() && got[k].is_nan()),
                    "expf({:e} = {:#010x}) = {:e} vs libm {:e}",
                    v[k],
                    bits[k],
                    got[k],
                    want
                );
            }
        };
        let mut b = 0u64;
        while b < 1 << 32 {
            check(core::array::from_fn(|k| {
                (b as u32).wrapping_add(k as u32 * 0x1003)
            }));
            b += 997;
        }
        for t in [
            0x3900_0000u32,
            0x3eb1_7218,
            0x3f85_1592,
            0x42ae_ac50,
            0x42b1_7218,
            0x42cf_f1b5,
            0x7f80_0000,
        ] {
            for sign in [0, 0x8000_0000] {
                for d in -64i32..64 {
                    let x = (t as i32 + d) as u32 | sign;
                    check([x, x ^ 1, x.wrapping_add(2), x.wrapping_sub(3)]);
                }
            }
        }
    }

    #[test]
    #[ignore = "every f32 (about a minute)"]
    fn expf4_is_libm_expf_everywhere() {
        for b in (0..=u32::MAX).step_by(4) {
            let v: [f32; 4] = core::array::from_fn(|k| f32::from_bits(b + k as u32));
            let got = expf4_of(v);
            for k in 0..4 {
                let want = libm::expf(v[k]);
                assert!(got[k].to_bits() == want.to_bits() || (want.is_nan() && got[k].is_nan()));
            }
        }
    }

    /// The helpers the decoder calls equal the scalar reference bit for
    /// bit (odd lengths, head dims 8..256, position counts with every
    /// remainder).
    #[test]
    fn helpers_are_bit_identical_to_scalar() {
        let mut rng = crate::rng::Rng::new(0xb17);
        let same = |what: &str, a: &[f32], b: &[f32]| {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(x.to_bits() == y.to_bits(), "{what}[{i}]: {x} vs scalar {y}");
            }
        };
        for n in [1usize, 7, 64, 577, 1536, 4864] {
            let x: alloc::vec::Vec<f32> = (0..n)
                .map(|i| rng.normal() * (1 + i % 13) as f32 * 3.0)
                .collect();
            let y: alloc::vec::Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            scalar::silu_mul(&mut a, &y);
            silu_mul(&mut b, &y);
            same("silu_mul", &b, &a);
            let (mut a, mut b) = (alloc::vec![0.0; n], alloc::vec![0.0; n]);
            scalar::rmsnorm(&mut a, &x, &y, 1e-6);
            rmsnorm(&mut b, &x, &y, 1e-6);
            same("rmsnorm", &b, &a);
            let (mut a, mut b) = (y.clone(), y.clone());
            scalar::add(&mut a, &x);
            add(&mut b, &x);
            same("add", &b, &a);
        }
        for hd in [8usize, 64, 128, 256] {
            for n_pos in [1usize, 3, 4, 5, 8, 12, 13, 100] {
                let h = |rng: &mut crate::rng::Rng, n: usize| -> alloc::vec::Vec<f16> {
                    (0..n).map(|_| f16::from_f32(rng.normal() * 2.0)).collect()
                };
                let q = h(&mut rng, hd);
                let k = h(&mut rng, hd * n_pos);
                let v = h(&mut rng, hd * n_pos);
                let (mut sa, mut sb) = (alloc::vec![0.0; n_pos], alloc::vec![0.0; n_pos]);
                let (mut oa, mut ob) = (alloc::vec![0.0; hd], alloc::vec![0.0; hd]);
                scalar::attend(&q, &k, &v, 0.125, &mut sa, &mut oa);
                attend(&q, &k, &v, 0.125, &mut sb, &mut ob);
                same("attend scores", &sb, &sa);
                same("attend", &ob, &oa);
            }
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
