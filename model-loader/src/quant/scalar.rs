//! The scalar reference backend: plain Rust, the same results on every
//! machine (no FMA contraction, no reassociation), used to check every other
//! backend. Dot products follow llama.cpp's `ggml_vec_dot_*_generic`: an
//! exact integer sum per block, scaled and accumulated in f32.

use core::ops::Range;

use half::f16;

use super::blocks::{f16_at, layout, scale_min_k4, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK, QK_K};
use super::matrix::{ActData, Acts, QMatrix};

// ---------------------------------------------------------------------------
// Dot products of one weight row with one token's activations.

/// Q4_0 row · Q8_0 activations.
pub fn dot_q4_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q4_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let qs = &b[QS..QS + QK / 2];
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            let v0 = (qs[j] & 0xF) as i32 - 8;
            let v1 = (qs[j] >> 4) as i32 - 8;
            sumi += v0 * y.qs[j] as i32 + v1 * y.qs[j + QK / 2] as i32;
        }
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q4_1 row · Q8_1 activations.
pub fn dot_q4_1(row: &[u8], x: &[BlockQ8_1]) -> f32 {
    use layout::q4_1::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let qs = &b[QS..QS + QK / 2];
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += (qs[j] & 0xF) as i32 * y.qs[j] as i32
                + (qs[j] >> 4) as i32 * y.qs[j + QK / 2] as i32;
        }
        sum += sumi as f32 * (f16_at(b, D) * y.d) + f16_at(b, M) * y.s;
    }
    sum
}

/// Q5_0 row · Q8_0 activations.
pub fn dot_q5_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q5_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let qh = u32::from_le_bytes([b[QH], b[QH + 1], b[QH + 2], b[QH + 3]]);
        let qs = &b[QS..QS + QK / 2];
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            let h0 = (((qh >> j) << 4) & 0x10) as u8;
            let h1 = ((qh >> (j + 12)) & 0x10) as u8;
            let v0 = ((qs[j] & 0xF) | h0) as i32 - 16;
            let v1 = ((qs[j] >> 4) | h1) as i32 - 16;
            sumi += v0 * y.qs[j] as i32 + v1 * y.qs[j + QK / 2] as i32;
        }
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q8_0 row · Q8_0 activations.
pub fn dot_q8_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q8_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let mut sumi = 0i32;
        for j in 0..QK {
            sumi += (b[QS + j] as i8) as i32 * y.qs[j] as i32;
        }
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q4_K row · Q8_K activations.
pub fn dot_q4_k(row: &[u8], x: &[BlockQ8_K]) -> f32 {
    use layout::q4_k::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let scales = &b[SCALES..SCALES + 12];
        let qs = &b[QS..QS + QK_K / 2];
        let mut sumi = 0i32;
        let mut summ = 0i32;
        for j in 0..QK_K / 32 {
            let (sc, m) = scale_min_k4(j, scales);
            summ += m as i32 * (y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32);
            // Sub-block j: nibbles (low for even j, high for odd j) of the
            // 32 bytes of chunk j / 2.
            let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let a = &y.qs[32 * j..32 * j + 32];
            let mut dot = 0i32;
            for l in 0..32 {
                dot += ((q[l] >> shift) & 0xF) as i32 * a[l] as i32;
            }
            sumi += sc as i32 * dot;
        }
        let d = f16_at(b, D) * y.d;
        let dmin = f16_at(b, DMIN) * y.d;
        sum += d * sumi as f32 - dmin * summ as f32;
    }
    sum
}

/// Q6_K row · Q8_K activations.
pub fn dot_q6_k(row: &[u8], x: &[BlockQ8_K]) -> f32 {
    use layout::q6_k::*;
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(BYTES).zip(x) {
        let mut sumi = 0i32;
        for half in 0..2 {
            let ql = &b[QL + 64 * half..QL + 64 * half + 64];
            let qh = &b[QH + 32 * half..QH + 32 * half + 32];
            let sc = &b[SCALES + 8 * half..SCALES + 8 * half + 8];
            let a = &y.qs[128 * half..128 * half + 128];
            // Four groups of 32 (q1..q4 of llama.cpp), each two sub-blocks of 16.
            let mut group = [[0i32; 2]; 4];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                group[0][is] += q1 * a[l] as i32;
                group[1][is] += q2 * a[l + 32] as i32;
                group[2][is] += q3 * a[l + 64] as i32;
                group[3][is] += q4 * a[l + 96] as i32;
            }
            for (g, sums) in group.iter().enumerate() {
                for (is, &s) in sums.iter().enumerate() {
                    sumi += (sc[2 * g + is] as i8) as i32 * s;
                }
            }
        }
        sum += f16_at(b, D) * y.d * sumi as f32;
    }
    sum
}

/// F16 row · F16 activations (f32 accumulation).
pub fn dot_f16_row(row: &[u8], x: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(2).zip(x) {
        sum += f16_at(b, 0) * y.to_f32();
    }
    sum
}

/// F32 row · F32 activations.
pub fn dot_f32_row(row: &[u8], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(4).zip(x) {
        sum += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * y;
    }
    sum
}

// ---------------------------------------------------------------------------
// Matrix products: every row of the range against every token.

#[inline(always)]
fn gemm_rows<A>(
    w: &QMatrix<'_>,
    acts: &[A],
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
    dot: fn(&[u8], &[A]) -> f32,
) {
    let bpt = x.blocks_per_token();
    for (i, r) in rows.enumerate() {
        let row = w.row(r);
        for t in 0..x.n_tokens {
            out[t * ld + i] = dot(row, &acts[t * bpt..(t + 1) * bpt]);
        }
    }
}

macro_rules! scalar_gemm {
    ($name:ident, $variant:ident, $dot:ident) => {
        /// Scalar matrix product for this weight type (see [`super::GemmFn`]).
        pub fn $name(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::$variant(a) = x.data {
                gemm_rows(w, a, x, rows, out, ld, $dot);
            }
        }
    };
}

scalar_gemm!(gemm_f32, F32, dot_f32_row);
scalar_gemm!(gemm_f16, F16, dot_f16_row);
scalar_gemm!(gemm_q4_0, Q8_0, dot_q4_0);
scalar_gemm!(gemm_q4_1, Q8_1, dot_q4_1);
scalar_gemm!(gemm_q5_0, Q8_0, dot_q5_0);
scalar_gemm!(gemm_q8_0, Q8_0, dot_q8_0);
scalar_gemm!(gemm_q4_k, Q8_K, dot_q4_k);
scalar_gemm!(gemm_q6_k, Q8_K, dot_q6_k);

// ---------------------------------------------------------------------------
// Vector helpers of the decoder.

/// `a · b`.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

/// `a · b` for f16 vectors (products and sum in f32).
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    let mut s = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        s += x.to_f32() * y.to_f32();
    }
    s
}

/// `y += a * x`.
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o += a * v.to_f32();
    }
}

/// `y += x`.
pub fn add(y: &mut [f32], x: &[f32]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o += v;
    }
}

/// RMSNorm as llama.cpp: the sum of squares in f64, `out = (x * (1 /
/// sqrt(mean + eps))) * w`.
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let mut sum = 0.0f64;
    for &v in x {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / libm::sqrtf(mean + eps);
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = (v * scale) * g;
    }
}

/// In-place softmax (the sum in f64, as llama.cpp).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `gate = silu(gate) * up`, `silu(x) = x / (1 + exp(-x))`.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + libm::expf(-*g)) * u;
    }
}

/// Rotates every head of `x` (heads of `head_dim`) by the angles whose
/// `(cos, sin)` pairs are in `cos_sin` (`rope_dim / 2` pairs; dimensions past
/// `rope_dim` are left alone). Normal RoPE rotates pairs `(2i, 2i + 1)`;
/// NEOX RoPE rotates `(i, i + rope_dim / 2)`.
pub fn rope(x: &mut [f32], head_dim: usize, cos_sin: &[f32], neox: bool) {
    let half = cos_sin.len() / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..half {
            let (c, s) = (cos_sin[2 * i], cos_sin[2 * i + 1]);
            let (a, b) = if neox {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

/// One head of attention over `scores.len()` positions: `scores[p] = scale *
/// q · keys[p]`, softmax, `out = Σ scores[p] * values[p]`. Keys and values
/// are `head_dim`-wide rows, position after position.
pub fn attend(
    q: &[f16],
    keys: &[f16],
    values: &[f16],
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let hd = q.len();
    for (p, s) in scores.iter_mut().enumerate() {
        *s = dot_f16(q, &keys[p * hd..(p + 1) * hd]) * scale;
    }
    softmax(scores);
    out.fill(0.0);
    for (p, &s) in scores.iter().enumerate() {
        axpy_f16(out, s, &values[p * hd..(p + 1) * hd]);
    }
}
