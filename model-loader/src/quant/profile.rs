//! A backend whose entries are timed: where a decode step's time goes.
//! `llm-bench --profile` uses it on the host (a nanosecond clock) and the
//! kernel's `/bench profile` in QEMU (the TSC). One profile at a time: the
//! counters and the wrapped backend are global, because backend entries
//! are plain function pointers.

use alloc::boxed::Box;
use core::ops::Range;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use half::f16;

use super::blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K};
use super::{Acts, Backend, QMatrix};

/// The timed entries, in the order of [`totals`].
pub const ENTRIES: [&str; 16] = [
    "gemm_q4_0",
    "gemm_q4_1",
    "gemm_q5_0",
    "gemm_q8_0",
    "gemm_q4_k",
    "gemm_q6_k",
    "gemm_f16",
    "quantize_q8_0",
    "quantize_q8_1",
    "quantize_q8_k",
    "rmsnorm",
    "softmax",
    "silu_mul",
    "rope",
    "attend",
    "add",
];

/// The backend being timed and the clock.
struct Wrapped {
    base: Backend,
    clock: fn() -> u64,
}

static WRAPPED: AtomicPtr<Wrapped> = AtomicPtr::new(core::ptr::null_mut());
static TICKS: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

fn timed<R>(i: usize, f: impl FnOnce(&Backend) -> R) -> R {
    // SAFETY: the timed entries are only reachable through a backend made
    // by `wrap`, which stored a leaked (never freed) `Wrapped` first.
    let w = unsafe { &*WRAPPED.load(Ordering::Relaxed) };
    let t0 = (w.clock)();
    let r = f(&w.base);
    TICKS[i].fetch_add((w.clock)().wrapping_sub(t0), Ordering::Relaxed);
    r
}

macro_rules! gemm {
    ($name:ident, $i:expr) => {
        fn $name(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
            timed($i, |b| (b.$name)(w, x, rows, out, ld))
        }
    };
}
gemm!(gemm_q4_0, 0);
gemm!(gemm_q4_1, 1);
gemm!(gemm_q5_0, 2);
gemm!(gemm_q8_0, 3);
gemm!(gemm_q4_k, 4);
gemm!(gemm_q6_k, 5);
gemm!(gemm_f16, 6);
fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    timed(7, |b| (b.quantize_q8_0)(x, y))
}
fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    timed(8, |b| (b.quantize_q8_1)(x, y))
}
fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8_K]) {
    timed(9, |b| (b.quantize_q8_k)(x, y))
}
fn rmsnorm(o: &mut [f32], x: &[f32], w: &[f32], e: f32) {
    timed(10, |b| (b.rmsnorm)(o, x, w, e))
}
fn softmax(x: &mut [f32]) {
    timed(11, |b| (b.softmax)(x))
}
fn silu_mul(g: &mut [f32], u: &[f32]) {
    timed(12, |b| (b.silu_mul)(g, u))
}
fn rope(x: &mut [f32], hd: usize, cs: &[f32], neox: bool) {
    timed(13, |b| (b.rope)(x, hd, cs, neox))
}
fn attend(q: &[f16], k: &[f16], v: &[f16], s: f32, sc: &mut [f32], o: &mut [f32]) {
    timed(14, |b| (b.attend)(q, k, v, s, sc, o))
}
fn add(y: &mut [f32], x: &[f32]) {
    timed(15, |b| (b.add)(y, x))
}

/// `base` with every entry of [`ENTRIES`] timed by `clock` (any monotonic
/// tick counter); the counters are reset. Each call leaks a copy of `base`
/// (a few hundred bytes), so that backends made earlier stay valid.
pub fn wrap(base: &Backend, clock: fn() -> u64) -> Backend {
    let w = Box::leak(Box::new(Wrapped { base: *base, clock }));
    WRAPPED.store(w, Ordering::Relaxed);
    reset();
    Backend {
        gemm_q4_0,
        gemm_q4_1,
        gemm_q5_0,
        gemm_q8_0,
        gemm_q4_k,
        gemm_q6_k,
        gemm_f16,
        quantize_q8_0,
        quantize_q8_1,
        quantize_q8_k,
        rmsnorm,
        softmax,
        silu_mul,
        rope,
        attend,
        add,
        ..*base
    }
}

/// Zeroes the counters.
pub fn reset() {
    for t in &TICKS {
        t.store(0, Ordering::Relaxed);
    }
}

/// Clock ticks spent in each entry of [`ENTRIES`] since the last reset.
pub fn totals() -> [u64; 16] {
    core::array::from_fn(|i| TICKS[i].load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> u64 {
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn wrapped_entries_compute_the_same_and_are_counted() {
        let be = wrap(&super::super::SCALAR, counter);
        let (mut y, x) = ([1.0f32, 2.0], [0.5f32, -1.0]);
        (be.add)(&mut y, &x);
        assert_eq!(y, [1.5, 1.0]);
        let t = totals();
        assert_eq!(t[15], 1, "one tick between the clock reads of `add`");
        assert!(t[..15].iter().all(|&v| v == 0));
        reset();
        assert_eq!(totals(), [0; 16]);
    }
}
