//! `llm-bench`: times the engine the way `llama-bench` times llama.cpp
//! (prefill of `-p` tokens as one batch, then `-n` single-token decode steps
//! from an empty context), or with `--kernels`, the matrix kernels alone.
//! `cargo xtask bench` runs it natively and under `qemu-x86_64`, and parses
//! the `RESULT` lines it prints.
//!
//! ```text
//! llm-bench MODEL.gguf [-p 64] [-n 64] [-r REPS] [--backend NAME | --pick]
//! llm-bench --kernels [--backend NAME] [--types q4_1,q8_0] [--ms 200]
//! ```

use std::time::Instant;

use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::quant::{self, simd, Backend, GgmlType, QMatrix};
use model_loader::session::Session;

/// This thread's CPU time in seconds (other processes sharing the core do
/// not count, so kernel timings hold up on a busy machine).
fn cpu_time() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (the C layout above).
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// `--profile`: the chosen backend's entries wrapped with timers.
mod profile {
    use super::*;
    use core::ops::Range;
    use model_loader::quant::blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K};
    use model_loader::quant::{Acts, QMatrix};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    pub static BASE: OnceLock<Backend> = OnceLock::new();
    pub const NAMES: [&str; 16] = [
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
    pub static T: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

    fn b() -> &'static Backend {
        BASE.get().expect("set")
    }
    fn timed<R>(i: usize, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        T[i].fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
    macro_rules! g {
        ($name:ident, $i:expr) => {
            fn $name(
                w: &QMatrix<'_>,
                x: &Acts<'_>,
                rows: Range<usize>,
                out: &mut [f32],
                ld: usize,
            ) {
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
    fn attend(
        q: &[half::f16],
        k: &[half::f16],
        v: &[half::f16],
        s: f32,
        sc: &mut [f32],
        o: &mut [f32],
    ) {
        timed(14, || (b().attend)(q, k, v, s, sc, o))
    }
    fn add(y: &mut [f32], x: &[f32]) {
        timed(15, || (b().add)(y, x))
    }

    pub fn wrap(base: &Backend) -> &'static Backend {
        BASE.set(*base).ok();
        Box::leak(Box::new(Backend {
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
        }))
    }

    pub fn report(total: f64) {
        let mut sum = 0.0;
        for (i, n) in NAMES.iter().enumerate() {
            let t = T[i].load(Ordering::Relaxed) as f64 * 1e-9;
            sum += t;
            if t > 0.0 {
                eprintln!("  {n:<14} {:>8.3} s {:>5.1}%", t, 100.0 * t / total);
            }
        }
        eprintln!(
            "  {:<14} {:>8.3} s {:>5.1}%",
            "other",
            total - sum,
            100.0 * (total - sum) / total
        );
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: llm-bench MODEL.gguf [-p N] [-n N] [-r REPS] [--backend NAME | --pick]\n       llm-bench --kernels [--backend NAME] [--types T,..] [--ms MS]"
    );
    std::process::exit(2);
}

/// QEMU's TCG runs float instructions 2-4x faster once MXCSR's sticky
/// inexact flag is set (its fast path needs no flag update); the kernel sets
/// it at boot, so the benchmark does too. Natively it changes nothing.
fn set_inexact_flag() {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: reads and writes this thread's MXCSR; only the sticky PE
        // flag (bit 5) changes, which affects no result.
        unsafe {
            core::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
            csr |= 0x20;
            core::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
        }
    }
}

struct Opts {
    model: Option<String>,
    p: usize,
    n: usize,
    reps: usize,
    backend: Option<String>,
    pick: bool,
    kernels: bool,
    types: Option<String>,
    ms: u64,
    profile: bool,
    shape: (usize, usize),
}

fn parse() -> Opts {
    let mut o = Opts {
        model: None,
        p: 64,
        n: 64,
        reps: 1,
        backend: None,
        pick: false,
        kernels: false,
        types: None,
        ms: 300,
        profile: false,
        shape: (1536, 1536),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "-p" => o.p = val().parse().unwrap_or_else(|_| usage()),
            "-n" => o.n = val().parse().unwrap_or_else(|_| usage()),
            "-r" => o.reps = val().parse().unwrap_or_else(|_| usage()),
            "--ms" => o.ms = val().parse().unwrap_or_else(|_| usage()),
            "--backend" => o.backend = Some(val()),
            "--types" => o.types = Some(val()),
            "--shape" => {
                let v = val();
                let (r, c) = v.split_once('x').unwrap_or_else(|| usage());
                o.shape = (
                    r.parse().unwrap_or_else(|_| usage()),
                    c.parse().unwrap_or_else(|_| usage()),
                );
            }
            "--pick" => o.pick = true,
            "--kernels" => o.kernels = true,
            "--profile" => o.profile = true,
            "-h" | "--help" => usage(),
            _ if !a.starts_with('-') && o.model.is_none() => o.model = Some(a),
            _ => usage(),
        }
    }
    o
}

fn choose(o: &Opts) -> &'static Backend {
    if let Some(name) = &o.backend {
        return quant::by_name(name).unwrap_or_else(|| {
            eprintln!("{}", quant::backend::unknown_backend(name));
            std::process::exit(2)
        });
    }
    if o.pick {
        let t0 = Instant::now();
        let t = simd::time_backends(&simd::TIMED_TYPES);
        let list: Vec<String> = t
            .iter()
            .map(|t| format!("{}={}", t.name, t.ticks))
            .collect();
        eprintln!(
            "[pick_by_timing: {} ({:.0} ms)]",
            list.join(" "),
            t0.elapsed().as_secs_f64() * 1e3
        );
        return quant::by_name(t[0].name).unwrap_or(&quant::SCALAR);
    }
    quant::from_env().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    })
}

fn main() {
    set_inexact_flag();
    let o = parse();
    if o.kernels {
        kernels(&o);
        return;
    }
    let path = o.model.clone().unwrap_or_else(|| usage());
    let be = choose(&o);
    let be = if o.profile { profile::wrap(be) } else { be };
    let t_all = Instant::now();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("llm-bench: {path}: {e}");
        std::process::exit(1)
    });
    let gguf = Gguf::parse(&bytes).unwrap_or_else(|e| {
        eprintln!("llm-bench: {path}: {e}");
        std::process::exit(1)
    });
    let model = Model::from_gguf(&gguf).unwrap_or_else(|e| {
        eprintln!("llm-bench: {path}: {e}");
        std::process::exit(1)
    });
    let n_vocab = model.tok_embd.n_rows as u64;
    // Fixed pseudo-random tokens (llama-bench also feeds arbitrary tokens).
    let mut rng = model_loader::rng::Rng::new(42);
    let toks: Vec<u32> = (0..o.p.max(1)).map(|_| rng.below(n_vocab) as u32).collect();
    let n_ctx = (o.p + o.n + 8).max(16);
    eprintln!("[llm-bench: {path}, backend {}]", be.name);

    // Warm-up (page faults, caches, the emulator's translation cache), as
    // llama-bench does: one decode step.
    {
        let mut s = Session::new(&model, be, n_ctx, 1).expect("session");
        s.decode_step(toks[0]).expect("decode");
    }
    // Mean of the per-repetition rates, like llama-bench's `avg_ts`.
    let (mut pp, mut tg, mut cpu_pp, mut cpu_tg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..o.reps.max(1) {
        if o.p > 0 {
            let mut s = Session::new(&model, be, n_ctx, o.p).expect("session");
            let (t0, c0) = (Instant::now(), cpu_time());
            s.prefill(&toks[..o.p], None).expect("prefill");
            pp.push(o.p as f64 / t0.elapsed().as_secs_f64());
            cpu_pp.push(o.p as f64 / (cpu_time() - c0));
        }
        if o.n > 0 {
            let mut s = Session::new(&model, be, n_ctx, 1).expect("session");
            let (t0, c0) = (Instant::now(), cpu_time());
            let mut tok = toks[0];
            for i in 0..o.n {
                let l = s.decode_step(tok).expect("decode");
                // Feed something depending on the output, cheaply.
                tok = (i as u32 * 7919 + (l[0].to_bits() & 1023)) % n_vocab as u32;
            }
            tg.push(o.n as f64 / t0.elapsed().as_secs_f64());
            cpu_tg.push(o.n as f64 / (cpu_time() - c0));
        }
    }
    if o.profile {
        eprintln!("[profile: time per backend entry, all runs]");
        profile::report(t_all.elapsed().as_secs_f64());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    if o.p > 0 {
        println!(
            "RESULT pp {} {:.3} tok/s cpu {:.3} tok/s backend={}",
            o.p,
            mean(&pp),
            mean(&cpu_pp),
            be.name
        );
    }
    if o.n > 0 {
        println!(
            "RESULT tg {} {:.3} tok/s cpu {:.3} tok/s backend={}",
            o.n,
            mean(&tg),
            mean(&cpu_tg),
            be.name
        );
    }
}

/// Times `gemm` of each type on model-like shapes for each backend.
fn kernels(o: &Opts) {
    let types: Vec<GgmlType> = match &o.types {
        Some(s) => s
            .split(',')
            .map(|t| GgmlType::from_name(t.trim()).unwrap_or_else(|| usage()))
            .collect(),
        None => vec![
            GgmlType::Q4_1,
            GgmlType::Q8_0,
            GgmlType::Q5_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
            GgmlType::Q4_0,
        ],
    };
    let backends: Vec<&Backend> = match &o.backend {
        Some(n) => n
            .split(',')
            .map(|n| quant::by_name(n).unwrap_or_else(|| usage()))
            .collect(),
        None => quant::available().collect(),
    };
    let mut rng = model_loader::rng::Rng::new(1);
    let (rows, cols) = o.shape;
    let (prows, ptok) = (256usize.min(rows), 64usize);
    println!(
        "{:<8} {:<12} {:>12} {:>12}",
        "type", "backend", "decode Gmac/s", "prefill Gmac/s"
    );
    for &ty in &types {
        let (w, _) = quant::testing::random_matrix(&mut rng, ty, rows, cols);
        let m = QMatrix::new(ty, cols, rows, &w).unwrap();
        let x = quant::testing::random_activations(&mut rng, cols * ptok);
        let at = m.act_type();
        let acts1 = quant::SCALAR.quantize_vec(at, &x[..cols]).unwrap();
        let actsp = quant::SCALAR.quantize_vec(at, &x).unwrap();
        let mut out = vec![0.0f32; rows * ptok];
        for b in &backends {
            let rate = |n_rows: usize, n_tok: usize, acts: &quant::OwnedActs, out: &mut [f32]| {
                let view = acts.view(cols, n_tok);
                let mut iters = 0u64;
                let t0 = cpu_time();
                loop {
                    b.gemm(&m, &view, 0..n_rows, out, n_rows).unwrap();
                    iters += 1;
                    if cpu_time() - t0 >= o.ms as f64 / 2e3 {
                        break;
                    }
                }
                (iters * (n_rows * cols * n_tok) as u64) as f64 / (cpu_time() - t0) / 1e9
            };
            let d = rate(rows, 1, &acts1, &mut out);
            let p = rate(prows, ptok, &actsp, &mut out);
            println!("{:<8} {:<12} {:>12.3} {:>12.3}", ty.name(), b.name, d, p);
            println!("RESULT kernel {} {} {:.4} {:.4}", ty.name(), b.name, d, p);
        }
    }
}
