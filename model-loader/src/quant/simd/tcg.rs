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

use alloc::vec::Vec;
use core::arch::x86_64::*;
use core::ops::Range;

use crate::quant::blocks::{layout, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK, QK_K};
use crate::quant::matrix::{ActData, Acts, QMatrix};

pub fn available() -> bool {
    // The kernels need AVX2; the backend's vector helpers (shared with the
    // `avx2` backend) FMA and F16C too.
    crate::quant::simd::x86::avx2::available()
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
    *acc += (v as i128) << ((e + FIX) as u32 & 127);
}

#[inline(always)]
fn fix_to_f32(acc: i128) -> f32 {
    (acc as f64 * (1.0 / (1u64 << FIX) as f64)) as f32
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
        // SAFETY: rows < n_rows (checked), nb blocks each; AVX2 available.
        for_quads(
            w,
            &rows,
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
