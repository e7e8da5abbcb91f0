//! `/bench profile [N]`: where a decode step's time goes inside the kernel
//! (the backend's entries wrapped with TSC timers, as `llm-bench
//! --profile` does on the host). Under QEMU's system-mode TCG every guest
//! memory access goes through the soft TLB, so the split differs from the
//! user-mode one.

use crate::arch::x86_64::cpu;
use crate::{println, time};
use alloc::boxed::Box;
use core::ops::Range;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use half::f16;
use model_loader::quant::blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K};
use model_loader::quant::{Acts, Backend, QMatrix};

static BASE: AtomicPtr<Backend> = AtomicPtr::new(core::ptr::null_mut());
const NAMES: [&str; 16] = [
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
static T: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

fn b() -> &'static Backend {
    // SAFETY: set once in `wrap` to a leaked (never freed) backend.
    unsafe { &*BASE.load(Ordering::Relaxed) }
}

fn timed<R>(i: usize, f: impl FnOnce() -> R) -> R {
    let t0 = cpu::rdtsc();
    let r = f();
    T[i].fetch_add(cpu::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
    r
}

macro_rules! g {
    ($name:ident, $i:expr) => {
        fn $name(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize) {
            timed($i, || (b().$name)(w, x, rows, out, ld))
        }
    };
}
g!(gemm_q4_0, 0);
g!(gemm_q4_1, 1);
g!(gemm_q5_0, 2);
g!(gemm_q8_0, 3);
g!(gemm_q4_k, 4);
g!(gemm_q6_k, 5);
g!(gemm_f16, 6);
fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    timed(7, || (b().quantize_q8_0)(x, y))
}
fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    timed(8, || (b().quantize_q8_1)(x, y))
}
fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8_K]) {
    timed(9, || (b().quantize_q8_k)(x, y))
}
fn rmsnorm(o: &mut [f32], x: &[f32], w: &[f32], e: f32) {
    timed(10, || (b().rmsnorm)(o, x, w, e))
}
fn softmax(x: &mut [f32]) {
    timed(11, || (b().softmax)(x))
}
fn silu_mul(g: &mut [f32], u: &[f32]) {
    timed(12, || (b().silu_mul)(g, u))
}
fn rope(x: &mut [f32], hd: usize, cs: &[f32], neox: bool) {
    timed(13, || (b().rope)(x, hd, cs, neox))
}
fn attend(q: &[f16], k: &[f16], v: &[f16], s: f32, sc: &mut [f32], o: &mut [f32]) {
    timed(14, || (b().attend)(q, k, v, s, sc, o))
}
fn add(y: &mut [f32], x: &[f32]) {
    timed(15, || (b().add)(y, x))
}

/// `base` with every entry timed (the counters are reset).
fn wrap(base: &Backend) -> Backend {
    BASE.store(Box::leak(Box::new(*base)), Ordering::Relaxed);
    for t in &T {
        t.store(0, Ordering::Relaxed);
    }
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

/// Runs `n` decode steps (after one warm-up step) with `base`'s entries
/// timed and prints the time per token of each.
pub fn decode_profile(model: &model_loader::model::Model<'_>, base: &Backend, n: usize) {
    use model_loader::session::Session;
    let be = wrap(base);
    let n_vocab = model.tok_embd.n_rows as u32;
    let run = || -> Result<u64, model_loader::model::ModelError> {
        let mut s = Session::new(model, &be, n + 8, 1)?;
        let mut tok = 1u32;
        s.decode_step(tok)?;
        for t in &T {
            t.store(0, Ordering::Relaxed);
        }
        let t0 = cpu::rdtsc();
        for i in 0..n {
            let l = s.decode_step(tok)?;
            tok = (i as u32 * 7919 + (l[0].to_bits() & 1023)) % n_vocab;
        }
        Ok(cpu::rdtsc().wrapping_sub(t0))
    };
    let total = match run() {
        Ok(t) => t,
        Err(e) => return println!("error: {e}"),
    };
    let ms = |ticks: u64| ticks as f64 * 1e3 / time::tsc_hz().max(1) as f64 / n as f64;
    println!(
        "decode profile, backend {}: {:.1} ms/token ({:.3} tok/s)",
        base.name,
        ms(total),
        1e3 / ms(total).max(1e-9)
    );
    let mut sum = 0;
    for (i, name) in NAMES.iter().enumerate() {
        let t = T[i].load(Ordering::Relaxed);
        sum += t;
        if t > 0 {
            println!(
                "  {name:<14} {:>8.2} ms/token {:>5.1}%",
                ms(t),
                100.0 * t as f64 / total as f64
            );
        }
    }
    let other = total.saturating_sub(sum);
    println!(
        "  {:<14} {:>8.2} ms/token {:>5.1}%",
        "other",
        ms(other),
        100.0 * other as f64 / total as f64
    );
}

/// Matrix × vector kernels of every available backend on one real matrix
/// of each weight type of the model (the largest of its type), best of 3:
/// the system-mode counterpart of `llm-bench --kernels`.
pub fn kernels(model: &model_loader::model::Model<'_>) {
    use alloc::vec;
    use alloc::vec::Vec;
    use model_loader::quant;
    let mut picked: Vec<(alloc::string::String, &QMatrix<'_>)> = Vec::new();
    let all = core::iter::once((alloc::string::String::from("output"), &model.output))
        .chain(model.matrices());
    for (name, m) in all {
        match picked.iter_mut().find(|p| p.1.ty == m.ty) {
            Some(p) if p.1.n_rows * p.1.n_cols >= m.n_rows * m.n_cols => {}
            Some(p) => *p = (name, m),
            None => picked.push((name, m)),
        }
    }
    let mut rng = model_loader::rng::Rng::new(3);
    for (name, m) in &picked {
        let x = quant::testing::random_activations(&mut rng, m.n_cols);
        let Ok(acts) = quant::SCALAR.quantize_vec(m.act_type(), &x) else {
            continue;
        };
        let mut out = vec![0.0f32; m.n_rows];
        let mut line = alloc::format!("{:<6} {name} {}x{}:", m.ty.name(), m.n_rows, m.n_cols);
        for be in quant::available().filter(|b| b.name != quant::SCALAR.name) {
            if be.name.starts_with("avx") {
                continue; // helper-call kernels: minutes under TCG
            }
            let mut best = u64::MAX;
            for _ in 0..3 {
                let t0 = cpu::rdtsc();
                let _ = be.gemm(m, &acts.view(m.n_cols, 1), 0..m.n_rows, &mut out, m.n_rows);
                best = best.min(cpu::rdtsc().wrapping_sub(t0));
            }
            let s = best as f64 / time::tsc_hz().max(1) as f64;
            let ns_block = s * 1e9 / (m.n_rows * m.n_cols / 32) as f64;
            line += &alloc::format!("  {} {:.1} ms ({:.1} ns/32)", be.name, s * 1e3, ns_block);
        }
        println!("{line}");
    }
}

