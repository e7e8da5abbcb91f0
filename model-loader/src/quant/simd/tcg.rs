//! Integer kernels that run fast under QEMU's TCG (the kernel's home in
//! `qemu-system` without KVM).
//!
//! TCG turns 256-bit integer adds, logic ops, immediate shifts and
//! `vpmullw` into host vector code, but `vpmaddubsw`, `vpmaddwd`, `vpshufb`,
//! `vpsignb`, `vphadd*`, unpacks and every float instruction into helper
//! calls (float ones through softfloat, one call per instruction). So these
//! kernels:
//! - split bytes into 16-bit lanes with shifts and masks only (even bytes:
//!   `(x << 8) >> 8`, odd bytes: `x >> 8`, nibbles: `(x >> k) & 0xf`);
//! - multiply with `vpmullw` against activations expanded once per call
//!   into the matching 16-bit layout (a scratch buffer);
//! - fold lanes with shifts + adds in integer registers, finish the block
//!   sums with scalar integer code;
//! - never load a 128/256-bit vector from memory in one instruction: QEMU
//!   7.2 emulates those loads slowly (~10 ns each, measured), while 64-bit
//!   loads are cheap, so vectors are assembled with `vmovq` + `vpinsrq` +
//!   `vinserti128` (inline asm, so LLVM cannot merge them back), and read
//!   back with `vmovq`/`vpextrq`;
//! - scale the 32-element formats in fixed point: every f16 scale is an
//!   11-bit integer times a power of two, so `Σ sumi · d_w · d_a` is
//!   accumulated exactly in an i128 (no float instruction per block; TCG
//!   runs each float instruction through a helper call, 5-90 ns).
//!
//! Natively they are ~2x slower than the `vpmaddubsw` kernels, so
//! [`super::pick_by_timing`] decides. LLVM must not turn the shift/multiply
//! sequences back into `vpmaddwd` & co.: a test checks the generated code
//! is free of them (see `tests`).
//!
//! # Safety
//! Every `unsafe fn` here needs AVX2 (+ FMA, F16C; BMI2 for the asm rows),
//! which the backend's `available()` checks, and its pointers to cover what
//! it reads: `p`/`r` whole weight blocks (rows of `nb` blocks, `rb` bytes
//! apart), `ap`/`acts`/`ex` the `nb` prepared activation blocks of one
//! token. The public `gemm_*` entry points are safe: they check the matrix
//! shape (`check`) and say at each call why the rows passed are in bounds.

use alloc::vec::Vec;
use core::arch::x86_64::*;
use core::ops::Range;

use super::tcg_asm::{asm_q4_0, asm_q4_1, asm_q5_0, asm_q6_k, asm_q8_0};
use crate::quant::blocks::{layout, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK, QK_K};
use crate::quant::matrix::{ActData, Acts, QMatrix};

pub fn available() -> bool {
    // The kernels need AVX2; the backend's vector helpers (shared with the
    // `avx2` backend) FMA and F16C too; the asm row kernels BMI2's `shlx`.
    crate::quant::simd::x86::avx2::available() && crate::cpu::detect().bmi2
}

/// An f16 bit pattern as f32, with integer operations for normal numbers
/// (no float instruction, which TCG would emulate slowly).
#[inline(always)]
fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let e = h & 0x7c00;
    if e != 0 && e != 0x7c00 {
        f32::from_bits(((h & 0x8000) << 16) | (((h & 0x7fff) + 0x1_c000) << 13))
    } else {
        half::f16::from_bits(h as u16).to_f32()
    }
}

/// An f16 as `(m, e)` with value `m · 2^e`, `m` an integer of at most 11
/// bits (sign included) and `-24 <= e <= 6`. (Inf/NaN scales are not
/// meaningful and come out as large finite values.)
#[inline(always)]
fn f16_parts(h: u16) -> (i32, i32) {
    let e = ((h >> 10) & 0x1f) as i32;
    let f = (h & 0x3ff) as i32;
    let (m, ex) = if e == 0 {
        (f, -24)
    } else {
        (f | 0x400, e - 25)
    };
    (if h & 0x8000 != 0 { -m } else { m }, ex)
}

/// Hides a scalar from LLVM's SLP vectorizer, which would otherwise pack
/// the four rows' scalar work into `vpmovzx`/`vpunpck` sequences (helper
/// calls under TCG).
#[inline(always)]
fn opaque(mut x: u32) -> u32 {
    // SAFETY: an empty asm statement that only "modifies" a register.
    unsafe {
        core::arch::asm!("/* {0:e} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    x
}

/// The f16 at `p` as parts, opaque to vectorization.
#[inline(always)]
unsafe fn f16_parts_at(p: *const u8) -> (i32, i32) {
    f16_parts(opaque((p as *const u16).read_unaligned() as u32) as u16)
}

/// Fixed-point accumulators: value = acc · 2^-FIX. Products of two f16
/// scales have exponents >= -48, so shifts are never negative.
const FIX: i32 = 48;

/// `acc += v · 2^(e + FIX)` (`v` up to 2^41, `e + FIX` in 0..=60).
#[inline(always)]
fn fix_add(acc: &mut i128, v: i64, e: i32) {
    // A 64 × 64 → 128-bit multiply by a power of two from a table: one
    // `imul` instead of variable 128-bit shifts (whose flag semantics make
    // them expensive under TCG).
    *acc += (v as i128) * (POW2[((e + FIX) as usize) & 63] as i128);
}

/// `2^k` for k < 63 (larger k never occur: exponents sum to at most 12).
static POW2: [i64; 64] = {
    let mut t = [0i64; 64];
    let mut k = 0;
    while k < 63 {
        t[k] = 1 << k;
        k += 1;
    }
    t
};

#[inline(always)]
fn fix_to_f32(acc: i128) -> f32 {
    fix_to_f32_at::<FIX>(acc)
}

#[inline(always)]
fn fix_to_f32_at<const FIX: i32>(acc: i128) -> f32 {
    // `acc · 2^-FIX` rounded to nearest-even f32, with integer operations
    // only (three float instructions would cost more under TCG than all of
    // this). Results too small for a normal f32 take the float path.
    if acc == 0 {
        return 0.0;
    }
    let sign = if acc < 0 { 0x8000_0000u32 } else { 0 };
    let mag = acc.unsigned_abs();
    let msb = 127 - mag.leading_zeros() as i32;
    let exp = msb - FIX + 127;
    if exp <= 0 || exp >= 255 {
        return (acc as f64 * (1.0 / (1u64 << FIX) as f64)) as f32;
    }
    let (mut m, mut exp) = if msb <= 23 {
        ((mag << (23 - msb)) as u32, exp)
    } else {
        let sh = (msb - 23) as u32;
        let m = (mag >> sh) as u32;
        let rem = mag & ((1u128 << sh) - 1);
        let half = 1u128 << (sh - 1);
        let up = rem > half || (rem == half && m & 1 == 1);
        (m + up as u32, exp)
    };
    if m == 1 << 24 {
        m >>= 1;
        exp += 1;
        if exp >= 255 {
            return (acc as f64 * (1.0 / (1u64 << FIX) as f64)) as f32;
        }
    }
    f32::from_bits(sign | ((exp as u32) << 23) | (m & 0x7f_ffff))
}

/// 32 bytes at `p` as a vector, from four 64-bit loads (see module doc).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ld256(p: *const u8) -> __m256i {
    let r: __m256i;
    core::arch::asm!(
        "vmovq {t:x}, qword ptr [{p}]",
        "vpinsrq {t:x}, {t:x}, qword ptr [{p} + 8], 1",
        "vmovq {r:x}, qword ptr [{p} + 16]",
        "vpinsrq {r:x}, {r:x}, qword ptr [{p} + 24], 1",
        "vinserti128 {r}, {t}, {r:x}, 1",
        p = in(reg) p,
        t = out(ymm_reg) _,
        r = out(ymm_reg) r,
        options(pure, readonly, nostack, preserves_flags),
    );
    r
}

/// 16 bytes at `lo` in the low half, 16 bytes at `hi` in the high half.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ld128x2(lo: *const u8, hi: *const u8) -> __m256i {
    let r: __m256i;
    core::arch::asm!(
        "vmovq {t:x}, qword ptr [{lo}]",
        "vpinsrq {t:x}, {t:x}, qword ptr [{lo} + 8], 1",
        "vmovq {r:x}, qword ptr [{hi}]",
        "vpinsrq {r:x}, {r:x}, qword ptr [{hi} + 8], 1",
        "vinserti128 {r}, {t}, {r:x}, 1",
        lo = in(reg) lo,
        hi = in(reg) hi,
        t = out(ymm_reg) _,
        r = out(ymm_reg) r,
        options(pure, readonly, nostack, preserves_flags),
    );
    r
}

/// The four 64-bit lanes of `v`, without a vector store + reload.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn qwords(v: __m256i) -> [u64; 4] {
    let (a, b, c, d): (u64, u64, u64, u64);
    core::arch::asm!(
        "vmovq {a}, {v:x}",
        "vpextrq {b}, {v:x}, 1",
        "vextracti128 {t:x}, {v}, 1",
        "vmovq {c}, {t:x}",
        "vpextrq {d}, {t:x}, 1",
        v = in(ymm_reg) v,
        t = out(ymm_reg) _,
        a = out(reg) a,
        b = out(reg) b,
        c = out(reg) c,
        d = out(reg) d,
        options(pure, nomem, nostack, preserves_flags),
    );
    [a, b, c, d]
}

#[inline(always)]
fn f16_at(p: *const u8) -> f32 {
    // SAFETY: callers pass pointers inside a weight block.
    f16_to_f32(unsafe { (p as *const u16).read_unaligned() })
}

/// Activations of one token, expanded for `vpmullw`.
///
/// `eo`: per 32 elements, two vectors of 16 i16: even elements, odd
/// elements (for Q8_0 rows, and the k-quants' 32-element groups).
/// `nib`: per 32-element block, four vectors of 2 × 8 i16 (the same 8 lanes
/// in both halves, one half per weight row of a pair): elements 0,2..14;
/// 1,3..15; 16,18..30; 17,19..31 — the order nibbles come out of a Q4 block.
struct Expanded {
    v: Vec<__m256i>,
    /// Per block: the activation scale as f16 parts (see [`f16_parts`]),
    /// and Q8_1's `s` likewise.
    d: Vec<(i32, i32)>,
    s: Vec<(i32, i32)>,
}

#[target_feature(enable = "avx2")]
unsafe fn expand_eo(qs: &[i8], out: &mut Vec<__m256i>) {
    for c in qs.chunks_exact(32) {
        let x = _mm256_loadu_si256(c.as_ptr() as *const __m256i);
        out.push(_mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8));
        out.push(_mm256_srai_epi16(x, 8));
    }
}

#[target_feature(enable = "avx2")]
unsafe fn expand_nib(qs: &[i8; QK], out: &mut Vec<__m256i>) {
    let x = _mm256_loadu_si256(qs.as_ptr() as *const __m256i);
    let e = _mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8);
    let o = _mm256_srai_epi16(x, 8);
    let mut t = [0i16; 32];
    _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, e);
    _mm256_storeu_si256(t.as_mut_ptr().add(16) as *mut __m256i, o);
    let p = t.as_ptr() as *const __m128i;
    // e = [0,2..14 | 16..30], o = [1..15 | 17..31].
    out.push(_mm256_loadu2_m128i(p, p));
    out.push(_mm256_loadu2_m128i(p.add(2), p.add(2)));
    out.push(_mm256_loadu2_m128i(p.add(1), p.add(1)));
    out.push(_mm256_loadu2_m128i(p.add(3), p.add(3)));
}

// ---------------------------------------------------------------------------
// Reductions.

/// Lanes of `p` (16 × i16, each |x| ≤ 8191) summed by quarter: returns the
/// sums of lanes 0..4, 4..8, 8..12, 12..16 (i16 arithmetic cannot overflow
/// under that bound).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn fold4_i16(p: __m256i) -> [i32; 4] {
    let q = _mm256_add_epi16(p, _mm256_srli_epi32(p, 16));
    let q = _mm256_add_epi16(q, _mm256_srli_epi64(q, 32));
    let w = qwords(q);
    [
        w[0] as i16 as i32,
        w[1] as i16 as i32,
        w[2] as i16 as i32,
        w[3] as i16 as i32,
    ]
}

/// The sum of the 16 i16 lanes of `p` (any values), via i32.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sum_i16(p: __m256i) -> i32 {
    let x = _mm256_add_epi32(
        _mm256_srai_epi32(_mm256_slli_epi32(p, 16), 16),
        _mm256_srai_epi32(p, 16),
    );
    let y = _mm256_add_epi32(x, _mm256_srli_epi64(x, 32));
    let w = qwords(y);
    (w[0] as i32)
        .wrapping_add(w[1] as i32)
        .wrapping_add(w[2] as i32)
        .wrapping_add(w[3] as i32)
}

// ---------------------------------------------------------------------------
// 32-element nibble formats (Q4_0, Q4_1, Q5_0), rows in pairs.

/// Weight-format specifics of the nibble kernels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nib {
    Q4_0,
    Q4_1,
    Q5_0,
}

impl Nib {
    fn bytes(self) -> usize {
        match self {
            Nib::Q4_0 => layout::q4_0::BYTES,
            Nib::Q4_1 => layout::q4_1::BYTES,
            Nib::Q5_0 => layout::q5_0::BYTES,
        }
    }
    fn qs(self) -> usize {
        match self {
            Nib::Q4_0 => layout::q4_0::QS,
            Nib::Q4_1 => layout::q4_1::QS,
            Nib::Q5_0 => layout::q5_0::QS,
        }
    }
}

/// Lane masks for the 5th bits of Q5_0: lane i of the four nibble vectors
/// holds elements 2i, 2i+1, 16+2i, 17+2i (i < 8, both halves alike).
fn q5_bit_masks() -> [[u16; 16]; 4] {
    let mut m = [[0u16; 16]; 4];
    for i in 0..16 {
        let j = (i % 8) as u32;
        m[0][i] = 1 << (2 * j);
        m[1][i] = 1 << (2 * j + 1);
        m[2][i] = 1 << (2 * j); // of qh >> 16
        m[3][i] = 1 << (2 * j + 1);
    }
    m
}

/// Four rows (`r[0..4]`, repeats allowed) against one token: the dot
/// products, rows taken in pairs (one per vector half).
#[target_feature(enable = "avx2")]
unsafe fn quad_nib(kind: Nib, r: [*const u8; 4], ex: &Expanded, nb: usize) -> [f32; 4] {
    let bytes = kind.bytes();
    let qs = kind.qs();
    let m = _mm256_set1_epi16(0x0f);
    let masks = q5_bit_masks();
    let mk: [__m256i; 4] = [
        ld256(masks[0].as_ptr() as *const u8),
        ld256(masks[1].as_ptr() as *const u8),
        ld256(masks[2].as_ptr() as *const u8),
        ld256(masks[3].as_ptr() as *const u8),
    ];
    let mut acc = [0i128; 4];
    for b in 0..nb {
        let av = ex.v.as_ptr().add(b * 4) as *const u8;
        let a = [
            ld256(av),
            ld256(av.add(32)),
            ld256(av.add(64)),
            ld256(av.add(96)),
        ];
        let (ma, ea) = ex.d[b];
        for pr in 0..opaque(2) as usize {
            let p0 = r[2 * pr].add(b * bytes);
            let p1 = r[2 * pr + 1].add(b * bytes);
            let x = ld128x2(p0.add(qs), p1.add(qs));
            let mut q = [
                _mm256_and_si256(x, m),
                _mm256_and_si256(_mm256_srli_epi16(x, 8), m),
                _mm256_and_si256(_mm256_srli_epi16(x, 4), m),
                _mm256_srli_epi16(x, 12),
            ];
            if kind == Nib::Q5_0 {
                let h0 = (p0.add(layout::q5_0::QH) as *const u32).read_unaligned();
                let h1 = (p1.add(layout::q5_0::QH) as *const u32).read_unaligned();
                let lo = _mm256_set_m128i(_mm_set1_epi16(h1 as i16), _mm_set1_epi16(h0 as i16));
                let hi = _mm256_set_m128i(
                    _mm_set1_epi16((h1 >> 16) as i16),
                    _mm_set1_epi16((h0 >> 16) as i16),
                );
                for (j, qj) in q.iter_mut().enumerate() {
                    let src = if j < 2 { lo } else { hi };
                    let bit = _mm256_cmpeq_epi16(_mm256_and_si256(src, mk[j]), mk[j]);
                    // 5-bit value minus 16: (q | 16·bit) - 16 = q - 16·!bit.
                    let nbit = _mm256_andnot_si256(bit, _mm256_set1_epi16(16));
                    *qj = _mm256_sub_epi16(*qj, nbit);
                }
            } else if kind == Nib::Q4_0 {
                for qj in q.iter_mut() {
                    *qj = _mm256_sub_epi16(*qj, _mm256_set1_epi16(8));
                }
            }
            let p = _mm256_add_epi16(
                _mm256_add_epi16(
                    _mm256_mullo_epi16(q[0], a[0]),
                    _mm256_mullo_epi16(q[1], a[1]),
                ),
                _mm256_add_epi16(
                    _mm256_mullo_epi16(q[2], a[2]),
                    _mm256_mullo_epi16(q[3], a[3]),
                ),
            );
            // |lane| <= 4 * 16 * 127 = 8128: quarters sum in i16.
            let f = fold4_i16(p);
            let sums = [
                opaque((f[0] + f[1]) as u32) as i32,
                opaque((f[2] + f[3]) as u32) as i32,
            ];
            for k in 0..opaque(2) as usize {
                let pk = if k == 0 { p0 } else { p1 };
                let (mw, ew) = f16_parts_at(pk);
                fix_add(
                    &mut acc[2 * pr + k],
                    sums[k] as i64 * (mw * ma) as i64,
                    ew + ea,
                );
                if kind == Nib::Q4_1 {
                    let (mm, em) = f16_parts_at(pk.add(layout::q4_1::M));
                    let (ms, es) = ex.s[b];
                    fix_add(&mut acc[2 * pr + k], (mm * ms) as i64, em + es);
                }
            }
        }
    }
    [
        fix_to_f32(acc[0]),
        fix_to_f32(acc[1]),
        fix_to_f32(acc[2]),
        fix_to_f32(acc[3]),
    ]
}

// ---------------------------------------------------------------------------
// Q8_0 rows.

#[target_feature(enable = "avx2")]
unsafe fn quad_q8_0(r: [*const u8; 4], ex: &Expanded, nb: usize) -> [f32; 4] {
    use layout::q8_0::*;
    let mut acc = [0i128; 4];
    for b in 0..nb {
        let av = ex.v.as_ptr().add(2 * b) as *const u8;
        let (ae, ao) = (ld256(av), ld256(av.add(32)));
        let (ma, ea) = ex.d[b];
        // A loop LLVM cannot unroll (so it cannot SLP-vectorize the
        // scalar work of the 4 rows).
        for k in 0..opaque(4) as usize {
            let p = r[k].add(b * BYTES);
            let x = ld256(p.add(QS));
            let e = _mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8);
            let o = _mm256_srai_epi16(x, 8);
            // |lane| <= 2 * 128 * 127 = 32512: fits i16, summed in i32.
            let s = _mm256_add_epi16(_mm256_mullo_epi16(e, ae), _mm256_mullo_epi16(o, ao));
            let sumi = opaque(sum_i16(s) as u32) as i32;
            let (mw, ew) = f16_parts_at(p);
            fix_add(&mut acc[k], sumi as i64 * (mw * ma) as i64, ew + ea);
        }
    }
    [
        fix_to_f32(acc[0]),
        fix_to_f32(acc[1]),
        fix_to_f32(acc[2]),
        fix_to_f32(acc[3]),
    ]
}

// ---------------------------------------------------------------------------
// k-quants (superblocks of 256: integer sub-block scales, float once per
// superblock).

#[target_feature(enable = "avx2")]
unsafe fn row_q4_k(r: *const u8, ex: &Expanded, acts: &[BlockQ8_K]) -> f32 {
    use layout::q4_k::*;
    let m = _mm256_set1_epi16(0x0f);
    let mut sum = 0.0f32;
    for (b, y) in acts.iter().enumerate() {
        let p = r.add(b * BYTES);
        let sc = crate::quant::blocks::scale_min_k4;
        let scales = core::slice::from_raw_parts(p.add(SCALES), 12);
        let mut sumi = 0i32;
        let mut summ = 0i32;
        for c in 0..4 {
            let x = ld256(p.add(QS + 32 * c));
            // Lane i: bytes 2i, 2i+1 → low nibbles: sub-block 2c elements
            // 2i, 2i+1; high nibbles: sub-block 2c+1.
            let a = ex.v.as_ptr().add(b * 16 + c * 4) as *const u8;
            let lo = _mm256_add_epi16(
                _mm256_mullo_epi16(_mm256_and_si256(x, m), ld256(a)),
                _mm256_mullo_epi16(
                    _mm256_and_si256(_mm256_srli_epi16(x, 8), m),
                    ld256(a.add(32)),
                ),
            );
            let hi = _mm256_add_epi16(
                _mm256_mullo_epi16(
                    _mm256_and_si256(_mm256_srli_epi16(x, 4), m),
                    ld256(a.add(64)),
                ),
                _mm256_mullo_epi16(_mm256_srli_epi16(x, 12), ld256(a.add(96))),
            );
            // |lane| <= 2 * 15 * 127: quarters fit i16.
            let fl = fold4_i16(lo);
            let fh = fold4_i16(hi);
            let (s0, m0) = sc(2 * c, scales);
            let (s1, m1) = sc(2 * c + 1, scales);
            sumi += s0 as i32 * (fl[0] + fl[1] + fl[2] + fl[3])
                + s1 as i32 * (fh[0] + fh[1] + fh[2] + fh[3]);
            summ += m0 as i32 * (y.bsums[4 * c] as i32 + y.bsums[4 * c + 1] as i32)
                + m1 as i32 * (y.bsums[4 * c + 2] as i32 + y.bsums[4 * c + 3] as i32);
        }
        let d = f16_at(p.add(D)) * y.d;
        let dmin = f16_at(p.add(DMIN)) * y.d;
        sum += d * sumi as f32 - dmin * summ as f32;
    }
    sum
}

#[target_feature(enable = "avx2")]
unsafe fn row_q6_k(r: *const u8, ex: &Expanded, acts: &[BlockQ8_K]) -> f32 {
    use layout::q6_k::*;
    let m4 = _mm256_set1_epi16(0x0f);
    let m30 = _mm256_set1_epi16(0x30);
    let c32 = _mm256_set1_epi16(32);
    let mut sum = 0.0f32;
    for (b, y) in acts.iter().enumerate() {
        let p = r.add(b * BYTES);
        let sc = p.add(SCALES) as *const i8;
        let mut sumi = 0i32;
        for h in 0..2 {
            let ql0 = ld256(p.add(QL + 64 * h));
            let ql1 = ld256(p.add(QL + 64 * h + 32));
            let qh = ld256(p.add(QH + 32 * h));
            // Lane i holds l = 2i (even) and 2i+1 (odd) of each group.
            let groups: [[__m256i; 2]; 4] = [
                [
                    _mm256_or_si256(
                        _mm256_and_si256(ql0, m4),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 8), m4),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 4), m30),
                    ),
                ],
                [
                    _mm256_or_si256(
                        _mm256_and_si256(ql1, m4),
                        _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30),
                    ),
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 8), m4),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 6), m30),
                    ),
                ],
                [
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                        _mm256_and_si256(qh, m30),
                    ),
                    _mm256_or_si256(
                        _mm256_srli_epi16(ql0, 12),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 8), m30),
                    ),
                ],
                [
                    _mm256_or_si256(
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30),
                    ),
                    _mm256_or_si256(
                        _mm256_srli_epi16(ql1, 12),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 10), m30),
                    ),
                ],
            ];
            for (g, q) in groups.iter().enumerate() {
                let a = ex.v.as_ptr().add(b * 16 + h * 8 + g * 2) as *const u8;
                let e = _mm256_sub_epi16(q[0], c32);
                let o = _mm256_sub_epi16(q[1], c32);
                // |lane| <= 2 * 32 * 127 = 8128: quarters fit i16. Lanes
                // 0..8 are l < 16 (scale 2g), lanes 8..16 l >= 16.
                let s = _mm256_add_epi16(
                    _mm256_mullo_epi16(e, ld256(a)),
                    _mm256_mullo_epi16(o, ld256(a.add(32))),
                );
                let f = fold4_i16(s);
                let is = 8 * h + 2 * g;
                sumi += *sc.add(is) as i32 * (f[0] + f[1]) + *sc.add(is + 1) as i32 * (f[2] + f[3]);
            }
        }
        sum += f16_at(p.add(D)) * y.d * sumi as f32;
    }
    sum
}

// ---------------------------------------------------------------------------
// Entry points.

#[derive(Clone, Copy)]
enum Layout {
    Eo,
    Nib,
}

/// An activation scale (an f16 value held as f32) as f16 parts.
fn act_parts(d: f32) -> (i32, i32) {
    f16_parts(half::f16::from_f32(d).to_bits())
}

fn expand_q8_0(a: &[BlockQ8_0], lay: Layout) -> Expanded {
    let mut ex = Expanded {
        v: Vec::with_capacity(a.len() * 4),
        d: Vec::with_capacity(a.len() + 8),
        s: Vec::new(),
    };
    for y in a {
        // SAFETY: AVX2 is available (this backend was selected).
        unsafe {
            match lay {
                Layout::Eo => expand_eo(&y.qs, &mut ex.v),
                Layout::Nib => expand_nib(&y.qs, &mut ex.v),
            }
        }
        ex.d.push(act_parts(y.d));
    }
    ex
}

fn expand_q8_1(a: &[BlockQ8_1]) -> Expanded {
    let mut ex = Expanded {
        v: Vec::with_capacity(a.len() * 4),
        d: Vec::with_capacity(a.len() + 8),
        s: Vec::with_capacity(a.len() + 8),
    };
    for y in a {
        // SAFETY: AVX2 is available (this backend was selected).
        unsafe { expand_nib(&y.qs, &mut ex.v) };
        ex.d.push(act_parts(y.d));
        ex.s.push(act_parts(y.s));
    }
    ex
}

fn expand_q8_k(a: &[BlockQ8_K]) -> Expanded {
    let mut ex = Expanded {
        v: Vec::with_capacity(a.len() * 16),
        d: Vec::new(),
        s: Vec::new(),
    };
    for y in a {
        // SAFETY: AVX2 is available (this backend was selected).
        unsafe { expand_eo(&y.qs, &mut ex.v) };
    }
    ex
}

/// Checks the sizes every kernel below relies on.
fn check(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    n_blocks: usize,
    rows: &Range<usize>,
    out: &[f32],
    ld: usize,
) {
    let nb = x.blocks_per_token();
    assert!(rows.end <= w.n_rows && w.data.len() >= w.n_rows * w.row_bytes());
    assert!(n_blocks >= x.n_tokens * nb && nb * w.ty.block_bytes() == w.row_bytes());
    assert!(
        x.n_tokens == 0 || (ld >= rows.len() && out.len() >= (x.n_tokens - 1) * ld + rows.len())
    );
}

fn gemm_nib(
    kind: Nib,
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    let nb = x.blocks_per_token();
    for t in 0..x.n_tokens {
        let ex = match (kind, x.data) {
            (Nib::Q4_1, ActData::Q8_1(a)) => {
                check(w, x, a.len(), &rows, out, ld);
                expand_q8_1(&a[t * nb..(t + 1) * nb])
            }
            (Nib::Q4_0 | Nib::Q5_0, ActData::Q8_0(a)) => {
                check(w, x, a.len(), &rows, out, ld);
                expand_q8_0(&a[t * nb..(t + 1) * nb], Layout::Nib)
            }
            _ => return,
        };
        for_quads(
            w,
            &rows,
            |r| {
                // SAFETY: every row in `r` is < rows.end <= n_rows (checked),
                // nb blocks each; `ex` holds nb expanded blocks; AVX2 is
                // available.
                unsafe { quad_nib(kind, r, &ex, nb) }
            },
            &mut out[t * ld..],
        );
    }
}

/// Calls `f` on groups of 4 row pointers covering `rows` (the last group
/// repeats its last row) and stores the results in `out[r - rows.start]`.
fn for_quads(
    w: &QMatrix<'_>,
    rows: &Range<usize>,
    mut f: impl FnMut([*const u8; 4]) -> [f32; 4],
    out: &mut [f32],
) {
    let rb = w.row_bytes();
    let base = w.data.as_ptr();
    let mut r = rows.start;
    while r < rows.end {
        let n = (rows.end - r).min(4);
        let idx = [r, r + 1.min(n - 1), r + 2.min(n - 1), r + 3.min(n - 1)];
        let v = f(idx.map(|i| base.wrapping_add(i * rb)));
        out[r - rows.start..r - rows.start + n].copy_from_slice(&v[..n]);
        r += n;
    }
}

pub fn gemm_q4_0(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    gemm_nib(Nib::Q4_0, w, x, rows, out, ld)
}

pub fn gemm_q4_1(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    gemm_nib(Nib::Q4_1, w, x, rows, out, ld)
}

pub fn gemm_q5_0(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    gemm_nib(Nib::Q5_0, w, x, rows, out, ld)
}

pub fn gemm_q8_0(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    let ActData::Q8_0(a) = x.data else { return };
    check(w, x, a.len(), &rows, out, ld);
    let nb = x.blocks_per_token();
    for t in 0..x.n_tokens {
        let ex = expand_q8_0(&a[t * nb..(t + 1) * nb], Layout::Eo);
        for_quads(
            w,
            &rows,
            // SAFETY: `for_quads` passes 4 row pointers of rows < rows.end <= n_rows
            // (checked), nb blocks each; AVX2 is available (this backend
            // was selected).
            |r| unsafe { quad_q8_0(r, &ex, nb) },
            &mut out[t * ld..],
        );
    }
}

fn gemm_k(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize, q6: bool) {
    let ActData::Q8_K(a) = x.data else { return };
    check(w, x, a.len(), &rows, out, ld);
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    const _: () = assert!(QK_K == 8 * QK);
    for t in 0..x.n_tokens {
        let acts = &a[t * nb..(t + 1) * nb];
        let ex = expand_q8_k(acts);
        for r in rows.clone() {
            let p = w.data.as_ptr().wrapping_add(r * rb);
            // SAFETY: row r < n_rows (checked); AVX2 is available.
            out[t * ld + r - rows.start] = unsafe {
                if q6 {
                    row_q6_k(p, &ex, acts)
                } else {
                    row_q4_k(p, &ex, acts)
                }
            };
        }
    }
}

pub fn gemm_q4_k(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    gemm_k(w, x, rows, out, ld, false)
}

pub fn gemm_q6_k(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    gemm_k(w, x, rows, out, ld, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_bit_decoding_matches_half() {
        for h in 0..=u16::MAX {
            let a = f16_to_f32(h);
            let b = half::f16::from_bits(h).to_f32();
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{h:#x}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// SiLU without `expf` (whose ~25 float instructions each cost a helper call
// under TCG): `exp(-g) = 2^t`, `t = -g·log2(e)` split in fixed point into
// `n + i/256 + r/2^24`; `2^(i/256)` from a table with linear interpolation
// (relative error < 1e-6), `2^n` from exponent bits. About 10 float
// instructions per element instead of ~30.

/// `2^x` for x in [0, 1] in f64 (a const fn: Taylor series of `e^(x ln 2)`).
const fn exp2_unit(x: f64) -> f64 {
    let y = x * core::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1;
    while k < 25 {
        term = term * y / k as f64;
        sum += term;
        k += 1;
    }
    sum
}

/// `(2^(i/256), (2^((i+1)/256) - 2^(i/256)) / 2^16)`.
static EXP2_TAB: [(f32, f32); 256] = {
    let mut t = [(0.0f32, 0.0f32); 256];
    let mut i = 0;
    while i < 256 {
        let a = exp2_unit(i as f64 / 256.0);
        let b = exp2_unit((i + 1) as f64 / 256.0);
        t[i] = (a as f32, ((b - a) / 65536.0) as f32);
        i += 1;
    }
    t
};

#[inline(always)]
fn silu_one(g: f32) -> f32 {
    let bits = g.to_bits() & 0x7fff_ffff;
    // |g| >= 80 (or NaN): exp(-g) under/overflows; silu is 0 or g.
    if bits >= 0x42a0_0000 {
        return if g.is_nan() || g > 0.0 { g } else { -0.0 };
    }
    // t · 2^24, |t| < 116: fits i32.
    let k = (g * (-core::f32::consts::LOG2_E * 16_777_216.0)) as i32;
    let n = k >> 24;
    let i = ((k >> 16) & 255) as usize;
    let r = (k & 0xffff) as f32;
    let (a, s) = EXP2_TAB[i];
    let e = (a + r * s) * f32::from_bits(((n + 127) as u32) << 23);
    g / (1.0 + e)
}

/// `gate = silu(gate) * up` (see above).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = silu_one(*g) * u;
    }
}

#[cfg(test)]
mod fix_tests {
    #[test]
    fn fix_to_f32_rounds_like_a_conversion() {
        let mut rng = crate::rng::Rng::new(11);
        for i in 0..20000 {
            let bits = rng.below(100) as u32;
            let v = (rng.next_u64() as i128) << 40 | rng.next_u64() as i128;
            let v = if bits == 0 { v } else { v >> bits.min(127) };
            let v = if i % 3 == 0 { -v } else { v };
            let want = (v as f64 * (1.0 / (1u64 << super::FIX) as f64)) as f32;
            // f64 has 53 bits: the reference itself double-rounds when v
            // has more significant bits; compare within one f32 ulp.
            let got = super::fix_to_f32(v);
            let d = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(d <= 1, "{v}: {got} vs {want}");
        }
        assert_eq!(super::fix_to_f32(1i128 << super::FIX), 1.0);
        assert_eq!(super::fix_to_f32(-(3i128 << (super::FIX - 1))), -1.5);
    }
}

#[cfg(test)]
mod silu_tests {
    #[test]
    fn silu_is_close_to_libm() {
        let mut x = -100.0f32;
        while x < 100.0 {
            let want = x / (1.0 + libm::expf(-x));
            let got = super::silu_one(x);
            assert!(
                (got - want).abs() <= 1e-5 * want.abs() + 1e-30,
                "silu({x}) = {got} vs {want}"
            );
            x += 0.01237;
        }
    }
}

// ---------------------------------------------------------------------------
// SWAR k-quants. The activations of every 32 elements as 8 words: word
// 2m + par, field f ↔ element 8m + 2f + par (reversed in the field order),
// the order in which `(x & M16, (x >> 8) & M16)` takes bytes 8m..8m+8.

const M4: u64 = 0x0f0f_0f0f_0f0f_0f0f;
const M16: u64 = 0x00ff_00ff_00ff_00ff;

fn swar_prep_k(qs: &[i8; QK_K]) -> Vec<[u64; 8]> {
    qs.chunks_exact(32)
        .map(|c| {
            let mut y = [0u64; 8];
            for m in 0..4 {
                for par in 0..2 {
                    for f in 0..4 {
                        let a = (c[8 * m + 2 * f + par] as i32 + 128) as u64;
                        y[2 * m + par] |= a << (16 * (3 - f));
                    }
                }
            }
            y
        })
        .collect()
}

/// `Σ q·(a+128)` over 8 bytes of values `q` (each < 64) against 2 words
/// `y`, product by product (field 3 of one product < 2^16), and `Σ q`.
#[inline(always)]
fn swar8(q: u64, y0: u64, y1: u64) -> (i64, i64) {
    let e = q & M16;
    let o = (q >> 8) & M16;
    let d = (e.wrapping_mul(y0) >> 48) + (o.wrapping_mul(y1) >> 48);
    let s = e + o;
    (
        d as i64,
        (s.wrapping_mul(0x0001_0001_0001_0001) >> 48) as i64,
    )
}

#[inline(always)]
unsafe fn rd64(p: *const u8) -> u64 {
    (p as *const u64).read_unaligned()
}

fn gemm_k_swar(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
    let ActData::Q8_K(a) = x.data else { return };
    check(w, x, a.len(), &rows, out, ld);
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    for t in 0..x.n_tokens {
        let acts = &a[t * nb..(t + 1) * nb];
        let ys: Vec<Vec<[u64; 8]>> = acts.iter().map(|y| swar_prep_k(&y.qs)).collect();
        for r in rows.clone() {
            let row = w.data.as_ptr().wrapping_add(r * rb);
            let mut sum = 0.0f32;
            for (b, yb) in acts.iter().enumerate() {
                let y = &ys[b];
                // SAFETY: block b of row r < n_rows (checked).
                let (sumi, d, dmin, summ) = unsafe {
                    use layout::q4_k::*;
                    let p = row.add(b * BYTES);
                    let scales = core::slice::from_raw_parts(p.add(SCALES), 12);
                    let mut sumi = 0i64;
                    let mut summ = 0i64;
                    for c in 0..4 {
                        let (s0, m0) = crate::quant::blocks::scale_min_k4(2 * c, scales);
                        let (s1, m1) = crate::quant::blocks::scale_min_k4(2 * c + 1, scales);
                        let (mut d0, mut d1) = (0i64, 0i64);
                        for m in 0..4 {
                            let v = rd64(p.add(QS + 32 * c + 8 * m));
                            let (dl, sl) = swar8(v & M4, y[2 * c][2 * m], y[2 * c][2 * m + 1]);
                            let (dh, sh) =
                                swar8((v >> 4) & M4, y[2 * c + 1][2 * m], y[2 * c + 1][2 * m + 1]);
                            d0 += dl - 128 * sl;
                            d1 += dh - 128 * sh;
                        }
                        sumi += s0 as i64 * d0 + s1 as i64 * d1;
                        summ += m0 as i64 * (yb.bsums[4 * c] as i64 + yb.bsums[4 * c + 1] as i64)
                            + m1 as i64 * (yb.bsums[4 * c + 2] as i64 + yb.bsums[4 * c + 3] as i64);
                    }
                    (sumi, f16_at(p.add(D)), f16_at(p.add(DMIN)), summ)
                };
                sum += d * yb.d * sumi as f32 - dmin * yb.d * summ as f32;
            }
            out[t * ld + r - rows.start] = sum;
        }
    }
}

pub fn gemm_q4_k_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    gemm_k_swar(w, x, rows, out, ld)
}

/// Q6_K activations for [`asm_q6_k`]: 64 signed words `Y` in the order
/// (h, g, c, par) (word fields: elements `128h + 32g + 8c + 2f + par`,
/// reversed as in [`nib_prep`]), then per 16-element sub-block the start
/// value `-4K - 32 Σa` (removes the kernel's bias and the weights' offset).
#[repr(C, align(16))]
struct Q6Act([u64; 80]);

/// The per-word bias of [`asm_q6_k`] (4 products of 0..63 and -128..127
/// land in 0..64260).
const Q6_BIAS: i64 = 32256;

fn q6_prep(a: &BlockQ8_K) -> Q6Act {
    let mut w = [0u64; 80];
    for (i, yw) in w.iter_mut().take(64).enumerate() {
        let (hgc, par) = (i / 2, i % 2);
        let (h, g, c) = (hgc / 16, hgc / 4 % 4, hgc % 4);
        let base = 128 * h + 32 * g + 8 * c + par;
        let mut y = 0i64;
        for f in 0..4 {
            y = y.wrapping_add((a.qs[base + 2 * f] as i64) << (16 * (3 - f)));
        }
        *yw = y as u64;
    }
    for (k, &b) in a.bsums.iter().enumerate() {
        w[64 + k] = (-4 * Q6_BIAS - 32 * b as i64) as u64;
    }
    Q6Act(w)
}

/// Q6_K: each super-block of a row is one [`asm_q6_k`] statement (see the
/// SWAR kernels of the 32-element formats for the technique); the scales
/// in float, once per 256 weights.
pub fn gemm_q6_k_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    use layout::q6_k::{BYTES, D};
    let ActData::Q8_K(a) = x.data else { return };
    check(w, x, a.len(), &rows, out, ld);
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    let base = w.data.as_ptr();
    for t in 0..x.n_tokens {
        let acts = &a[t * nb..(t + 1) * nb];
        let ys: Vec<Q6Act> = acts.iter().map(q6_prep).collect();
        for r in rows.clone() {
            let mut sum = 0.0f32;
            for (b, (y, ya)) in ys.iter().zip(acts).enumerate() {
                // SAFETY: block b of row r < n_rows (checked); `y` is its
                // activation block as `asm_q6_k` expects it.
                let (sumi, d) = unsafe {
                    let p = base.add(r * rb + b * BYTES);
                    (asm_q6_k(p, y.0.as_ptr()), f16_at(p.add(D)))
                };
                sum += d * ya.d * sumi as f32;
            }
            out[t * ld + r - rows.start] = sum;
        }
    }
}

// ---------------------------------------------------------------------------
// Attention without float arithmetic in the inner loops (under TCG every
// float instruction is a helper call: the f16 × f16 products of the scalar
// `attend` cost ~200 ns each, which makes long contexts crawl). f16 values
// are `m · 2^e` with 11-bit integers `m`; products of parts are summed
// exactly in i128 fixed point (2^-48), like the matrix kernels.

/// `e^x` for x <= 0 (softmax inputs), table-based like [`silu_one`]:
/// relative error < 2e-6; 0 below -87.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    if x < -87.0 {
        return 0.0;
    }
    // t = x·log2(e) in [-126, 0]; t · 2^24 fits i32.
    let k = (x * (core::f32::consts::LOG2_E * 16_777_216.0)) as i32;
    let n = k >> 24;
    let i = ((k >> 16) & 255) as usize;
    let r = (k & 0xffff) as f32;
    let (a, s) = EXP2_TAB[i];
    (a + r * s) * f32::from_bits(((n + 127) as u32) << 23)
}

/// One attention head (see [`crate::quant::scalar::attend`]).
pub fn attend(
    q: &[half::f16],
    keys: &[half::f16],
    values: &[half::f16],
    scale: f32,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let hd = q.len();
    let n_pos = scores.len();
    assert!(keys.len() >= n_pos * hd && values.len() >= n_pos * hd && out.len() >= hd);
    let qp: Vec<(i32, i32)> = q.iter().map(|h| f16_parts(h.to_bits())).collect();
    for (p, s) in scores.iter_mut().enumerate() {
        let k = &keys[p * hd..(p + 1) * hd];
        let mut acc = 0i128;
        for (&(mq, eq), kh) in qp.iter().zip(k) {
            let (mk, ek) = f16_parts(opaque(kh.to_bits() as u32) as u16);
            fix_add(&mut acc, (mq * mk) as i64, eq + ek);
        }
        *s = fix_to_f32(acc) * scale;
    }
    // Softmax (f32 sum; the scalar reference sums in f64).
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = exp_neg(*s - max);
        sum += *s;
    }
    let inv = 1.0 / sum;
    // Weights as 24-bit fixed point: Σ_p w_p · v_p in i128 at 2^-48.
    let mut acc: Vec<i128> = alloc::vec![0; hd];
    for (p, s) in scores.iter_mut().enumerate() {
        *s *= inv;
        let wp = (*s * 16_777_216.0) as i64;
        if wp == 0 {
            continue;
        }
        let v = &values[p * hd..(p + 1) * hd];
        for (a, vh) in acc.iter_mut().zip(v) {
            let (mv, ev) = f16_parts(opaque(vh.to_bits() as u32) as u16);
            // 2^-24 (weight) · 2^ev = 2^(ev - 24) = 2^-48 · 2^(ev + 24).
            fix_add(a, wp * mv as i64, ev + 24 - FIX);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = fix_to_f32(a);
    }
}

// ---------------------------------------------------------------------------
// SWAR kernels for the 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0): plain
// 64-bit integer multiplies, no vector arithmetic at all. Under QEMU 7.2's
// system-mode TCG they run 2.7-4x faster than the vector kernels above
// (`/bench kernels` in the kernel: Q4_1 1536x576 16 ns per 32 weights
// against 87, Q8_0 49152x576 24 ns against 64).
//
// Four 4/5-bit weights sit in the 16-bit fields of a u64 `X` (field f =
// element e_f, see [`swar_elem`]); the matching *signed* activations form
// `Y = Σ_f a_f · 2^(16(3-f))` as a wrapping integer. In the wrapping
// product `X · Y` the terms `w_f a_f` all land at 2^48, the ones above wrap
// away, and the ones below stay under 2^47 in magnitude for up to four
// words summed (4 · (3 · 15 · 127 · 2^32 + ...) < 2^46.5; Q5_0 shifts each
// product alone: its fields reach 31), so `(Σ X·Y + 2^47) >> 48`
// (arithmetic) is `Σ w·a` exactly (|Σ| <= 16 · 15 · 127 < 2^15). Q8_0 does
// the same with two 32-bit fields (weights offset to 0..255, removed with
// `128 Σa`).
//
// Scales in fixed point: an f16 `h` is `W(h) · 2^-25` with `W` an integer
// (< 2^42), so a block adds `(sumi · W(d_a)) · W(d_w)` (a 64 × 64 → 128-bit
// multiply) to an i128 at 2^-50; no float instruction per block.
//
// Fewer guest memory accesses: every guest load and store goes through
// TCG's soft TLB, so a block's activation words are loaded once into xmm
// registers (which TCG keeps in its CPU state) and used for four rows; a
// row's block costs its 2-4 weight loads and one scale load. Each row
// block is one inline-asm statement from `tcg_asm.py` (see [`super::tcg_asm`]),
// so LLVM neither spills nor vectorizes it into SSE code that TCG runs
// through helpers. The asm needs BMI2 (`shlx`).

/// Element order of the 8 `X` words of a block: for half h (bytes 8h..8h+8
/// of `qs`): low nibbles even/odd, high nibbles even/odd; field f.
#[inline(always)]
fn swar_elem(word: usize, f: usize) -> usize {
    let h = word / 4;
    let base = if (word / 2).is_multiple_of(2) {
        8 * h
    } else {
        16 + 8 * h
    };
    base + 2 * f + word % 2
}

/// Rows per pass over a block's activation words (held in xmm registers).
const SWAR_ROWS: usize = 4;

/// Fixed-point position of the SWAR accumulators (`2^-SWAR_FIX`).
const SWAR_FIX: i32 = 50;

/// `h` (f16 bits) as `W` with value `W · 2^-25`, exactly (no branch).
#[inline(always)]
fn f16_w(h: u32) -> i64 {
    let e = (h >> 10) & 31;
    let norm = (e != 0) as u64;
    let m = (h & 0x3ff) as u64 | (norm << 10);
    let w = (m << (e | (norm as u32 ^ 1))) as i64;
    let s = ((h << 16) as i32 >> 31) as i64;
    (w ^ s) - s
}

/// An activation scale (f32 holding an f16 value) as [`f16_w`].
fn act_w(d: f32) -> i64 {
    f16_w(half::f16::from_f32(d).to_bits() as u32)
}

/// Two u64 from 16 bytes at `p`, as an xmm register (two 64-bit loads).
#[inline(always)]
unsafe fn ld_x2(p: *const u64) -> __m128i {
    let r: __m128i;
    core::arch::asm!(
        "vmovq {r}, qword ptr [{p}]",
        "vpinsrq {r}, {r}, qword ptr [{p} + 8], 1",
        p = in(reg) p,
        r = out(xmm_reg) r,
        options(pure, readonly, nostack, preserves_flags),
    );
    r
}

const K_Q4_0: u8 = 0;
const K_Q4_1: u8 = 1;
const K_Q5_0: u8 = 2;

/// A nibble format's block activations: the 8 signed `Y`
/// words (field order of [`swar_elem`]), `W(d)`, and for Q4_1 `W(s)`, for
/// Q4_0/Q5_0 the offset `8 Σa` / `16 Σa`.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct NibAct([u64; 10]);

fn nib_prep<const K: u8>(qs: &[i8; QK], d: f32, s: f32) -> NibAct {
    let mut w = [0u64; 10];
    for (wd, yw) in w.iter_mut().take(8).enumerate() {
        let mut y = 0i64;
        for f in 0..4 {
            y = y.wrapping_add((qs[swar_elem(wd, f)] as i64) << (16 * (3 - f)));
        }
        *yw = y as u64;
    }
    let sum: i64 = qs.iter().map(|&v| v as i64).sum();
    w[8] = act_w(d) as u64;
    w[9] = match K {
        K_Q4_1 => act_w(s),
        K_Q4_0 => 8 * sum,
        _ => 16 * sum,
    } as u64;
    NibAct(w)
}

/// Rows `p + r * rb` (r < R) against `nb` activation blocks at `ap`: the
/// accumulators (i128 at 2^-50) live in xmm registers, the block's
/// activation words too; each row block is one asm statement (so LLVM
/// neither interleaves the rows, which spills, nor vectorizes their scale
/// decoding into SSE code, which TCG runs through helpers).
#[inline(always)]
unsafe fn nib_rows<const K: u8, const R: usize>(
    p: *const u8,
    rb: usize,
    ap: *const NibAct,
    nb: usize,
) -> [i128; R] {
    let bytes = match K {
        K_Q4_0 => layout::q4_0::BYTES,
        K_Q4_1 => layout::q4_1::BYTES,
        _ => layout::q5_0::BYTES,
    };
    let mut acc = [_mm_setzero_si128(); R];
    for b in 0..nb {
        let q = ap.add(b) as *const u64;
        let a = [
            ld_x2(q),
            ld_x2(q.add(2)),
            ld_x2(q.add(4)),
            ld_x2(q.add(6)),
            ld_x2(q.add(8)),
        ];
        for (r, acc) in acc.iter_mut().enumerate() {
            let pb = p.add(r * rb + b * bytes);
            match K {
                K_Q4_0 => asm_q4_0(pb, &a, acc),
                K_Q4_1 => asm_q4_1(pb, &a, acc),
                _ => asm_q5_0(pb, &a, acc),
            }
        }
    }
    acc.map(|v| core::mem::transmute::<__m128i, i128>(v))
}

/// Rows `rows` of one token into `o` (indexed from `rows.start`):
/// [`SWAR_ROWS`] rows at a time through `quad(r)`, the rest one by one
/// through `one(r)`, each an accumulator at `2^-SWAR_FIX`.
#[inline(always)]
fn swar_rows(
    rows: &Range<usize>,
    o: &mut [f32],
    quad: impl Fn(usize) -> [i128; SWAR_ROWS],
    one: impl Fn(usize) -> [i128; 1],
) {
    let mut r = rows.start;
    while r + SWAR_ROWS <= rows.end {
        for (i, a) in quad(r).into_iter().enumerate() {
            o[r + i - rows.start] = fix_to_f32_at::<SWAR_FIX>(a);
        }
        r += SWAR_ROWS;
    }
    while r < rows.end {
        o[r - rows.start] = fix_to_f32_at::<SWAR_FIX>(one(r)[0]);
        r += 1;
    }
}

fn gemm_nib_swar<const K: u8>(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    let base = w.data.as_ptr();
    for t in 0..x.n_tokens {
        let acts: Vec<NibAct> = match (K, x.data) {
            (K_Q4_1, ActData::Q8_1(a)) => {
                check(w, x, a.len(), &rows, out, ld);
                a[t * nb..(t + 1) * nb]
                    .iter()
                    .map(|y| nib_prep::<K>(&y.qs, y.d, y.s))
                    .collect()
            }
            (K_Q4_0 | K_Q5_0, ActData::Q8_0(a)) => {
                check(w, x, a.len(), &rows, out, ld);
                a[t * nb..(t + 1) * nb]
                    .iter()
                    .map(|y| nib_prep::<K>(&y.qs, y.d, 0.0))
                    .collect()
            }
            _ => return,
        };
        swar_rows(
            &rows,
            &mut out[t * ld..],
            // SAFETY: `swar_rows` passes rows r..r + SWAR_ROWS <= rows.end
            // <= n_rows (checked), nb blocks each; `acts` holds nb blocks.
            |r| unsafe { nib_rows::<K, SWAR_ROWS>(base.add(r * rb), rb, acts.as_ptr(), nb) },
            // SAFETY: likewise for the single rows r < rows.end left over.
            |r| unsafe { nib_rows::<K, 1>(base.add(r * rb), rb, acts.as_ptr(), nb) },
        );
    }
}

pub fn gemm_q4_0_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    gemm_nib_swar::<K_Q4_0>(w, x, rows, out, ld)
}

pub fn gemm_q4_1_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    gemm_nib_swar::<K_Q4_1>(w, x, rows, out, ld)
}

pub fn gemm_q5_0_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    gemm_nib_swar::<K_Q5_0>(w, x, rows, out, ld)
}

/// A Q8_0 block's activations: 16 signed words `Y[4m + j] =
/// a[8m + j + 4] + a[8m + j] · 2^32` (two products per multiply in the
/// upper 32-bit field), `W(d)` and `128 Σa` (the weights are offset by 128
/// to unsigned fields).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Q8Act([u64; 18]);

fn q8_prep(qs: &[i8; QK], d: f32) -> Q8Act {
    let mut w = [0u64; 18];
    for m in 0..4 {
        for j in 0..4 {
            let lo = qs[8 * m + j] as i64;
            let hi = qs[8 * m + j + 4] as i64;
            w[4 * m + j] = hi.wrapping_add(lo << 32) as u64;
        }
    }
    w[16] = act_w(d) as u64;
    w[17] = (128 * qs.iter().map(|&v| v as i64).sum::<i64>()) as u64;
    Q8Act(w)
}

#[inline(always)]
unsafe fn q8_rows<const R: usize>(
    p: *const u8,
    rb: usize,
    ap: *const Q8Act,
    nb: usize,
) -> [i128; R] {
    use layout::q8_0::BYTES;
    let mut acc = [_mm_setzero_si128(); R];
    for b in 0..nb {
        let q = ap.add(b) as *const u64;
        let a = [
            ld_x2(q),
            ld_x2(q.add(2)),
            ld_x2(q.add(4)),
            ld_x2(q.add(6)),
            ld_x2(q.add(8)),
            ld_x2(q.add(10)),
            ld_x2(q.add(12)),
            ld_x2(q.add(14)),
            ld_x2(q.add(16)),
        ];
        for (r, acc) in acc.iter_mut().enumerate() {
            asm_q8_0(p.add(r * rb + b * BYTES), &a, acc);
        }
    }
    acc.map(|v| core::mem::transmute::<__m128i, i128>(v))
}

pub fn gemm_q8_0_swar(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
) {
    let ActData::Q8_0(a) = x.data else { return };
    check(w, x, a.len(), &rows, out, ld);
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    let base = w.data.as_ptr();
    for t in 0..x.n_tokens {
        let acts: Vec<Q8Act> = a[t * nb..(t + 1) * nb]
            .iter()
            .map(|y| q8_prep(&y.qs, y.d))
            .collect();
        swar_rows(
            &rows,
            &mut out[t * ld..],
            // SAFETY: `swar_rows` passes rows r..r + SWAR_ROWS <= rows.end
            // <= n_rows (checked), nb blocks each; `acts` holds nb blocks.
            |r| unsafe { q8_rows::<SWAR_ROWS>(base.add(r * rb), rb, acts.as_ptr(), nb) },
            // SAFETY: likewise for the single rows r < rows.end left over.
            |r| unsafe { q8_rows::<1>(base.add(r * rb), rb, acts.as_ptr(), nb) },
        );
    }
}
