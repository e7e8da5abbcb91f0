//! `/bench profile [N]`: where a decode step's time goes inside the kernel
//! (the backend's entries timed with the TSC by `quant::profile`, as
//! `llm-bench --profile` does on the host). Under QEMU's system-mode TCG every guest
//! memory access goes through the soft TLB, so the split differs from the
//! user-mode one.

use crate::arch::x86_64::cpu;
use crate::{println, time};
use model_loader::quant::profile::{self, ENTRIES};
use model_loader::quant::{Backend, QMatrix};

/// Runs `n` decode steps (after one warm-up step) with `base`'s entries
/// timed and prints the time per token of each.
pub fn decode_profile(model: &model_loader::model::Model<'_>, base: &Backend, n: usize) {
    use model_loader::session::Session;
    let be = profile::wrap(base, cpu::rdtsc);
    let n_vocab = model.tok_embd.n_rows as u32;
    let run = || -> Result<u64, model_loader::model::ModelError> {
        let mut s = Session::new(model, &be, n + 8, 1)?;
        let mut tok = 1u32;
        s.decode_step(tok)?;
        profile::reset();
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
    for (name, t) in ENTRIES.iter().zip(profile::totals()) {
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
