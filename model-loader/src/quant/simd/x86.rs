//! Native x86 kernels: `u8 × i8` byte dot products (`vpmaddubsw` +
//! `vpmaddwd` on AVX2, `vpdpbusd` with AVX-VNNI / AVX512-VNNI), f32
//! accumulation with FMA.
//!
//! The same kernel bodies are instantiated for each instruction set by the
//! [`kernels!`] macro; only the byte-dot primitive (`dot_acc`), the target
//! features and the tile shape differ. Every kernel computes a tile of
//! `R` weight rows × `T` tokens, so each weight block is loaded and decoded
//! once per `T` tokens and each activation block once per `R` rows.
//!
//! Byte dots are exact in i32: weights are made unsigned (nibbles, or the
//! `x ^ 0x80` trick for Q8_0 on VNNI) and their offsets (`-8`, `-16`, `-32`)
//! are subtracted as multiples of the activation sums, lane by lane, so the
//! lanes match the 4-element groups that `vpmaddubsw`+`vpmaddwd` and
//! `vpdpbusd` both produce.
//!
//! # Safety
//! Every `unsafe fn` here needs the target features of its instruction set
//! module (AVX2 + FMA + F16C, plus AVX-VNNI or AVX512-VNNI), which the
//! backend's `available()` checks, and its pointers to cover what it reads
//! or writes: `p` one weight block, `w` the tile's `R` rows of `nb` blocks
//! each at stride `ws`, `a` the tile's `T` tokens' activation blocks, `out`
//! its `R × T` results (`pb`, the repacked panel, likewise). The tiles are
//! called by [`super::driver`], which checks those bounds, and the panel
//! path's calls say at each `unsafe` block why they hold.

/// The four tile shapes of one tile kernel (4 × `$tt`, 4 × 1, 1 × `$tt`, 1 × 1).
macro_rules! tiles {
    ($tt:expr, $rd:expr, $tile:ident $(, $k:expr)?) => {
        Tiles {
            t: $tt,
            rd: $rd,
            rt: $tile::<4, $tt $(, $k)?> as TileFn<_>,
            r1: $tile::<$rd, 1 $(, $k)?> as TileFn<_>,
            st: $tile::<1, $tt $(, $k)?> as TileFn<_>,
            s1: $tile::<1, 1 $(, $k)?> as TileFn<_>,
        }
    };
}

/// Generates one backend's kernel module.
///
/// `$feat`: target features; `$dot`: `unsafe fn(acc, u8s, i8s) -> acc +
/// Σ(4-byte groups)`; `$tt`: tokens per prefill tile (tiles have 4 rows).
macro_rules! kernels {
    ($feat:literal, $tt:literal, $rd:literal, $dot:path, $vnni:literal) => {
        use core::ops::Range;

        use crate::quant::blocks::{layout, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK_K};
        use crate::quant::matrix::{ActData, Acts, QMatrix};
        use crate::quant::simd::driver::{drive, TileFn, Tiles};

        const PF: usize = match option_env!("LLM_PF") {
            Some(_) => 0,
            None => 384,
        };

        /// `acc + Σ u·s` over each group of 4 bytes.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn dot_acc(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
            $dot(acc, u, s)
        }

        /// Software prefetch in matrix × vector tiles: the same block of the
        /// same row in the next tile (`R` rows further; rows are adjacent,
        /// so for short rows a fixed distance would only fetch this tile's
        /// next row, already being read), or `PF` bytes ahead when that
        /// is closer. Weights stream from memory once per token.
        ///
        /// Blocks larger than a cache line (the k-quants: 144 and 210
        /// bytes) get one prefetch per line: with 8 rows read side by side
        /// the hardware prefetcher does not cover them (Q6_K decode streamed
        /// at half the bandwidth of the other formats without this).
        ///
        /// The hint is `T2` (into L2, not L1): with `T0` every prefetch holds
        /// one of the few L1 miss buffers until its line arrives, which
        /// capped decode at ~9 GB/s on a Zen 4 (Q8_0 9 → 18 Gmac/s, Q6_K 12
        /// → 19, Q5_0 16 → 20 on a 131072-row matrix, out of cache).
        #[inline(always)]
        fn prefetch<const R: usize, const T: usize>(p: *const u8, ws: usize, bytes: usize) {
            if T == 1 {
                let d = if R * ws < PF { PF } else { R * ws };
                let mut o = 0;
                while o < bytes {
                    // SAFETY: a prefetch never faults, whatever the address.
                    unsafe { _mm_prefetch(p.wrapping_add(d + o) as *const i8, _MM_HINT_T2) };
                    o += 64;
                }
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn f16(p: *const u8) -> f32 {
            let h = (p as *const u16).read_unaligned();
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
        }

        /// The f16 at `p` as f32, in all 8 lanes: a broadcast load
        /// (`vpbroadcastw`) and one conversion. (A scalar load into lane 0
        /// became `vpinsrw` merging into an accumulator register: a false
        /// dependency that chained every block of a tile to the previous
        /// block's last multiply-add.)
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn f16x8(p: *const u8) -> __m256 {
            let h = (p as *const i16).read_unaligned();
            _mm256_cvtph_ps(_mm_set1_epi16(h))
        }

        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }

        /// The 32 nibbles of a 16-byte block as bytes, in element order
        /// (low nibbles: elements 0..16, high: 16..32).
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn nibbles(p: *const u8) -> __m256i {
            let x = _mm_loadu_si128(p as *const __m128i);
            let y = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
            _mm256_and_si256(y, _mm256_set1_epi8(0x0f))
        }

        /// Byte `j` = 0x10 if bit `j` of `qh` is set, else 0.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn bits16(qh: u32) -> __m256i {
            if let Some(v) = bits16_mask(qh) {
                return v;
            }
            let shuf = _mm256_set_epi64x(
                0x0303030303030303,
                0x0202020202020202,
                0x0101010101010101,
                0x0000000000000000,
            );
            let x = _mm256_shuffle_epi8(_mm256_set1_epi32(qh as i32), shuf);
            let bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeu64 as i64);
            let x = _mm256_or_si256(x, bit);
            let m = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(-1));
            _mm256_and_si256(m, _mm256_set1_epi8(0x10))
        }

        /// Lane sums of 4-byte groups of `a` (i8), times `-k`.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn neg_sums(a: __m256i, k: i32) -> __m256i {
            let s = dot_acc(_mm256_setzero_si256(), _mm256_set1_epi8(1), a);
            _mm256_mullo_epi32(s, _mm256_set1_epi32(-k))
        }

        // -------------------------------------------------------------------
        // 32-element formats × Q8_0 / Q8_1.

        /// Q4_0, Q5_0 (and Q8_0 on VNNI): unsigned weights with an offset
        /// times the activation sums (once per activation block for all rows).
        #[target_feature(enable = $feat)]
        unsafe fn tile_q4_0<const R: usize, const T: usize, const KIND: u8>(
            w: *const u8,
            ws: usize,
            a: *const BlockQ8_0,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            // KIND: 0 = Q4_0, 1 = Q5_0, 2 = Q8_0.
            let (bytes, off) = match KIND {
                0 => (layout::q4_0::BYTES, 8),
                1 => (layout::q5_0::BYTES, 16),
                _ => (layout::q8_0::BYTES, 128),
            };
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            for b in 0..nb {
                let mut av = [_mm256_setzero_si256(); T];
                let mut off_t = [_mm256_setzero_si256(); T];
                let mut dt = [_mm256_setzero_ps(); T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    let q = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                    av[t] = q;
                    off_t[t] = neg_sums(q, off);
                    dt[t] = _mm256_set1_ps(y.d);
                }
                for r in 0..R {
                    let p = w.add(r * ws + b * bytes);
                    prefetch::<R, T>(p, ws, bytes);
                    let dr = f16x8(p);
                    let wq = match KIND {
                        0 => nibbles(p.add(2)),
                        1 => {
                            let qh = (p.add(2) as *const u32).read_unaligned();
                            _mm256_or_si256(nibbles(p.add(6)), bits16(qh))
                        }
                        // Q8_0 weights are signed: (w ^ 0x80) = w + 128
                        // unsigned, and (w + 128)·a = w·a + 128 Σa, the
                        // offset being per activation block (shared by
                        // all rows) like the nibble formats'.
                        _ => _mm256_xor_si256(
                            _mm256_loadu_si256(p.add(2) as *const __m256i),
                            _mm256_set1_epi8(-128),
                        ),
                    };
                    for t in 0..T {
                        let s = dot_acc(off_t[t], wq, av[t]);
                        acc[r][t] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(s),
                            _mm256_mul_ps(dr, dt[t]),
                            acc[r][t],
                        );
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    *out.add(t * ld + r) = hsum(acc[r][t]);
                }
            }
        }

        /// Q8_0 × Q8_0 with the sign trick (`vpmaddubsw` needs one unsigned
        /// operand): |w| · sign(a, w). Exact unless an activation is -128,
        /// which the activation quantizer never produces.
        #[target_feature(enable = $feat)]
        unsafe fn tile_q8_0_sign<const R: usize, const T: usize>(
            w: *const u8,
            ws: usize,
            a: *const BlockQ8_0,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            for b in 0..nb {
                let mut av = [_mm256_setzero_si256(); T];
                let mut dt = [_mm256_setzero_ps(); T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    av[t] = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                    dt[t] = _mm256_set1_ps(y.d);
                }
                for r in 0..R {
                    let p = w.add(r * ws + b * layout::q8_0::BYTES);
                    prefetch::<R, T>(p, ws, layout::q8_0::BYTES);
                    let dr = f16x8(p);
                    let wq = _mm256_loadu_si256(p.add(2) as *const __m256i);
                    let wa = _mm256_abs_epi8(wq);
                    for t in 0..T {
                        let s = dot_acc(_mm256_setzero_si256(), wa, _mm256_sign_epi8(av[t], wq));
                        acc[r][t] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(s),
                            _mm256_mul_ps(dr, dt[t]),
                            acc[r][t],
                        );
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    *out.add(t * ld + r) = hsum(acc[r][t]);
                }
            }
        }

        /// Q4_1 × Q8_1: `d·Σq·a + m·s` per block (the `m·s` term is spread
        /// over the 8 lanes as `m · s/8`, exact scaling by a power of two).
        #[target_feature(enable = $feat)]
        unsafe fn tile_q4_1<const R: usize, const T: usize>(
            w: *const u8,
            ws: usize,
            a: *const BlockQ8_1,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            for b in 0..nb {
                let mut av = [_mm256_setzero_si256(); T];
                let mut dt = [_mm256_setzero_ps(); T];
                let mut st = [_mm256_setzero_ps(); T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    av[t] = _mm256_loadu_si256(y.qs.as_ptr() as *const __m256i);
                    dt[t] = _mm256_set1_ps(y.d);
                    st[t] = _mm256_set1_ps(y.s * 0.125);
                }
                for r in 0..R {
                    let p = w.add(r * ws + b * layout::q4_1::BYTES);
                    prefetch::<R, T>(p, ws, layout::q4_1::BYTES);
                    let dm = _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const i32).read_unaligned()));
                    let dr = _mm256_broadcastss_ps(dm);
                    let mr = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                    let wq = nibbles(p.add(4));
                    for t in 0..T {
                        let s = dot_acc(_mm256_setzero_si256(), wq, av[t]);
                        let v = _mm256_fmadd_ps(mr, st[t], acc[r][t]);
                        acc[r][t] =
                            _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dr, dt[t]), v);
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    *out.add(t * ld + r) = hsum(acc[r][t]);
                }
            }
        }

        // -------------------------------------------------------------------
        // k-quants × Q8_K.

        /// The 8 scales (bytes 0..8) and 8 mins (bytes 8..16) of a Q4_K block.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn q4k_scales(p: *const u8) -> [u32; 4] {
            const K1: u32 = 0x3f3f3f3f;
            const K2: u32 = 0x0f0f0f0f;
            const K3: u32 = 0x03030303;
            let q = p as *const u32;
            let u0 = q.read_unaligned();
            let u1 = q.add(1).read_unaligned();
            let u2 = q.add(2).read_unaligned();
            [
                u0 & K1,
                (u2 & K2) | (((u0 >> 6) & K3) << 4),
                u1 & K1,
                ((u2 >> 4) & K2) | (((u1 >> 6) & K3) << 4),
            ]
        }

        #[target_feature(enable = $feat)]
        unsafe fn tile_q4_k<const R: usize, const T: usize>(
            w: *const u8,
            ws: usize,
            a: *const BlockQ8_K,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            use layout::q4_k::*;
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            for b in 0..nb {
                let mut dt = [_mm256_setzero_ps(); T];
                let mut bs = [_mm256_setzero_si256(); T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    dt[t] = _mm256_set1_ps(y.d);
                    bs[t] = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                }
                for r in 0..R {
                    let p = w.add(r * ws + b * BYTES);
                    prefetch::<R, T>(p, ws, BYTES);
                    let d = f16x8(p.add(D));
                    let dmin = f16x8(p.add(DMIN));
                    let u = q4k_scales(p.add(SCALES));
                    let sc: [u8; 8] = core::mem::transmute([u[0], u[1]]);
                    let mins = _mm_set_epi32(0, 0, u[3] as i32, u[2] as i32);
                    let mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
                    let mut scv = [_mm256_setzero_si256(); 8];
                    for j in 0..8 {
                        scv[j] = _mm256_set1_epi16(sc[j] as i16);
                    }
                    let mut sumi = [_mm256_setzero_si256(); T];
                    for c in 0..4 {
                        let q = _mm256_loadu_si256(p.add(QS + 32 * c) as *const __m256i);
                        let lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
                        let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
                        for t in 0..T {
                            let y = &*a.add(t * as_ + b);
                            let a0 =
                                _mm256_loadu_si256(y.qs.as_ptr().add(64 * c) as *const __m256i);
                            let a1 = _mm256_loadu_si256(
                                y.qs.as_ptr().add(64 * c + 32) as *const __m256i
                            );
                            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), scv[2 * c]);
                            let p1 =
                                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), scv[2 * c + 1]);
                            sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
                        }
                    }
                    for t in 0..T {
                        let m = _mm256_madd_epi16(bs[t], mins16);
                        let v = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(sumi[t]),
                            _mm256_mul_ps(d, dt[t]),
                            acc[r][t],
                        );
                        acc[r][t] =
                            _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(dmin, dt[t]), v);
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    *out.add(t * ld + r) = hsum(acc[r][t]);
                }
            }
        }

        #[target_feature(enable = $feat)]
        unsafe fn tile_q6_k<const R: usize, const T: usize>(
            w: *const u8,
            ws: usize,
            a: *const BlockQ8_K,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            use layout::q6_k::*;
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            let m4 = _mm256_set1_epi8(0x0f);
            let m3 = _mm256_set1_epi8(0x03);
            let m30 = _mm256_set1_epi8(0x30);
            for b in 0..nb {
                let mut dt = [_mm256_setzero_ps(); T];
                let mut bs = [_mm256_setzero_si256(); T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    dt[t] = _mm256_set1_ps(y.d);
                    bs[t] = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                }
                for r in 0..R {
                    let p = w.add(r * ws + b * BYTES);
                    prefetch::<R, T>(p, ws, BYTES);
                    let d = f16x8(p.add(D));
                    let sc8 = _mm_loadu_si128(p.add(SCALES) as *const __m128i);
                    let sc16 = _mm256_cvtepi8_epi16(sc8);
                    // Offset: -32 Σ_k sc_k bsum_k, per lane pair.
                    let mut sumi = [_mm256_setzero_si256(); T];
                    for t in 0..T {
                        sumi[t] = _mm256_slli_epi32(_mm256_madd_epi16(bs[t], sc16), 5);
                        sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), sumi[t]);
                    }
                    for h in 0..2 {
                        let ql0 = _mm256_loadu_si256(p.add(QL + 64 * h) as *const __m256i);
                        let ql1 = _mm256_loadu_si256(p.add(QL + 64 * h + 32) as *const __m256i);
                        let qh = _mm256_loadu_si256(p.add(QH + 32 * h) as *const __m256i);
                        let q = [
                            _mm256_or_si256(
                                _mm256_and_si256(ql0, m4),
                                _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(ql1, m4),
                                _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_and_si256(qh, m30),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30),
                            ),
                        ];
                        let s = p.add(SCALES + 8 * h) as *const i8;
                        for g in 0..4 {
                            let scv = _mm256_set_m128i(
                                _mm_set1_epi16(*s.add(2 * g + 1) as i16),
                                _mm_set1_epi16(*s.add(2 * g) as i16),
                            );
                            for t in 0..T {
                                let y = &*a.add(t * as_ + b);
                                let av = _mm256_loadu_si256(
                                    y.qs.as_ptr().add(128 * h + 32 * g) as *const __m256i
                                );
                                let pr = _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], av), scv);
                                sumi[t] = _mm256_add_epi32(sumi[t], pr);
                            }
                        }
                    }
                    for t in 0..T {
                        acc[r][t] = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(sumi[t]),
                            _mm256_mul_ps(d, dt[t]),
                            acc[r][t],
                        );
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    *out.add(t * ld + r) = hsum(acc[r][t]);
                }
            }
        }

        // -------------------------------------------------------------------
        // Prefill panels: 8 rows, weights repacked so one vector holds the
        // same 4 bytes of 8 rows; a byte dot with a broadcast activation
        // dword then leaves one row per lane, and the per-block scaling is
        // one multiply-add per 8 rows (instead of per row).

        /// 8 × 8 transpose of 32-bit lanes.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn transpose8(r: &mut [__m256i; 8]) {
            let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
            let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
            let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
            let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
            let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            let u0 = _mm256_unpacklo_epi64(t0, t2);
            let u1 = _mm256_unpackhi_epi64(t0, t2);
            let u2 = _mm256_unpacklo_epi64(t1, t3);
            let u3 = _mm256_unpackhi_epi64(t1, t3);
            let u4 = _mm256_unpacklo_epi64(t4, t6);
            let u5 = _mm256_unpackhi_epi64(t4, t6);
            let u6 = _mm256_unpacklo_epi64(t5, t7);
            let u7 = _mm256_unpackhi_epi64(t5, t7);
            r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
            r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
            r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
            r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
            r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
            r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
            r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
            r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
        }

        /// One repacked block of 8 rows.
        #[derive(Clone, Copy)]
        #[repr(C, align(32))]
        struct PanelBlock {
            /// Group k: bytes 4k..4k+4 of rows 0..8.
            q: [__m256i; 8],
            /// Row scales, and Q4_1 mins.
            d: __m256,
            m: __m256,
            /// Q8_0 (VNNI): -128 · Σw per row.
            off: __m256i,
        }

        /// Repacks blocks of rows `w + i * ws` (i < 8) for KIND (0: Q4_0, 1:
        /// Q5_0, 2: Q8_0, 3: Q4_1).
        #[target_feature(enable = $feat)]
        unsafe fn repack<const KIND: u8>(w: *const u8, ws: usize, nb: usize, out: &mut alloc::vec::Vec<PanelBlock>) {
            let bytes = match KIND {
                0 => layout::q4_0::BYTES,
                1 => layout::q5_0::BYTES,
                2 => layout::q8_0::BYTES,
                _ => layout::q4_1::BYTES,
            };
            out.clear();
            for b in 0..nb {
                let mut r = [_mm256_setzero_si256(); 8];
                let mut d = [0.0f32; 8];
                let mut m = [0.0f32; 8];
                for i in 0..8 {
                    let p = w.add(i * ws + b * bytes);
                    d[i] = f16(p);
                    r[i] = match KIND {
                        0 => nibbles(p.add(2)),
                        1 => {
                            let qh = (p.add(2) as *const u32).read_unaligned();
                            _mm256_or_si256(nibbles(p.add(6)), bits16(qh))
                        }
                        2 => _mm256_loadu_si256(p.add(2) as *const __m256i),
                        _ => {
                            m[i] = f16(p.add(2));
                            nibbles(p.add(4))
                        }
                    };
                }
                let mut off = _mm256_setzero_si256();
                if KIND == 2 {
                    let mut o = [0i32; 8];
                    for i in 0..8 {
                        let s = dot_acc(_mm256_setzero_si256(), _mm256_set1_epi8(1), r[i]);
                        let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
                        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
                        o[i] = -128 * _mm_cvtsi128_si32(s);
                    }
                    off = _mm256_loadu_si256(o.as_ptr() as *const __m256i);
                }
                transpose8(&mut r);
                out.push(PanelBlock {
                    q: r,
                    d: _mm256_loadu_ps(d.as_ptr()),
                    m: _mm256_loadu_ps(m.as_ptr()),
                    off,
                });
            }
        }

        /// Panel × `T` tokens: `out[t * ld + i]` for rows i < 8. `a` points
        /// at token 0's first activation block (stride `as_` blocks), `sums`
        /// at its per-block activation sums times the format offset.
        #[target_feature(enable = $feat)]
        unsafe fn panel_tile<A, const T: usize, const KIND: u8>(
            pb: &[PanelBlock],
            a: *const A,
            as_: usize,
            qs_off: usize,
            sums: *const i32,
            out: *mut f32,
            ld: usize,
        ) {
            let mut acc = [_mm256_setzero_ps(); T];
            for (b, blk) in pb.iter().enumerate() {
                for t in 0..T {
                    let y = a.add(t * as_ + b) as *const u8;
                    let qs = y.add(qs_off);
                    let mut s = if KIND == 2 { blk.off } else { _mm256_set1_epi32(-*sums.add(t * as_ + b)) };
                    for k in 0..8 {
                        let av = _mm256_set1_epi32((qs.add(4 * k) as *const i32).read_unaligned());
                        s = if KIND == 2 {
                            dot_acc(s, _mm256_xor_si256(av, _mm256_set1_epi8(-128)), blk.q[k])
                        } else {
                            dot_acc(s, blk.q[k], av)
                        };
                    }
                    let da = _mm256_set1_ps(*(y as *const f32));
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(blk.d, da), acc[t]);
                    if KIND == 3 {
                        let sa = _mm256_set1_ps(*(y.add(4) as *const f32));
                        acc[t] = _mm256_fmadd_ps(blk.m, sa, acc[t]);
                    }
                }
            }
            for t in 0..T {
                _mm256_storeu_ps(out.add(t * ld), acc[t]);
            }
        }

        #[allow(clippy::too_many_arguments)]
        /// Prefill with panels for the first `rows.len() / 8 * 8` rows; the
        /// rest goes to `rest`. `sum_k`: the offset (8, 16) times which the
        /// activation block sums are subtracted (0: none).
        fn panels<A, const KIND: u8>(
            w: &QMatrix<'_>,
            acts: &[A],
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
            qs_off: usize,
            sum_k: i32,
            rest: &Tiles<A>,
        ) {
            let nt = x.n_tokens;
            let nb = x.blocks_per_token();
            let rb = w.row_bytes();
            let n8 = rows.len() / 8 * 8;
            assert!(rows.end <= w.n_rows && w.data.len() >= w.n_rows * rb);
            assert!(acts.len() >= nt * nb && nb * w.ty.block_bytes() == rb);
            assert!(nt > 0 && ld >= rows.len() && out.len() >= (nt - 1) * ld + rows.len());
            assert!(core::mem::size_of::<A>() >= qs_off + 32);
            // Per-block activation sums × offset.
            let mut sums = alloc::vec![0i32; nt * nb];
            if sum_k != 0 {
                for (i, s) in sums.iter_mut().enumerate() {
                    let y = acts[i..].as_ptr() as *const u8;
                    let mut t = 0i32;
                    for j in 0..32 {
                        // SAFETY: qs_off + 32 <= size_of::<A>() (asserted).
                        t += unsafe { *(y.add(qs_off + j) as *const i8) } as i32;
                    }
                    *s = t * sum_k;
                }
            }
            let mut pb = alloc::vec::Vec::with_capacity(nb);
            let mut r = 0;
            while r < n8 {
                // SAFETY: rows rows.start + r .. + 8 are inside the matrix
                // (asserted); the backend's features are available.
                unsafe { repack::<KIND>(w.data.as_ptr().add((rows.start + r) * rb), rb, nb, &mut pb) };
                let mut t = 0;
                while t < nt {
                    let n = if nt - t >= 4 { 4 } else { 1 };
                    // SAFETY: tokens t..t+n < nt with nb blocks each; outputs
                    // (t + i) * ld + r + 0..8 < out.len() (asserted).
                    unsafe {
                        let f = if n == 4 {
                            panel_tile::<A, 4, KIND>
                        } else {
                            panel_tile::<A, 1, KIND>
                        };
                        f(
                            &pb,
                            acts.as_ptr().add(t * nb),
                            nb,
                            qs_off,
                            sums.as_ptr().add(t * nb),
                            out.as_mut_ptr().add(t * ld + r),
                            ld,
                        );
                    }
                    t += n;
                }
                r += 8;
            }
            if n8 < rows.len() {
                drive(w, acts, x, rows.start + n8..rows.end, &mut out[n8..], ld, rest);
            }
        }

        /// Prefill batches at least this large use the panels.
        const PANEL_MIN_TOKENS: usize = 4;

        // -------------------------------------------------------------------
        // The backend's gemm entry points.

        const _: () = assert!(QK_K == 256);

        pub fn gemm_q4_0(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_0(a) = x.data {
                if x.n_tokens >= PANEL_MIN_TOKENS {
                    let qs = core::mem::offset_of!(BlockQ8_0, qs);
                    panels::<_, 0>(w, a, x, rows, out, ld, qs, 8, &tiles!($tt, $rd, tile_q4_0, 0));
                } else {
                    drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q4_0, 0));
                }
            }
        }

        pub fn gemm_q5_0(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_0(a) = x.data {
                if x.n_tokens >= PANEL_MIN_TOKENS {
                    let qs = core::mem::offset_of!(BlockQ8_0, qs);
                    panels::<_, 1>(w, a, x, rows, out, ld, qs, 16, &tiles!($tt, $rd, tile_q4_0, 1));
                } else {
                    drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q4_0, 1));
                }
            }
        }

        pub fn gemm_q8_0(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_0(a) = x.data {
                if $vnni && x.n_tokens >= PANEL_MIN_TOKENS {
                    let qs = core::mem::offset_of!(BlockQ8_0, qs);
                    panels::<_, 2>(w, a, x, rows, out, ld, qs, 0, &tiles!($tt, $rd, tile_q4_0, 2));
                } else if $vnni {
                    drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q4_0, 2));
                } else {
                    drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q8_0_sign));
                }
            }
        }

        pub fn gemm_q4_1(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_1(a) = x.data {
                if x.n_tokens >= PANEL_MIN_TOKENS {
                    let qs = core::mem::offset_of!(BlockQ8_1, qs);
                    panels::<_, 3>(w, a, x, rows, out, ld, qs, 0, &tiles!($tt, $rd, tile_q4_1));
                } else {
                    drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q4_1));
                }
            }
        }

        pub fn gemm_q4_k(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_K(a) = x.data {
                drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q4_k));
            }
        }

        pub fn gemm_q6_k(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_K(a) = x.data {
                drive(w, a, x, rows, out, ld, &tiles!($tt, $rd, tile_q6_k));
            }
        }
    };
}

/// AVX2 + FMA (+F16C): `vpmaddubsw` + `vpmaddwd`.
pub mod avx2 {
    use core::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn dot(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        let p = _mm256_maddubs_epi16(u, s);
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
    }

    /// (AVX-512 only.)
    #[inline(always)]
    unsafe fn bits16_mask(_qh: u32) -> Option<__m256i> {
        None
    }

    kernels!("avx2,fma,f16c", 2, 8, dot, false);

    pub fn available() -> bool {
        let f = crate::cpu::detect();
        f.avx2 && f.fma && f.f16c
    }
}

/// AVX512-VNNI at 256 bits (`vpdpbusd` on ymm registers, EVEX-encoded, so
/// 32 registers: bigger prefill tiles).
pub mod vnni512 {
    use core::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx512vnni")]
    unsafe fn dot(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, u, s)
    }

    /// Byte `j` = 0x10 if bit `j` of `qh` is set: one masked move.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    unsafe fn bits16_mask(qh: u32) -> Option<__m256i> {
        Some(_mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10)))
    }

    kernels!(
        "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni",
        4,
        8,
        dot,
        true
    );

    pub fn available() -> bool {
        let f = crate::cpu::detect();
        f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512vl && f.avx512bw && f.avx512vnni
    }
}

/// AVX-VNNI (`vpdpbusd` with a VEX encoding: Alder Lake and later, Zen 5).
pub mod avxvnni {
    use core::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avxvnni")]
    unsafe fn dot(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_avx_epi32(acc, u, s)
    }

    /// (AVX-512 only.)
    #[inline(always)]
    unsafe fn bits16_mask(_qh: u32) -> Option<__m256i> {
        None
    }

    kernels!("avx2,fma,f16c,avxvnni", 2, 8, dot, true);

    pub fn available() -> bool {
        let f = crate::cpu::detect();
        f.avx2 && f.fma && f.f16c && f.avxvnni
    }
}
