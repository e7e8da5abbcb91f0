//! 128-bit kernels for x86_64 CPUs without AVX2 (older Atoms,
//! Pentiums/Celerons, AMD K10, ...): `ssse3` (`pmaddubsw` + `pmaddwd`,
//! `pshufb`, `psignb`, llama.cpp's SSSE3 approach) and `sse2` (the x86_64
//! baseline: bytes sign- or zero-extended to 16-bit lanes with shifts and
//! masks, `pmaddwd`).
//!
//! One macro ([`sse_kernels!`]) holds the tile kernels; each instruction set
//! module supplies a few primitives over its own layouts:
//!
//! | item                 | `ssse3`                            | `sse2`                                   |
//! |----------------------|------------------------------------|------------------------------------------|
//! | `Act` (32 i8 acts)   | 2 × 16 bytes                       | 4 × 8 i16: even/odd elements of each half |
//! | `Wv` (32 unsigned w) | 2 × 16 bytes                       | 4 × 8 i16, same lanes as `Act`            |
//! | `dot(Wv, Act)`       | 2 `pmaddubsw`, `paddw`, `pmaddwd`  | 4 `pmaddwd`                               |
//! | `Ws` (Q8_0 weights)  | `|w|` and `w` (sign trick)         | sign-extended like `Act`                 |
//! | `Wk1`/`Wk2` (scaled) | weights + broadcast scales         | weights × scales (`pmullw`)              |
//! | `w_q5` (Q5_0 bit 4)  | table: 8 bytes per `qh` byte       | table: the same in `Act`'s i16 lanes     |
//!
//! Selection: `best()` takes `ssse3` where CPUID has SSSE3 but no AVX2,
//! else `sse2`. Under QEMU's TCG `pick_by_timing` may prefer `sse2` even
//! with SSSE3 (TCG runs `pmaddubsw` as a helper call; shifts, masks and
//! `pmaddwd` are cheaper there).
//!
//! # Tiles and exactness
//! A tile is `R` rows × `T` tokens (`R` = 1, 4 or 8). Each weight block is
//! decoded once per tile and used for the `T` tokens; each activation
//! block is prepared once per tile and used for the `R` rows. A row's block
//! dot product is an i32 vector of partial sums; four rows' vectors are
//! reduced together into one vector with a row per lane (`reduce4`), so the
//! float part is one convert, two multiplies and an add per 4 rows. The
//! block sum is the exact integer, and it is scaled and accumulated in
//! exactly the scalar reference's order (no FMA, the f16 scales converted
//! exactly), so these backends' matrix products are bit-identical to the
//! scalar ones (a test checks it).
//!
//! Offsets of the unsigned formats (Q4_0: 8, Q5_0: 16, Q6_K: 32) are
//! subtracted as multiples of the activation sums (per token, shared by
//! the rows), as in `x86.rs`.
//!
//! # Safety
//! Every `unsafe fn` here needs the CPU to have its module's instruction set
//! (`ssse3`: SSSE3, which the backend's `available()` checks; `sse2`: the
//! x86_64 baseline) and its pointers to cover what it reads or writes: `p`
//! one weight block (or a super-block for the K formats), `w` the tile's
//! `R` rows of `nb` blocks each at stride `ws`, `a` the tile's `T` tokens'
//! activation blocks, `out` its `R × T` results. The tile functions are
//! called only by [`super::driver`], which checks those bounds.

/// The tile shapes of one tile kernel (4 × `$tt`, `$rd` × 1, 1 × `$tt`, 1 × 1).
macro_rules! sse_tiles {
    ($tt:expr, $rd:expr, $tile:ident $(, $a:ty, $k:expr)?) => {
        Tiles {
            t: $tt,
            rd: $rd,
            rt: $tile::<$($a,)? 4, $tt $(, $k)?> as TileFn<_>,
            r1: $tile::<$($a,)? $rd, 1 $(, $k)?> as TileFn<_>,
            st: $tile::<$($a,)? 1, $tt $(, $k)?> as TileFn<_>,
            s1: $tile::<$($a,)? 1, 1 $(, $k)?> as TileFn<_>,
        }
    };
}

/// Generates one backend's kernels from the primitives in scope (see the
/// module docs). `$feat`: target features; `$tt`: tokens per prefill tile;
/// `$rd`: rows per matrix × vector tile (4 or 8).
macro_rules! sse_kernels {
    ($feat:literal, $tt:literal, $rd:literal) => {
        use core::ops::Range;

        use crate::quant::blocks::{f16_at, layout, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK_K};
        use crate::quant::matrix::{ActData, Acts, QMatrix};
        use crate::quant::simd::driver::{drive, TileFn, Tiles};
        use crate::quant::simd::sse::Act32;
        use crate::quant::simd::vec_sse::{cvt_ph4, hsum_epi32, reduce4};

        /// Software prefetch in matrix × vector tiles: the same block of the
        /// same row in the next tile (see `x86.rs`), or 384 bytes ahead
        /// when that is closer.
        #[inline(always)]
        fn prefetch<const R: usize, const T: usize>(p: *const u8, ws: usize) {
            if T == 1 {
                let d = if R * ws < 384 { 384 } else { R * ws };
                // SAFETY: a prefetch never faults, whatever the address.
                unsafe { _mm_prefetch(p.wrapping_add(d) as *const i8, _MM_HINT_T0) };
            }
        }

        /// The f16 values at `p + i * ws` (i < 4) as f32: the low halves of
        /// the 32-bit words there, and (for Q4_1, Q4_K) the high halves.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn f16x4(p: *const u8, ws: usize) -> (__m128, __m128) {
            let u = |i: usize| (p.add(i * ws) as *const i32).read_unaligned();
            let h = _mm_set_epi32(u(3), u(2), u(1), u(0));
            (
                cvt_ph4(_mm_and_si128(h, _mm_set1_epi32(0xffff))),
                cvt_ph4(_mm_srli_epi32(h, 16)),
            )
        }

        /// Word `k` (0..8) of `v` in every lane.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn bcast16(v: __m128i, k: usize) -> __m128i {
            bcast_word(v, k)
        }

        // -------------------------------------------------------------------
        // 32-element formats × Q8_0 / Q8_1.

        /// One row's block against the `T` prepared activation blocks:
        /// integer partial sums (offset included).
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn row32<const T: usize, const KIND: u8>(
            p: *const u8,
            av: &[Act; T],
            off: &[__m128i; T],
        ) -> [__m128i; T] {
            let mut s = [_mm_setzero_si128(); T];
            match KIND {
                // Q4_0
                0 => {
                    let wv = w_nib(_mm_loadu_si128(p.add(2) as *const __m128i));
                    for t in 0..T {
                        s[t] = _mm_add_epi32(dot(&wv, &av[t]), off[t]);
                    }
                }
                // Q5_0
                1 => {
                    let wv = w_q5(_mm_loadu_si128(p.add(6) as *const __m128i), p.add(2));
                    for t in 0..T {
                        s[t] = _mm_add_epi32(dot(&wv, &av[t]), off[t]);
                    }
                }
                // Q8_0
                2 => {
                    let wv = w_s8(p.add(2));
                    for t in 0..T {
                        s[t] = dot_s(&wv, &av[t]);
                    }
                }
                // Q4_1
                _ => {
                    let wv = w_nib(_mm_loadu_si128(p.add(4) as *const __m128i));
                    for t in 0..T {
                        s[t] = dot(&wv, &av[t]);
                    }
                }
            }
            s
        }

        /// Q4_0, Q5_0, Q8_0 (× Q8_0) and Q4_1 (× Q8_1): `KIND` 0, 1, 2, 3.
        #[target_feature(enable = $feat)]
        unsafe fn tile32<A: Act32, const R: usize, const T: usize, const KIND: u8>(
            w: *const u8,
            ws: usize,
            a: *const A,
            as_: usize,
            nb: usize,
            out: *mut f32,
            ld: usize,
        ) {
            let bytes = match KIND {
                0 => layout::q4_0::BYTES,
                1 => layout::q5_0::BYTES,
                2 => layout::q8_0::BYTES,
                _ => layout::q4_1::BYTES,
            };
            let mut acc4 = [[_mm_setzero_ps(); T]; 2];
            let mut acc1 = [0.0f32; T];
            for b in 0..nb {
                let mut av = [zero_act(); T];
                let mut off = [_mm_setzero_si128(); T];
                let mut da = [0.0f32; T];
                let mut sa = [0.0f32; T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    av[t] = act32(y.qs());
                    // -8 Σa (Q4_0), -16 Σa (Q5_0), as lane partial sums.
                    if KIND == 0 {
                        off[t] =
                            _mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(act_sum(&av[t]), 3));
                    } else if KIND == 1 {
                        off[t] =
                            _mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(act_sum(&av[t]), 4));
                    }
                    da[t] = y.d();
                    sa[t] = y.s();
                }
                if R < 4 {
                    // As scalar: sum += sumi · (d_w · d_a) [+ m_w · s_a].
                    let p = w.add(b * bytes);
                    let s = row32::<T, KIND>(p, &av, &off);
                    let blk = core::slice::from_raw_parts(p, 4);
                    let dw = f16_at(blk, 0);
                    for t in 0..T {
                        let v = hsum_epi32(s[t]) as f32 * (dw * da[t]);
                        acc1[t] += if KIND == 3 {
                            v + f16_at(blk, 2) * sa[t]
                        } else {
                            v
                        };
                    }
                } else {
                    for g in 0..R / 4 {
                        let pg = w.add(4 * g * ws + b * bytes);
                        let mut s = [[_mm_setzero_si128(); T]; 4];
                        for (i, si) in s.iter_mut().enumerate() {
                            let p = pg.add(i * ws);
                            prefetch::<R, T>(p, ws);
                            *si = row32::<T, KIND>(p, &av, &off);
                        }
                        let (dw, mw) = f16x4(pg, ws);
                        for t in 0..T {
                            let sumi = _mm_cvtepi32_ps(reduce4(s[0][t], s[1][t], s[2][t], s[3][t]));
                            let mut v = _mm_mul_ps(sumi, _mm_mul_ps(dw, _mm_set1_ps(da[t])));
                            if KIND == 3 {
                                v = _mm_add_ps(v, _mm_mul_ps(mw, _mm_set1_ps(sa[t])));
                            }
                            acc4[g][t] = _mm_add_ps(acc4[g][t], v);
                        }
                    }
                }
            }
            store::<R, T>(&acc4, &acc1, out, ld);
        }

        /// Writes the tile's results.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn store<const R: usize, const T: usize>(
            acc4: &[[__m128; T]; 2],
            acc1: &[f32; T],
            out: *mut f32,
            ld: usize,
        ) {
            for t in 0..T {
                if R < 4 {
                    *out.add(t * ld) = acc1[t];
                } else {
                    for g in 0..R / 4 {
                        _mm_storeu_ps(out.add(t * ld + 4 * g), acc4[g][t]);
                    }
                }
            }
        }

        // -------------------------------------------------------------------
        // k-quants × Q8_K.

        /// The 8 scales (bytes 0..8) and 8 mins (bytes 8..16) of a Q4_K block.
        #[inline(always)]
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

        /// One Q4_K row block against `T` tokens: (Σ sc·q·a, Σ m·bsum)
        /// as partial sums.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn row_q4_k<const T: usize>(
            p: *const u8,
            av: &[[Act; 8]; T],
            bs: &[[__m128i; 2]; T],
        ) -> ([__m128i; T], [__m128i; T]) {
            use layout::q4_k::*;
            let u = q4k_scales(p.add(SCALES));
            let z = _mm_setzero_si128();
            let sc = _mm_unpacklo_epi8(_mm_set_epi32(0, 0, u[1] as i32, u[0] as i32), z);
            let mn = _mm_unpacklo_epi8(_mm_set_epi32(0, 0, u[3] as i32, u[2] as i32), z);
            let (mlo, mhi) = (_mm_unpacklo_epi16(mn, mn), _mm_unpackhi_epi16(mn, mn));
            let mut sumi = [z; T];
            let mut summ = [z; T];
            for t in 0..T {
                summ[t] =
                    _mm_add_epi32(_mm_madd_epi16(bs[t][0], mlo), _mm_madd_epi16(bs[t][1], mhi));
            }
            for c in 0..4 {
                let q0 = _mm_loadu_si128(p.add(QS + 32 * c) as *const __m128i);
                let q1 = _mm_loadu_si128(p.add(QS + 32 * c + 16) as *const __m128i);
                let (lo, hi) = w_nib2(q0, q1);
                let klo = wk1(lo, bcast16(sc, 2 * c));
                let khi = wk1(hi, bcast16(sc, 2 * c + 1));
                for t in 0..T {
                    let v =
                        _mm_add_epi32(dot_k1(&klo, &av[t][2 * c]), dot_k1(&khi, &av[t][2 * c + 1]));
                    sumi[t] = _mm_add_epi32(sumi[t], v);
                }
            }
            (sumi, summ)
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
            let mut acc4 = [[_mm_setzero_ps(); T]; 2];
            let mut acc1 = [0.0f32; T];
            for b in 0..nb {
                let mut av = [[zero_act(); 8]; T];
                let mut bs = [[_mm_setzero_si128(); 2]; T];
                let mut da = [0.0f32; T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    for j in 0..8 {
                        av[t][j] = act32(y.qs.as_ptr().add(32 * j));
                    }
                    bs[t][0] = _mm_loadu_si128(y.bsums.as_ptr() as *const __m128i);
                    bs[t][1] = _mm_loadu_si128(y.bsums.as_ptr().add(8) as *const __m128i);
                    da[t] = y.d;
                }
                if R < 4 {
                    // As scalar: sum += (d_w·d_a)·sumi - (dmin·d_a)·summ.
                    let p = w.add(b * BYTES);
                    let (si, sm) = row_q4_k::<T>(p, &av, &bs);
                    let blk = core::slice::from_raw_parts(p, 4);
                    let (dw, dm) = (f16_at(blk, D), f16_at(blk, DMIN));
                    for t in 0..T {
                        let d = dw * da[t];
                        let dmin = dm * da[t];
                        acc1[t] += d * hsum_epi32(si[t]) as f32 - dmin * hsum_epi32(sm[t]) as f32;
                    }
                } else {
                    for g in 0..R / 4 {
                        let pg = w.add(4 * g * ws + b * BYTES);
                        let mut si = [[_mm_setzero_si128(); T]; 4];
                        let mut sm = [[_mm_setzero_si128(); T]; 4];
                        for i in 0..4 {
                            let p = pg.add(i * ws);
                            prefetch::<R, T>(p, ws);
                            (si[i], sm[i]) = row_q4_k::<T>(p, &av, &bs);
                        }
                        let (dw, dm) = f16x4(pg, ws);
                        for t in 0..T {
                            let vt = _mm_set1_ps(da[t]);
                            let sumi =
                                _mm_cvtepi32_ps(reduce4(si[0][t], si[1][t], si[2][t], si[3][t]));
                            let summ =
                                _mm_cvtepi32_ps(reduce4(sm[0][t], sm[1][t], sm[2][t], sm[3][t]));
                            let v = _mm_sub_ps(
                                _mm_mul_ps(_mm_mul_ps(dw, vt), sumi),
                                _mm_mul_ps(_mm_mul_ps(dm, vt), summ),
                            );
                            acc4[g][t] = _mm_add_ps(acc4[g][t], v);
                        }
                    }
                }
            }
            store::<R, T>(&acc4, &acc1, out, ld);
        }

        /// One Q6_K row block against `T` tokens: Σ sc·(q - 32)·a as
        /// partial sums.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn row_q6_k<const T: usize>(
            p: *const u8,
            av: &[[Act; 8]; T],
            bs: &[[__m128i; 2]; T],
        ) -> [__m128i; T] {
            use layout::q6_k::*;
            let sc8 = _mm_loadu_si128(p.add(SCALES) as *const __m128i);
            let sc = [
                _mm_srai_epi16(_mm_unpacklo_epi8(sc8, sc8), 8),
                _mm_srai_epi16(_mm_unpackhi_epi8(sc8, sc8), 8),
            ];
            // Offset: -32 Σ_j sc_j · bsum_j.
            let mut sumi = [_mm_setzero_si128(); T];
            for t in 0..T {
                let o = _mm_add_epi32(
                    _mm_madd_epi16(bs[t][0], sc[0]),
                    _mm_madd_epi16(bs[t][1], sc[1]),
                );
                sumi[t] = _mm_sub_epi32(_mm_setzero_si128(), _mm_slli_epi32(o, 5));
            }
            let m4 = _mm_set1_epi8(0x0f);
            let m3 = _mm_set1_epi8(0x03);
            let m30 = _mm_set1_epi8(0x30);
            for h in 0..2 {
                let ld16 = |o: usize| _mm_loadu_si128(p.add(o) as *const __m128i);
                let ql0 = [ld16(QL + 64 * h), ld16(QL + 64 * h + 16)];
                let ql1 = [ld16(QL + 64 * h + 32), ld16(QL + 64 * h + 48)];
                let qh = [ld16(QH + 32 * h), ld16(QH + 32 * h + 16)];
                for g in 0..4 {
                    let q: [__m128i; 2] = core::array::from_fn(|k| match g {
                        0 => _mm_or_si128(
                            _mm_and_si128(ql0[k], m4),
                            _mm_slli_epi16(_mm_and_si128(qh[k], m3), 4),
                        ),
                        1 => _mm_or_si128(
                            _mm_and_si128(ql1[k], m4),
                            _mm_and_si128(_mm_slli_epi16(qh[k], 2), m30),
                        ),
                        2 => _mm_or_si128(
                            _mm_and_si128(_mm_srli_epi16(ql0[k], 4), m4),
                            _mm_and_si128(qh[k], m30),
                        ),
                        _ => _mm_or_si128(
                            _mm_and_si128(_mm_srli_epi16(ql1[k], 4), m4),
                            _mm_and_si128(_mm_srli_epi16(qh[k], 2), m30),
                        ),
                    });
                    let k = wk2(
                        w_bytes(q[0], q[1]),
                        bcast16(sc[h], 2 * g),
                        bcast16(sc[h], 2 * g + 1),
                    );
                    for t in 0..T {
                        sumi[t] = _mm_add_epi32(sumi[t], dot_k2(&k, &av[t][4 * h + g]));
                    }
                }
            }
            sumi
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
            let mut acc4 = [[_mm_setzero_ps(); T]; 2];
            let mut acc1 = [0.0f32; T];
            for b in 0..nb {
                let mut av = [[zero_act(); 8]; T];
                let mut bs = [[_mm_setzero_si128(); 2]; T];
                let mut da = [0.0f32; T];
                for t in 0..T {
                    let y = &*a.add(t * as_ + b);
                    for j in 0..8 {
                        av[t][j] = act32(y.qs.as_ptr().add(32 * j));
                    }
                    bs[t][0] = _mm_loadu_si128(y.bsums.as_ptr() as *const __m128i);
                    bs[t][1] = _mm_loadu_si128(y.bsums.as_ptr().add(8) as *const __m128i);
                    da[t] = y.d;
                }
                if R < 4 {
                    // As scalar: sum += d_w · d_a · sumi.
                    let p = w.add(b * BYTES);
                    let s = row_q6_k::<T>(p, &av, &bs);
                    let dw = f16_at(core::slice::from_raw_parts(p.add(D), 2), 0);
                    for t in 0..T {
                        acc1[t] += dw * da[t] * hsum_epi32(s[t]) as f32;
                    }
                } else {
                    for g in 0..R / 4 {
                        let pg = w.add(4 * g * ws + b * BYTES);
                        let mut s = [[_mm_setzero_si128(); T]; 4];
                        for (i, si) in s.iter_mut().enumerate() {
                            let p = pg.add(i * ws);
                            prefetch::<R, T>(p, ws);
                            *si = row_q6_k::<T>(p, &av, &bs);
                        }
                        // The scale is the block's last two bytes: read the
                        // 32-bit word ending there and take its high half.
                        let (_, dw) = f16x4(pg.add(D - 2), ws);
                        for t in 0..T {
                            let sumi = _mm_cvtepi32_ps(reduce4(s[0][t], s[1][t], s[2][t], s[3][t]));
                            let v = _mm_mul_ps(_mm_mul_ps(dw, _mm_set1_ps(da[t])), sumi);
                            acc4[g][t] = _mm_add_ps(acc4[g][t], v);
                        }
                    }
                }
            }
            store::<R, T>(&acc4, &acc1, out, ld);
        }

        // -------------------------------------------------------------------
        // The backend's gemm entry points.

        const _: () = assert!(QK_K == 256 && $rd % 4 == 0 && $rd <= 8);

        pub fn gemm_q4_0(
            w: &QMatrix<'_>,
            x: &Acts<'_>,
            rows: Range<usize>,
            out: &mut [f32],
            ld: usize,
        ) {
            if let ActData::Q8_0(a) = x.data {
                drive(
                    w,
                    a,
                    x,
                    rows,
                    out,
                    ld,
                    &sse_tiles!($tt, $rd, tile32, BlockQ8_0, 0),
                );
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
                drive(
                    w,
                    a,
                    x,
                    rows,
                    out,
                    ld,
                    &sse_tiles!($tt, $rd, tile32, BlockQ8_0, 1),
                );
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
                drive(
                    w,
                    a,
                    x,
                    rows,
                    out,
                    ld,
                    &sse_tiles!($tt, $rd, tile32, BlockQ8_0, 2),
                );
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
                drive(
                    w,
                    a,
                    x,
                    rows,
                    out,
                    ld,
                    &sse_tiles!($tt, $rd, tile32, BlockQ8_1, 3),
                );
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
                drive(w, a, x, rows, out, ld, &sse_tiles!($tt, $rd, tile_q4_k));
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
                drive(w, a, x, rows, out, ld, &sse_tiles!($tt, $rd, tile_q6_k));
            }
        }
    };
}

/// The scale, sum and quants of an activation block of the 32-element
/// formats (Q8_0 has no sum: 0).
pub trait Act32 {
    fn d(&self) -> f32;
    fn s(&self) -> f32;
    fn qs(&self) -> *const i8;
}

impl Act32 for crate::quant::blocks::BlockQ8_0 {
    #[inline(always)]
    fn d(&self) -> f32 {
        self.d
    }
    #[inline(always)]
    fn s(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn qs(&self) -> *const i8 {
        self.qs.as_ptr()
    }
}

impl Act32 for crate::quant::blocks::BlockQ8_1 {
    #[inline(always)]
    fn d(&self) -> f32 {
        self.d
    }
    #[inline(always)]
    fn s(&self) -> f32 {
        self.s
    }
    #[inline(always)]
    fn qs(&self) -> *const i8 {
        self.qs.as_ptr()
    }
}

/// SSSE3: `pmaddubsw` (unsigned weights × signed activations) + `pmaddwd`,
/// `pshufb` for scale broadcasts, `psignb` for Q8_0, a 2 KiB table for
/// Q5_0's fifth bits.
pub mod ssse3 {
    use core::arch::x86_64::*;

    /// 32 activation bytes, in element order.
    type Act = [__m128i; 2];
    /// 32 unsigned weights as bytes, in element order.
    type Wv = [__m128i; 2];
    /// Q8_0 weights: `|w|` (two halves), then `w`.
    type Ws = [__m128i; 4];
    /// Weights with one broadcast i16 scale for all 32.
    type Wk1 = (Wv, __m128i);
    /// Weights with a broadcast scale for each 16.
    type Wk2 = (Wv, __m128i, __m128i);

    #[inline(always)]
    fn zero_act() -> Act {
        // SAFETY: SSE2 baseline.
        unsafe { [_mm_setzero_si128(); 2] }
    }

    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn act32(p: *const i8) -> Act {
        [
            _mm_loadu_si128(p as *const __m128i),
            _mm_loadu_si128(p.add(16) as *const __m128i),
        ]
    }

    /// Lane partial sums of the 32 activations.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn act_sum(a: &Act) -> __m128i {
        let one = _mm_set1_epi8(1);
        let s = _mm_add_epi16(_mm_maddubs_epi16(one, a[0]), _mm_maddubs_epi16(one, a[1]));
        _mm_madd_epi16(s, _mm_set1_epi16(1))
    }

    /// Low nibbles (elements 0..16), high nibbles (16..32).
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn w_nib(q: __m128i) -> Wv {
        let m = _mm_set1_epi8(0x0f);
        [_mm_and_si128(q, m), _mm_and_si128(_mm_srli_epi16(q, 4), m)]
    }

    /// The low nibbles of 32 bytes, and their high nibbles.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn w_nib2(q0: __m128i, q1: __m128i) -> (Wv, Wv) {
        let m = _mm_set1_epi8(0x0f);
        (
            [_mm_and_si128(q0, m), _mm_and_si128(q1, m)],
            [
                _mm_and_si128(_mm_srli_epi16(q0, 4), m),
                _mm_and_si128(_mm_srli_epi16(q1, 4), m),
            ],
        )
    }

    /// For each byte value b, the byte 0x10 where bit i of b is set:
    /// `HIGH_BIT[b].to_le_bytes()[i]` (2 KiB; cheaper than building the
    /// mask with shuffles and compares).
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

    /// Q5_0: nibbles | 0x10 where bit j of the 4 `qh` bytes at `p` is set.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn w_q5(q: __m128i, p: *const u8) -> Wv {
        let n = w_nib(q);
        let t = |k: usize| HIGH_BIT[*p.add(k) as usize] as i64;
        [
            _mm_or_si128(n[0], _mm_set_epi64x(t(1), t(0))),
            _mm_or_si128(n[1], _mm_set_epi64x(t(3), t(2))),
        ]
    }

    /// 32 unsigned bytes in element order.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn w_bytes(v0: __m128i, v1: __m128i) -> Wv {
        [v0, v1]
    }

    /// Σ w·a for weights up to 31: each `pmaddubsw` pair is at most
    /// 2·31·128 in magnitude, so the two halves add in i16.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn dot(w: &Wv, a: &Act) -> __m128i {
        let s = _mm_add_epi16(_mm_maddubs_epi16(w[0], a[0]), _mm_maddubs_epi16(w[1], a[1]));
        _mm_madd_epi16(s, _mm_set1_epi16(1))
    }

    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn w_s8(p: *const u8) -> Ws {
        let w0 = _mm_loadu_si128(p as *const __m128i);
        let w1 = _mm_loadu_si128(p.add(16) as *const __m128i);
        [_mm_abs_epi8(w0), _mm_abs_epi8(w1), w0, w1]
    }

    /// Q8_0 × Q8_0 with the sign trick: |w| · sign(a, w) (`pmaddubsw` needs
    /// one unsigned operand). Exact unless an activation is -128, which
    /// the activation quantizer never produces.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn dot_s(w: &Ws, a: &Act) -> __m128i {
        let one = _mm_set1_epi16(1);
        let p0 = _mm_maddubs_epi16(w[0], _mm_sign_epi8(a[0], w[2]));
        let p1 = _mm_maddubs_epi16(w[1], _mm_sign_epi8(a[1], w[3]));
        _mm_add_epi32(_mm_madd_epi16(p0, one), _mm_madd_epi16(p1, one))
    }

    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn wk1(w: Wv, sc: __m128i) -> Wk1 {
        (w, sc)
    }

    /// Σ sc·w·a for 4-bit weights (Q4_K): the halves add in i16, then
    /// `pmaddwd` by the scale.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn dot_k1(k: &Wk1, a: &Act) -> __m128i {
        let s = _mm_add_epi16(
            _mm_maddubs_epi16(k.0[0], a[0]),
            _mm_maddubs_epi16(k.0[1], a[1]),
        );
        _mm_madd_epi16(s, k.1)
    }

    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn wk2(w: Wv, sc0: __m128i, sc1: __m128i) -> Wk2 {
        (w, sc0, sc1)
    }

    /// Σ sc·w·a for 6-bit weights (Q6_K; a `pmaddubsw` pair is at most
    /// 2·63·128), a scale per 16.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn dot_k2(k: &Wk2, a: &Act) -> __m128i {
        let p0 = _mm_madd_epi16(_mm_maddubs_epi16(k.0[0], a[0]), k.1);
        let p1 = _mm_madd_epi16(_mm_maddubs_epi16(k.0[1], a[1]), k.2);
        _mm_add_epi32(p0, p1)
    }

    /// Word `k` of `v` in every lane (one `pshufb`).
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn bcast_word(v: __m128i, k: usize) -> __m128i {
        let i = (2 * k) as i16;
        _mm_shuffle_epi8(v, _mm_set1_epi16(i | ((i + 1) << 8)))
    }

    sse_kernels!("ssse3", 4, 8);

    pub fn available() -> bool {
        crate::cpu::detect().ssse3
    }
}

/// SSE2 only: activations and weights widened to 16-bit lanes, even and
/// odd elements apart (`(x << 8) >> 8` and `x >> 8` for signed bytes,
/// masks and shifts for nibbles), multiplied with `pmaddwd`.
pub mod sse2 {
    use core::arch::x86_64::*;

    /// 32 activations as i16: even elements of 0..16, odd of 0..16, even
    /// of 16..32, odd of 16..32.
    type Act = [__m128i; 4];
    /// 32 weights as i16, in `Act`'s lanes.
    type Wv = [__m128i; 4];
    type Ws = Wv;
    /// Weights already multiplied by their scales.
    type Wk1 = Wv;
    type Wk2 = Wv;

    #[inline(always)]
    fn zero_act() -> Act {
        // SAFETY: SSE2 baseline.
        unsafe { [_mm_setzero_si128(); 4] }
    }

    /// Signed bytes as i16: even bytes, odd bytes.
    #[inline(always)]
    unsafe fn split_i8(v: __m128i) -> (__m128i, __m128i) {
        (
            _mm_srai_epi16(_mm_slli_epi16(v, 8), 8),
            _mm_srai_epi16(v, 8),
        )
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn act32(p: *const i8) -> Act {
        let (e0, o0) = split_i8(_mm_loadu_si128(p as *const __m128i));
        let (e1, o1) = split_i8(_mm_loadu_si128(p.add(16) as *const __m128i));
        [e0, o0, e1, o1]
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn act_sum(a: &Act) -> __m128i {
        let s = _mm_add_epi16(_mm_add_epi16(a[0], a[1]), _mm_add_epi16(a[2], a[3]));
        _mm_madd_epi16(s, _mm_set1_epi16(1))
    }

    /// 16 bytes of nibbles: low nibbles are elements 0..16, high 16..32.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn w_nib(q: __m128i) -> Wv {
        let m = _mm_set1_epi16(0x000f);
        [
            _mm_and_si128(q, m),
            _mm_and_si128(_mm_srli_epi16(q, 8), m),
            _mm_and_si128(_mm_srli_epi16(q, 4), m),
            _mm_srli_epi16(q, 12),
        ]
    }

    /// The low nibbles of 32 bytes, and their high nibbles.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn w_nib2(q0: __m128i, q1: __m128i) -> (Wv, Wv) {
        let m = _mm_set1_epi16(0x000f);
        (
            [
                _mm_and_si128(q0, m),
                _mm_and_si128(_mm_srli_epi16(q0, 8), m),
                _mm_and_si128(q1, m),
                _mm_and_si128(_mm_srli_epi16(q1, 8), m),
            ],
            [
                _mm_and_si128(_mm_srli_epi16(q0, 4), m),
                _mm_srli_epi16(q0, 12),
                _mm_and_si128(_mm_srli_epi16(q1, 4), m),
                _mm_srli_epi16(q1, 12),
            ],
        )
    }

    /// For each byte value b (8 elements' fifth bits), 16 in the i16
    /// lanes of the set bits, in `Act`'s layout: lanes 0..4 the even
    /// elements, lanes 4..8 the odd ones (4 KiB).
    static HIGH_BIT: [[i16; 8]; 256] = {
        let mut t = [[0i16; 8]; 256];
        let mut b = 0;
        while b < 256 {
            let mut i = 0;
            while i < 8 {
                if b & (1 << i) != 0 {
                    t[b][(i % 2) * 4 + i / 2] = 16;
                }
                i += 1;
            }
            b += 1;
        }
        t
    };

    /// Q5_0: nibbles | 16 where bit j of the 4 `qh` bytes at `p` is set.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn w_q5(q: __m128i, p: *const u8) -> Wv {
        let n = w_nib(q);
        let t = |k: usize| _mm_loadu_si128(HIGH_BIT[*p.add(k) as usize].as_ptr() as *const __m128i);
        let (t0, t1, t2, t3) = (t(0), t(1), t(2), t(3));
        [
            _mm_or_si128(n[0], _mm_unpacklo_epi64(t0, t1)),
            _mm_or_si128(n[1], _mm_unpackhi_epi64(t0, t1)),
            _mm_or_si128(n[2], _mm_unpacklo_epi64(t2, t3)),
            _mm_or_si128(n[3], _mm_unpackhi_epi64(t2, t3)),
        ]
    }

    /// 32 unsigned bytes in element order.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn w_bytes(v0: __m128i, v1: __m128i) -> Wv {
        let m = _mm_set1_epi16(0x00ff);
        [
            _mm_and_si128(v0, m),
            _mm_srli_epi16(v0, 8),
            _mm_and_si128(v1, m),
            _mm_srli_epi16(v1, 8),
        ]
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn dot(w: &Wv, a: &Act) -> __m128i {
        let s0 = _mm_add_epi32(_mm_madd_epi16(w[0], a[0]), _mm_madd_epi16(w[1], a[1]));
        let s1 = _mm_add_epi32(_mm_madd_epi16(w[2], a[2]), _mm_madd_epi16(w[3], a[3]));
        _mm_add_epi32(s0, s1)
    }

    /// Q8_0 weights, sign-extended.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn w_s8(p: *const u8) -> Ws {
        act32(p as *const i8)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn dot_s(w: &Ws, a: &Act) -> __m128i {
        dot(w, a)
    }

    /// 4-bit weights × a 6-bit scale fit in i16.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn wk1(w: Wv, sc: __m128i) -> Wk1 {
        w.map(|v| _mm_mullo_epi16(v, sc))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn dot_k1(k: &Wk1, a: &Act) -> __m128i {
        dot(k, a)
    }

    /// 6-bit weights × an 8-bit signed scale fit in i16 (elements 0..16:
    /// lanes of vectors 0 and 1).
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn wk2(w: Wv, sc0: __m128i, sc1: __m128i) -> Wk2 {
        [
            _mm_mullo_epi16(w[0], sc0),
            _mm_mullo_epi16(w[1], sc0),
            _mm_mullo_epi16(w[2], sc1),
            _mm_mullo_epi16(w[3], sc1),
        ]
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn dot_k2(k: &Wk2, a: &Act) -> __m128i {
        dot(k, a)
    }

    /// Word `k` of `v` in every lane (`pshuflw`/`pshufhw` + `pshufd`; `k`
    /// is a constant after unrolling).
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn bcast_word(v: __m128i, k: usize) -> __m128i {
        match k {
            0 => _mm_shuffle_epi32(_mm_shufflelo_epi16(v, 0x00), 0x00),
            1 => _mm_shuffle_epi32(_mm_shufflelo_epi16(v, 0x55), 0x00),
            2 => _mm_shuffle_epi32(_mm_shufflelo_epi16(v, 0xaa), 0x00),
            3 => _mm_shuffle_epi32(_mm_shufflelo_epi16(v, 0xff), 0x00),
            4 => _mm_shuffle_epi32(_mm_shufflehi_epi16(v, 0x00), 0xaa),
            5 => _mm_shuffle_epi32(_mm_shufflehi_epi16(v, 0x55), 0xaa),
            6 => _mm_shuffle_epi32(_mm_shufflehi_epi16(v, 0xaa), 0xaa),
            _ => _mm_shuffle_epi32(_mm_shufflehi_epi16(v, 0xff), 0xaa),
        }
    }

    sse_kernels!("sse2", 4, 8);

    pub fn available() -> bool {
        crate::cpu::detect().sse2
    }
}

#[cfg(test)]
mod tests {
    use crate::ggml::GgmlType as T;
    use crate::quant::backend::{Backend, SCALAR};
    use crate::quant::testing::random_activations;
    use crate::quant::{ActType, QMatrix};
    use half::f16;

    /// The 128-bit backends this CPU runs: `sse2` always (x86_64
    /// baseline), `ssse3` exactly when CPUID reports SSSE3 (so these tests
    /// run, and cannot be skipped, on every host that has them).
    fn backends() -> alloc::vec::Vec<&'static Backend> {
        let (sse2, ssse3) = (&super::super::SSE2, &super::super::SSSE3);
        assert!((sse2.available)());
        assert_eq!((ssse3.available)(), crate::cpu::detect().ssse3);
        [sse2, ssse3]
            .into_iter()
            .filter(|b| (b.available)())
            .collect()
    }

    /// Weight blocks of raw random bytes (every nibble / byte / 6-bit
    /// scale value) with finite f16 scales of every kind (zero, negative,
    /// subnormal, large), against every tile shape (rows 1, 4, 8; tokens
    /// 1, 4, leftovers) and partial row ranges: bit for bit the scalar
    /// results.
    #[test]
    fn matrix_products_are_bit_identical_to_scalar() {
        let mut rng = crate::rng::Rng::new(0x55e2);
        let scales = [
            0.0f32,
            1.0,
            -0.5,
            6.1035156e-5,
            3.0e-7,
            0.0123,
            -0.02,
            2.0,
            700.0,
        ];
        let backends = backends();
        for ty in [T::Q4_0, T::Q4_1, T::Q5_0, T::Q8_0, T::Q4_K, T::Q6_K] {
            let (rows, cols) = (21usize, 768usize);
            let bb = ty.block_bytes();
            let mut w: alloc::vec::Vec<u8> = (0..rows * ty.row_bytes(cols))
                .map(|_| rng.below(256) as u8)
                .collect();
            let fields: &[usize] = match ty {
                T::Q4_0 | T::Q5_0 | T::Q8_0 => &[0],
                T::Q4_1 | T::Q4_K => &[0, 2],
                _ => &[208],
            };
            for blk in w.chunks_exact_mut(bb) {
                for &off in fields {
                    let v = scales[rng.below(scales.len() as u64) as usize];
                    blk[off..off + 2].copy_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
                }
            }
            let m = QMatrix::new(ty, cols, rows, &w).unwrap();
            let at = ActType::for_weight(ty).unwrap();
            for nt in [1usize, 2, 4, 5, 9] {
                let x = random_activations(&mut rng, cols * nt);
                let acts = SCALAR.quantize_vec(at, &x).unwrap();
                let view = acts.view(cols, nt);
                for r in [0..rows, 3..20, 5..6, 0..8] {
                    let ld = rows + 1;
                    let mut want = alloc::vec![f32::NAN; ld * nt];
                    SCALAR.gemm(&m, &view, r.clone(), &mut want, ld).unwrap();
                    for b in &backends {
                        let mut got = alloc::vec![f32::NAN; ld * nt];
                        b.gemm(&m, &view, r.clone(), &mut got, ld).unwrap();
                        for (k, (g, e)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                g.to_bits() == e.to_bits(),
                                "{} {ty} rows {r:?} ({nt} tokens) output {k}: {g} vs scalar {e}",
                                b.name
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sse_backends_pass_the_backend_check() {
        for b in backends() {
            crate::quant::testing::check_backend(b, 2e-5).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// `best()` takes the last available backend: the 128-bit ones come
    /// after the reference and before every AVX2 one.
    #[test]
    fn registered_between_scalar_and_avx2() {
        let names: alloc::vec::Vec<&str> = crate::quant::BACKENDS.iter().map(|b| b.name).collect();
        let pos = |n: &str| names.iter().position(|&m| m == n).unwrap();
        assert!(pos("scalar") < pos("sse2"));
        assert!(pos("sse2") < pos("ssse3"));
        for avx in ["tcg-vec", "tcg", "avx2", "avxvnni", "avx512vnni"] {
            assert!(pos("ssse3") < pos(avx), "{avx}");
        }
        let f = crate::cpu::detect();
        let best = crate::quant::best().name;
        if !f.avx2 {
            assert_eq!(best, if f.ssse3 { "ssse3" } else { "sse2" });
        } else {
            assert!(best != "sse2" && best != "ssse3");
        }
    }
}
