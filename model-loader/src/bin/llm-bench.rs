//! `llm-bench`: times the engine the way `llama-bench` times llama.cpp
//! (prefill of `-p` tokens as one batch, then `-n` single-token decode steps
//! from an empty context), or with `--kernels`, the matrix kernels alone.
//! `cargo xtask bench` runs it natively and under `qemu-x86_64`, and parses
//! the `RESULT` lines it prints.
//!
//! ```text
//! llm-bench MODEL.gguf [-p 64] [-n 64] [-r REPS] [-t THREADS] [--backend NAME | --pick]
//! llm-bench --kernels [--backend NAME] [--types q4_1,q8_0] [--ms 200]
//! ```

use std::time::Instant;

use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::parallel::ThreadTeam;
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

/// The CPU time of the whole process (all its threads) in seconds.
fn process_cpu_time() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec (the C layout above).
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// `--profile`: the chosen backend's entries timed by `quant::profile`.
mod profile {
    use super::*;
    use model_loader::quant::profile::{self as qp, ENTRIES};
    use std::sync::OnceLock;

    /// Nanoseconds since the first call.
    fn now_ns() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    pub fn wrap(base: &Backend) -> &'static Backend {
        Box::leak(Box::new(qp::wrap(base, now_ns)))
    }

    pub fn report(total: f64) {
        let mut sum = 0.0;
        for (n, t) in ENTRIES.iter().zip(qp::totals()) {
            let t = t as f64 * 1e-9;
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
        "usage: llm-bench MODEL.gguf [-p N] [-n N] [-r REPS] [-t THREADS] [--backend NAME | --pick] [--profile]\n       llm-bench --kernels [--backend NAME] [--types T,..] [--ms MS]"
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
        // Also raise it with an inexact operation: QEMU keeps the flag in
        // its softfloat state, which `ldmxcsr` may not update.
        let third = std::hint::black_box(1.0f32) / std::hint::black_box(3.0f32);
        std::hint::black_box(third);
    }
}

struct Opts {
    model: Option<String>,
    p: usize,
    n: usize,
    reps: usize,
    threads: Option<usize>,
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
        threads: None,
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
            "-t" | "--threads" => o.threads = Some(val().parse().unwrap_or_else(|_| usage())),
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
    if o.model.as_deref() == Some("vec") {
        vec_ops(&o);
        return;
    }
    let path = o.model.clone().unwrap_or_else(|| usage());
    let be = choose(&o);
    let be = if o.profile { profile::wrap(be) } else { be };
    let team = ThreadTeam::for_threads(o.threads).unwrap_or_else(|e| {
        eprintln!("llm-bench: {e}");
        std::process::exit(2)
    });
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
    eprintln!(
        "[llm-bench: {path}, backend {}, {} thread(s)]",
        be.name,
        team.workers()
    );
    eprintln!("[cpu: {}]", model_loader::cpu::info());

    // Warm-up (page faults, caches, the emulator's translation cache), as
    // llama-bench does: one decode step.
    {
        let mut s = Session::new(&model, be, n_ctx, 1).expect("session");
        s.set_team(team);
        s.decode_step(toks[0]).expect("decode");
    }
    // Per-repetition rates.
    let (mut pp, mut tg, mut cpu_pp, mut cpu_tg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut fork_joins = 0.0;
    for _ in 0..o.reps.max(1) {
        if o.p > 0 {
            let mut s = Session::new(&model, be, n_ctx, o.p).expect("session");
            s.set_team(team);
            let (t0, c0) = (Instant::now(), process_cpu_time());
            s.prefill(&toks[..o.p], None).expect("prefill");
            pp.push(o.p as f64 / t0.elapsed().as_secs_f64());
            cpu_pp.push(o.p as f64 / (process_cpu_time() - c0));
        }
        if o.n > 0 {
            let mut s = Session::new(&model, be, n_ctx, 1).expect("session");
            s.set_team(team);
            let (t0, c0) = (Instant::now(), process_cpu_time());
            let mut tok = toks[0];
            for i in 0..o.n {
                let l = s.decode_step(tok).expect("decode");
                // Feed something depending on the output, cheaply.
                tok = (i as u32 * 7919 + (l[0].to_bits() & 1023)) % n_vocab as u32;
            }
            tg.push(o.n as f64 / t0.elapsed().as_secs_f64());
            cpu_tg.push(o.n as f64 / (process_cpu_time() - c0));
            fork_joins = s.fork_joins() as f64 / o.n as f64;
        }
    }
    if team.workers() > 1 && o.n > 0 {
        eprintln!("[decode: {fork_joins:.0} fork-joins per token]");
    }
    if o.profile {
        eprintln!("[profile: time per backend entry, all runs]");
        profile::report(t_all.elapsed().as_secs_f64());
    }
    // The median repetition (`cargo xtask bench` runs one repetition per
    // process, alternating with llama.cpp, and takes medians itself).
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // `cpu`: tokens per second of the process's CPU time (all threads).
    let threads = team.workers();
    if o.p > 0 {
        println!(
            "RESULT pp {} {:.3} tok/s cpu {:.3} tok/s backend={} threads={threads}",
            o.p,
            median(&pp),
            median(&cpu_pp),
            be.name
        );
    }
    if o.n > 0 {
        println!(
            "RESULT tg {} {:.3} tok/s cpu {:.3} tok/s backend={} threads={threads}",
            o.n,
            median(&tg),
            median(&cpu_tg),
            be.name
        );
    }
}

/// `llm-bench vec`: times the vector helpers of each backend (µs per call
/// on SmolLM2-sized vectors).
fn vec_ops(o: &Opts) {
    let backends: Vec<&Backend> = match &o.backend {
        Some(n) => n
            .split(',')
            .map(|n| quant::by_name(n).unwrap_or_else(|| usage()))
            .collect(),
        None => quant::available().collect(),
    };
    let mut rng = model_loader::rng::Rng::new(3);
    let n = 1536;
    let x: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let w: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let hd = 64;
    let npos = 64;
    let q: Vec<half::f16> = (0..hd).map(|_| half::f16::from_f32(rng.normal())).collect();
    let kv: Vec<half::f16> = (0..hd * npos)
        .map(|_| half::f16::from_f32(rng.normal()))
        .collect();
    for b in backends {
        let time = |f: &mut dyn FnMut()| {
            let t0 = cpu_time();
            let mut k = 0;
            while cpu_time() - t0 < o.ms as f64 / 8e3 {
                f();
                k += 1;
            }
            (cpu_time() - t0) / k as f64 * 1e6
        };
        let mut g = x.clone();
        let silu = time(&mut || {
            g.copy_from_slice(&x);
            (b.silu_mul)(&mut g, &w)
        });
        let mut out = vec![0.0f32; n];
        let rms = time(&mut || (b.rmsnorm)(&mut out, &x, &w, 1e-5));
        let mut sc = vec![0.0f32; npos];
        let mut o2 = vec![0.0f32; hd];
        let att = time(&mut || (b.attend)(&q, &kv, &kv, 0.125, &mut sc, &mut o2));
        let mut y1 = vec![quant::BlockQ8_1::ZERO; n / 32];
        let q81 = time(&mut || (b.quantize_q8_1)(&x, &mut y1));
        let mut cs = vec![0.0f32; hd];
        for (i, c) in cs.iter_mut().enumerate() {
            *c = (i as f32 * 0.1).cos();
        }
        let mut xr = x[..576].to_vec();
        let rope = time(&mut || (b.rope)(&mut xr, hd, &cs, false));
        println!(
            "{:<12} silu_mul({n}) {silu:8.1} us  rmsnorm({n}) {rms:8.1} us  attend(64x{npos}) {att:8.1} us  quantize_q8_1({n}) {q81:8.1} us  rope(576) {rope:8.1} us",
            b.name
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
