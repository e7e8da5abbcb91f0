//! The loop shared by all SIMD matrix kernels: cuts `rows × tokens` into
//! tiles and calls a tile kernel for each.
//!
//! Loop order: a group of rows outside, tokens inside, so the rows' weight
//! blocks (a few KiB) stay in L1 while every token of the batch passes over
//! them; decode (`n_tokens == 1`) streams through the matrix once, `R` rows
//! at a time against each activation block.

use core::ops::Range;

use crate::quant::matrix::{Acts, QMatrix};

/// Computes a tile: for `r < R`, `t < T`, `out[t * ld + r] = row(r) ·
/// token(t)`, where row `r` starts at `w + r * ws` and token `t`'s `nb`
/// activation blocks at `a + t * as_`.
///
/// # Safety
/// All those rows, blocks and outputs must be in bounds, and the CPU must
/// have the kernel's target features.
pub type TileFn<A> = unsafe fn(
    w: *const u8,
    ws: usize,
    a: *const A,
    as_: usize,
    nb: usize,
    out: *mut f32,
    ld: usize,
);

/// A kernel's tiles: `4 × t` (`rt`), `4 × 1` (`r1`), `1 × t` (`st`) and
/// `1 × 1` (`s1`).
pub struct Tiles<A> {
    pub t: usize,
    pub rt: TileFn<A>,
    pub r1: TileFn<A>,
    pub st: TileFn<A>,
    pub s1: TileFn<A>,
}

/// Runs the tiles over `rows` × all tokens of `x` (`acts` = `x`'s blocks).
///
/// The operands must have passed [`crate::quant::check_gemm`]; the sizes the
/// tiles rely on are asserted again here (cheap, once per call), so a wrong
/// call panics instead of reading out of bounds. `tiles` must come from a
/// backend whose `available()` is true.
#[inline]
pub fn drive<A>(
    w: &QMatrix<'_>,
    acts: &[A],
    x: &Acts<'_>,
    rows: Range<usize>,
    out: &mut [f32],
    ld: usize,
    tiles: &Tiles<A>,
) {
    let nt = x.n_tokens;
    let nb = x.blocks_per_token();
    let rb = w.row_bytes();
    if nt == 0 || rows.is_empty() {
        return;
    }
    assert!(rows.end <= w.n_rows && w.data.len() >= w.n_rows * rb);
    assert!(acts.len() >= nt * nb && nb * w.ty.block_bytes() == rb);
    assert!(ld >= rows.len() && out.len() >= (nt - 1) * ld + rows.len());
    let wp = w.data.as_ptr();
    let ap = acts.as_ptr();
    let op = out.as_mut_ptr();
    let mut r = rows.start;
    while r < rows.end {
        let nr = if rows.end - r >= 4 { 4 } else { 1 };
        let mut t = 0;
        while t < nt {
            let (ntt, f) = match (nr, nt - t >= tiles.t) {
                (4, true) => (tiles.t, tiles.rt),
                (4, false) => (1, tiles.r1),
                (_, true) => (tiles.t, tiles.st),
                (_, false) => (1, tiles.s1),
            };
            // SAFETY: rows r..r+nr are < rows.end <= n_rows, tokens
            // t..t+ntt <= nt, each with nb blocks in `acts`; the outputs
            // (t + i) * ld + (r - rows.start) + j are inside `out` by the
            // asserts above; the caller guarantees the CPU features.
            unsafe {
                f(
                    wp.add(r * rb),
                    rb,
                    ap.add(t * nb),
                    nb,
                    nb,
                    op.add(t * ld + (r - rows.start)),
                    ld,
                );
            }
            t += ntt;
        }
        r += nr;
    }
}
