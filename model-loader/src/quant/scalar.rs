//! The scalar reference backend: plain Rust, the same results on every
//! machine (no FMA contraction, no reassociation), used to check every other
//! backend. Dot products follow llama.cpp's `ggml_vec_dot_*_generic`: an
//! exact integer sum per block, scaled and accumulated in f32.

use core::ops::Range;

use half::f16;

use super::blocks::{
    f16_at, f16_bits_to_f32, layout, scale_min_k4, BlockQ8_0, BlockQ8_1, BlockQ8_K,
};
use super::matrix::{ActData, Acts, QMatrix};

// ---------------------------------------------------------------------------
// Dot products of one weight row with one token's activations.

// The integer part of each block's dot product is an out-of-line function
// over fixed-size arrays: on its own the compiler vectorizes it (pmaddwd on
// plain x86_64), while inlined into the block loop it does not.

#[inline(always)]
fn arr<const N: usize, T>(s: &[T]) -> &[T; N] {
    s.try_into().expect("block size")
}

/// Σ q·y for a block of 16 packed nibbles (elements 0..16 low, 16..32
/// high), each nibble minus `offset`.
#[inline(never)]
fn idot_nibbles(qs: &[u8; 16], offset: i8, y: &[i8; 32]) -> i32 {
    let mut q = [0i8; 32];
    for j in 0..16 {
        q[j] = (qs[j] & 0xF) as i8 - offset;
        q[j + 16] = (qs[j] >> 4) as i8 - offset;
    }
    let mut s = 0i32;
    for i in 0..32 {
        s += q[i] as i32 * y[i] as i32;
    }
    s
}

/// For each of the 8 bits of a byte, the byte 0x10 if set:
/// `HIGH_BIT[b].to_le_bytes()[i]` is element i's fifth bit.
static HIGH_BIT: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            if b & (1 << i) != 0 {
                t[b] |= 0x10 << (8 * i);
            }
            i += 1;
        }
        b += 1;
    }
    t
};

/// Σ q·y for a Q5_0 block: nibble | fifth bit (bit i of `qh` for element
/// i), minus 16.
#[inline(never)]
fn idot_q5_0(qs: &[u8; 16], qh: &[u8; 4], y: &[i8; 32]) -> i32 {
    let mut hi = [0u8; 32];
    for k in 0..4 {
        hi[8 * k..8 * k + 8].copy_from_slice(&HIGH_BIT[qh[k] as usize].to_le_bytes());
    }
    let mut q = [0i8; 32];
    for j in 0..16 {
        q[j] = ((qs[j] & 0xF) | hi[j]) as i8 - 16;
        q[j + 16] = ((qs[j] >> 4) | hi[j + 16]) as i8 - 16;
    }
    let mut s = 0i32;
    for i in 0..32 {
        s += q[i] as i32 * y[i] as i32;
    }
    s
}

/// Σ q·y for 32 signed bytes.
#[inline(never)]
fn idot_i8(q: &[u8; 32], y: &[i8; 32]) -> i32 {
    let mut s = 0i32;
    for i in 0..32 {
        s += (q[i] as i8) as i32 * y[i] as i32;
    }
    s
}

/// The 8 sub-block sums Σ q·y of a Q4_K super-block (sub-block j: low
/// nibbles of bytes 32(j/2).. for even j, high nibbles for odd j).
#[inline(never)]
fn isums_q4_k(qs: &[u8; 128], y: &[i8; 256], out: &mut [i32; 8]) {
    for c in 0..4 {
        let mut lo = 0i32;
        let mut hi = 0i32;
        for l in 0..32 {
            let b = qs[32 * c + l];
            lo += (b & 0xF) as i32 * y[64 * c + l] as i32;
            hi += (b >> 4) as i32 * y[64 * c + 32 + l] as i32;
        }
        out[2 * c] = lo;
        out[2 * c + 1] = hi;
    }
}

/// The 16 sub-block sums Σ q·y of a Q6_K super-block (quants minus 32).
#[inline(never)]
fn isums_q6_k(ql: &[u8; 128], qh: &[u8; 64], y: &[i8; 256], out: &mut [i32; 16]) {
    let mut q = [0i8; 256];
    for half in 0..2 {
        for l in 0..32 {
            let (a, b, h) = (ql[64 * half + l], ql[64 * half + l + 32], qh[32 * half + l]);
            let o = 128 * half + l;
            q[o] = ((a & 0xF) | ((h & 3) << 4)) as i8 - 32;
            q[o + 32] = ((b & 0xF) | (((h >> 2) & 3) << 4)) as i8 - 32;
            q[o + 64] = ((a >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32;
            q[o + 96] = ((b >> 4) | (((h >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    for j in 0..16 {
        let mut s = 0i32;
        for i in 16 * j..16 * j + 16 {
            s += q[i] as i32 * y[i] as i32;
        }
        out[j] = s;
    }
}

/// Q4_0 row · Q8_0 activations.
pub fn dot_q4_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q4_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        let sumi = idot_nibbles(arr(&b[QS..QS + 16]), 8, &y.qs);
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q4_1 row · Q8_1 activations.
pub fn dot_q4_1(row: &[u8], x: &[BlockQ8_1]) -> f32 {
    use layout::q4_1::*;
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        let sumi = idot_nibbles(arr(&b[QS..QS + 16]), 0, &y.qs);
        sum += sumi as f32 * (f16_at(b, D) * y.d) + f16_at(b, M) * y.s;
    }
    sum
}

/// Q5_0 row · Q8_0 activations.
pub fn dot_q5_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q5_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        let sumi = idot_q5_0(arr(&b[QS..QS + 16]), arr(&b[QH..QH + 4]), &y.qs);
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q8_0 row · Q8_0 activations.
pub fn dot_q8_0(row: &[u8], x: &[BlockQ8_0]) -> f32 {
    use layout::q8_0::*;
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        let sumi = idot_i8(arr(&b[QS..QS + 32]), &y.qs);
        sum += sumi as f32 * (f16_at(b, D) * y.d);
    }
    sum
}

/// Q4_K row · Q8_K activations.
pub fn dot_q4_k(row: &[u8], x: &[BlockQ8_K]) -> f32 {
    use layout::q4_k::*;
    let mut sum = 0.0f32;
    let mut sub = [0i32; 8];
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        let scales = &b[SCALES..SCALES + 12];
        isums_q4_k(arr(&b[QS..QS + 128]), &y.qs, &mut sub);
        let mut sumi = 0i32;
        let mut summ = 0i32;
        for (j, &s) in sub.iter().enumerate() {
            let (sc, m) = scale_min_k4(j, scales);
            summ += m as i32 * (y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32);
            sumi += sc as i32 * s;
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
    let mut sub = [0i32; 16];
    for (b, y) in row.as_chunks::<BYTES>().0.iter().zip(x) {
        isums_q6_k(arr(&b[QL..QL + 128]), arr(&b[QH..QH + 64]), &y.qs, &mut sub);
        let mut sumi = 0i32;
        for (j, &s) in sub.iter().enumerate() {
            sumi += (b[SCALES + j] as i8) as i32 * s;
        }
        sum += f16_at(b, D) * y.d * sumi as f32;
    }
    sum
}

/// F16 row · F16 activations (f32 accumulation).
pub fn dot_f16_row(row: &[u8], x: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<2>().0.iter().zip(x) {
        sum += f16_at(b, 0) * f16_bits_to_f32(y.to_bits());
    }
    sum
}

/// F32 row · F32 activations.
pub fn dot_f32_row(row: &[u8], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (b, y) in row.as_chunks::<4>().0.iter().zip(x) {
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
        s += f16_bits_to_f32(x.to_bits()) * f16_bits_to_f32(y.to_bits());
    }
    s
}

/// `y += a * x`.
pub fn axpy_f16(y: &mut [f32], a: f32, x: &[f16]) {
    for (o, v) in y.iter_mut().zip(x) {
        *o += a * f16_bits_to_f32(v.to_bits());
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
