//! `cargo xtask bench`: our engine against llama.cpp, same GGUF, same run,
//! with the same number of threads (1 and 2 by default).
//!
//! - Native rows: for each model and thread count, `-r` rounds (default 3);
//!   each round runs llama.cpp once, then ours once (one repetition each,
//!   so that both see the same load on a shared machine). A row reports
//!   each engine's median and the MEDIAN of the per-round ratios, with the
//!   lowest and highest ratio to show how noisy the run was.
//!
//! - The peer is `llama-bench` from the `llama-cpp-python==0.3.36` source
//!   distribution (its `vendor/llama.cpp`), built once with CMake (Release,
//!   CPU only, `-march=native`, no curl) under `target/llama-peer/`; later
//!   runs reuse the binary. Where that build dies of SIGILL (ggml's AMX
//!   path on a VM that offers AMX), a native build without AMX is used.
//! - Our side is `model-loader`'s `llm-bench` binary: the real engine
//!   (`Session::prefill` of `-p` tokens in one batch, then `-n` single-token
//!   decode steps from an empty context, like llama-bench's `pp`/`tg`
//!   tests), with the backend chosen as the engine does by default (best
//!   by CPUID, or `--backend NAME`).
//! - TCG rows: our engine under `qemu-x86_64 -cpu max` (QEMU's TCG, as the
//!   kernel runs under `qemu-system` without KVM), backend picked by timing
//!   (`pick_by_timing`, as the kernel does at boot). `--tcg-peer` adds
//!   llama.cpp under the same emulator (an AVX2 build: QEMU 7.2 has no
//!   AVX-512; very slow, so small `-p`/`-n`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::args::Args;
use crate::models::resolve as resolve_model;
use crate::util::{root, run};

const USAGE: &str = "\
usage: cargo xtask bench [options]
  --models a,b       models (default smollm2,qwen-coder; names or GGUF paths)
  -p N / -n N        prefill / decode tokens (default 64 / 64)
  -r N               alternating rounds (llama.cpp, then ours) per row; medians are reported (default 3)
  --threads a,b      thread counts of the native rows, the same for both engines (default 1,2)
  --smp a,b          vCPU counts of the kernel rows (default 1,2)
  --backend NAME     our backend (default: $LLM_BACKEND, else best by CPUID)
  --no-tcg           skip the rows under qemu-x86_64
  --tcg-p N / --tcg-n N   tokens for the TCG rows (default 16 / 8)
  --tcg-peer         also run llama.cpp under qemu-x86_64 (slow; builds an AVX2 llama-bench)
  --kernels          also print our per-kernel microbenchmark (Gmac/s per backend)
  --no-kernel        skip the rows of the kernel itself under qemu-system-x86_64 (bench_qemu)
  --kernel-only      only those rows";

const LLAMA_CPP_PYTHON: &str = "llama-cpp-python==0.3.36";

pub fn main(args: Vec<String>) -> Result<()> {
    let mut a = Args::new(args);
    if a.flag("--help") || a.flag("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let models: Vec<String> = a
        .value("--models")?
        .unwrap_or_else(|| "smollm2,qwen-coder".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let p: usize = a.parsed("-p")?.unwrap_or(64);
    let n: usize = a.parsed("-n")?.unwrap_or(64);
    let reps: usize = a.parsed("-r")?.unwrap_or(3).max(1);
    let threads = counts(
        a.value("--threads")?.as_deref().unwrap_or("1,2"),
        "--threads",
    )?;
    let smps = counts(a.value("--smp")?.as_deref().unwrap_or("1,2"), "--smp")?;
    let backend = a.value("--backend")?;
    let no_tcg = a.flag("--no-tcg");
    let tcg_p: usize = a.parsed("--tcg-p")?.unwrap_or(16);
    let tcg_n: usize = a.parsed("--tcg-n")?.unwrap_or(8);
    let tcg_peer = a.flag("--tcg-peer");
    let kernels = a.flag("--kernels");
    let no_kernel = a.flag("--no-kernel");
    if a.flag("--kernel-only") {
        a.finish()?;
        return crate::bench_qemu::run_and_print(&models, tcg_p, tcg_n, &smps);
    }
    a.finish()?;

    let t_start = Instant::now();
    let ours = build_ours()?;
    let paths: Vec<PathBuf> = models
        .iter()
        .map(|m| resolve_model(m))
        .collect::<Result<_>>()?;
    let mut peer = build_peer(Peer::Native)?;
    if let Some(first) = paths.first() {
        if dies_of_sigill(&peer, first)? {
            // Seen on a Sapphire Rapids VM: CPUID and XCR0 offer AMX, the
            // permission is granted, and ggml's AMX path still takes #UD
            // at its first `tileloadd`. Our engine has no AMX kernels.
            eprintln!(
                "[bench] llama.cpp's native build dies of SIGILL on this machine (its AMX path); using a native build without AMX"
            );
            peer = build_peer(Peer::NativeNoAmx)?;
        }
    }

    if kernels {
        println!("== our kernels (thread CPU time; decode: 1536x1536 matrix x vector, prefill: 256 rows x 64 tokens)");
        run(Command::new(&ours).args(["--kernels", "--ms", "300"]))?;
    }

    let mut rows: Vec<Row> = Vec::new();
    for (name, path) in models.iter().zip(&paths) {
        for &t in &threads {
            let mut row = Row::new(name, "native", t, p, n);
            for round in 1..=reps {
                eprintln!(
                    "[bench] {name}, {t} thread(s), round {round}/{reps}: llama.cpp, then ours"
                );
                let lp = llama_bench(&peer, None, path, p, n, t)?;
                let mut cmd = Command::new(&ours);
                cmd.arg(path).args([
                    "-p",
                    &p.to_string(),
                    "-n",
                    &n.to_string(),
                    "-r",
                    "1",
                    "-t",
                    &t.to_string(),
                ]);
                if let Some(b) = &backend {
                    cmd.args(["--backend", b]);
                }
                let o = ours_bench(&mut cmd)?;
                row.add(&o, Some(&lp));
            }
            rows.push(row);
        }
    }

    if !no_tcg {
        if !have("qemu-x86_64") {
            eprintln!(
                "[bench] qemu-x86_64 not found: skipping the TCG rows (apt-get install qemu-user)"
            );
        } else {
            let tpeer = if tcg_peer {
                Some(build_peer(Peer::Avx2)?)
            } else {
                None
            };
            for (name, path) in models.iter().zip(&paths) {
                eprintln!("[bench] {name}: ours under qemu-x86_64 (TCG)");
                let mut cmd = Command::new("qemu-x86_64");
                cmd.args(["-cpu", "max"]).arg(&ours).arg(path).args([
                    "-p",
                    &tcg_p.to_string(),
                    "-n",
                    &tcg_n.to_string(),
                    "-r",
                    "1",
                    "-t",
                    "1",
                    "--pick",
                ]);
                let o = ours_bench(&mut cmd)?;
                let lp = match &tpeer {
                    Some(bin) => {
                        eprintln!("[bench] {name}: llama.cpp under qemu-x86_64 (TCG)");
                        Some(llama_bench(
                            bin,
                            Some("qemu-x86_64"),
                            path,
                            tcg_p,
                            tcg_n,
                            1,
                        )?)
                    }
                    None => None,
                };
                let mut row = Row::new(name, "qemu-tcg", 1, tcg_p, tcg_n);
                row.add(&o, lp.as_ref());
                rows.push(row);
            }
        }
    }

    print_table(&rows);
    if !no_kernel {
        crate::bench_qemu::run_and_print(&models, tcg_p, tcg_n, &smps)?;
    }
    eprintln!("[bench] done in {:.0} s", t_start.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------
// Results.

/// tokens/s of one engine: (prefill, decode), and our backend's name.
#[derive(Debug, Clone, Default)]
struct Speeds {
    pp: Option<f64>,
    tg: Option<f64>,
    /// Ours only: tokens per second of this thread's CPU time (robust to
    /// other load on the machine; under qemu, the emulating thread's).
    pp_cpu: Option<f64>,
    tg_cpu: Option<f64>,
    backend: String,
}

/// One table row: a model, a mode and a thread count, with the samples
/// of every round.
struct Row {
    model: String,
    mode: String,
    threads: usize,
    backend: String,
    p: usize,
    n: usize,
    ours: Vec<Speeds>,
    /// `None` where the peer did not run (the TCG rows without --tcg-peer).
    peer: Vec<Option<Speeds>>,
}

impl Row {
    fn new(model: &str, mode: &str, threads: usize, p: usize, n: usize) -> Row {
        Row {
            model: model.into(),
            mode: mode.into(),
            threads,
            backend: String::new(),
            p,
            n,
            ours: Vec::new(),
            peer: Vec::new(),
        }
    }

    /// One round's results.
    fn add(&mut self, ours: &Speeds, peer: Option<&Speeds>) {
        self.backend = ours.backend.clone();
        self.ours.push(ours.clone());
        self.peer.push(peer.cloned());
    }
}

/// The median of `v` (the mean of the two middle values for an even
/// count); `None` if empty.
fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The statistics of one test (pp or tg) of a row.
#[derive(Debug, Default, PartialEq)]
struct Stat {
    ours: Option<f64>,
    ours_cpu: Option<f64>,
    peer: Option<f64>,
    /// Median, lowest and highest of the per-round ratios ours/peer.
    ratio: Option<(f64, f64, f64)>,
}

fn stat(ours: &[Option<f64>], ours_cpu: &[Option<f64>], peer: &[Option<f64>]) -> Stat {
    let some = |v: &[Option<f64>]| v.iter().flatten().copied().collect::<Vec<_>>();
    let ratios: Vec<f64> = ours
        .iter()
        .zip(peer)
        .filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    Stat {
        ours: median(&some(ours)),
        ours_cpu: median(&some(ours_cpu)),
        peer: median(&some(peer)),
        ratio: median(&ratios).map(|m| {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            (m, lo, hi)
        }),
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<11} | {:<8} | {:>3} | {:<10} | {:<5} | {:>4} | {:>10} | {:>10} | {:>15} | {:>14} | {:>13} |",
        "model",
        "mode",
        "thr",
        "backend",
        "test",
        "runs",
        "ours tok/s",
        "(cpu t/s)",
        "llama.cpp tok/s",
        "ours/llama.cpp",
        "ratio range"
    );
    println!(
        "|{}|",
        [13, 10, 5, 12, 7, 6, 12, 12, 17, 16, 15]
            .iter()
            .map(|&n| "-".repeat(n))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let peer = |f: fn(&Speeds) -> Option<f64>| -> Vec<Option<f64>> {
            r.peer.iter().map(|s| s.as_ref().and_then(f)).collect()
        };
        let ours =
            |f: fn(&Speeds) -> Option<f64>| -> Vec<Option<f64>> { r.ours.iter().map(f).collect() };
        for (test, st) in [
            (
                format!("pp{}", r.p),
                stat(&ours(|s| s.pp), &ours(|s| s.pp_cpu), &peer(|s| s.pp)),
            ),
            (
                format!("tg{}", r.n),
                stat(&ours(|s| s.tg), &ours(|s| s.tg_cpu), &peer(|s| s.tg)),
            ),
        ] {
            let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
            let (ratio, range) = match st.ratio {
                Some((m, lo, hi)) => (format!("{m:.2}x"), format!("{lo:.2}-{hi:.2}x")),
                None => ("-".into(), "-".into()),
            };
            println!(
                "| {:<11} | {:<8} | {:>3} | {:<10} | {:<5} | {:>4} | {:>10} | {:>10} | {:>15} | {:>14} | {:>13} |",
                r.model,
                r.mode,
                r.threads,
                r.backend,
                test,
                r.ours.len(),
                f(st.ours),
                f(st.ours_cpu),
                f(st.peer),
                ratio,
                range
            );
        }
    }
    println!(
        "(tok/s: median over `runs` rounds, wall clock; each round runs llama.cpp then ours, one repetition each,\n \
         with `thr` threads each; ours/llama.cpp: the median of the per-round ratios, `ratio range` their lowest and\n \
         highest; `cpu t/s`: ours per second of process CPU time, which other load on the machine lowers less)"
    );
}

/// A comma-separated list of positive counts (`--threads 1,2`).
fn counts(list: &str, what: &str) -> Result<Vec<usize>> {
    let v: Vec<usize> = list
        .split(',')
        .map(|x| x.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!("{what}: expected positive numbers like 1,2, got `{list}`"))?;
    if v.is_empty() {
        bail!("{what}: empty list");
    }
    Ok(v)
}

/// Runs `llm-bench` and parses its `RESULT` lines.
fn ours_bench(cmd: &mut Command) -> Result<Speeds> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{cmd:?} failed: {}\n{stderr}", out.status);
    }
    for l in stderr.lines().filter(|l| l.starts_with("[pick_by_timing")) {
        eprintln!("[bench]   {l}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut s = Speeds::default();
    for line in stdout.lines() {
        // RESULT pp 64 123.4 tok/s cpu 125.0 tok/s backend=avx2
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[0] == "RESULT" {
            let v: f64 = f[3].parse().with_context(|| format!("bad line `{line}`"))?;
            let cpu: Option<f64> = f
                .iter()
                .position(|x| *x == "cpu")
                .and_then(|i| f.get(i + 1))
                .and_then(|x| x.parse().ok());
            match f[1] {
                "pp" => (s.pp, s.pp_cpu) = (Some(v), cpu),
                "tg" => (s.tg, s.tg_cpu) = (Some(v), cpu),
                _ => {}
            }
            if let Some(b) = f.iter().find_map(|x| x.strip_prefix("backend=")) {
                s.backend = b.to_string();
            }
        }
    }
    if s.pp.is_none() && s.tg.is_none() {
        bail!("no RESULT lines from {cmd:?}:\n{stdout}\n{stderr}");
    }
    Ok(s)
}

/// Runs llama-bench (optionally under an emulator) and reads its JSON.
fn llama_bench(
    bin: &Path,
    emu: Option<&str>,
    model: &Path,
    p: usize,
    n: usize,
    threads: usize,
) -> Result<Speeds> {
    let mut cmd = match emu {
        Some(e) => {
            let mut c = Command::new(e);
            c.args(["-cpu", "max"]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args([
        "-t",
        &threads.to_string(),
        "-p",
        &p.to_string(),
        "-n",
        &n.to_string(),
        "-r",
        "1",
        "-o",
        "json",
        "-m",
    ])
    .arg(model);
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = String::from_utf8_lossy(&out.stdout);
    let mut s = Speeds {
        backend: "llama.cpp".into(),
        ..Default::default()
    };
    // An array of flat objects; read the three numbers of each.
    for obj in json.split('}') {
        let num = |key: &str| -> Option<f64> {
            let i = obj.find(&format!("\"{key}\""))?;
            let rest = &obj[i + key.len() + 2..];
            let rest = rest.trim_start().strip_prefix(':')?.trim_start();
            let end = rest.find(|c: char| {
                !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+')
            })?;
            rest[..end].parse().ok()
        };
        let (Some(np), Some(ng), Some(avg)) = (num("n_prompt"), num("n_gen"), num("avg_ts")) else {
            continue;
        };
        // One repetition per run: its rate is the average.
        let ts = avg;
        if np > 0.0 && ng == 0.0 {
            s.pp = Some(ts);
        } else if ng > 0.0 && np == 0.0 {
            s.tg = Some(ts);
        }
    }
    if s.pp.is_none() && s.tg.is_none() {
        bail!("could not read llama-bench's JSON output:\n{json}");
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Building both sides.

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn build_ours() -> Result<PathBuf> {
    run(Command::new(env!("CARGO")).current_dir(root()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "model-loader",
        "--bin",
        "llm-bench",
    ]))?;
    Ok(root().join("target/release/llm-bench"))
}

/// Which build of llama.cpp's `llama-bench`.
#[derive(Clone, Copy, PartialEq)]
enum Peer {
    /// `-march=native`.
    Native,
    /// `-march=native` without AMX, where ggml's AMX path dies of SIGILL.
    NativeNoAmx,
    /// AVX2 only, which QEMU 7.2's TCG can run.
    Avx2,
}

/// Whether `peer` dies of SIGILL on a tiny run of `model`.
fn dies_of_sigill(peer: &Path, model: &Path) -> Result<bool> {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new(peer)
        .args(["-t", "1", "-p", "8", "-n", "0", "-r", "1", "-m"])
        .arg(model)
        .output()
        .with_context(|| format!("could not start {}", peer.display()))?;
    Ok(out.status.signal() == Some(4))
}

/// Builds (once) llama.cpp's `llama-bench` as `kind` asks.
fn build_peer(kind: Peer) -> Result<PathBuf> {
    let avx2_only = kind == Peer::Avx2;
    let dir = root().join("target/llama-peer");
    let build = dir.join(match kind {
        Peer::Native => "build",
        Peer::NativeNoAmx => "build-noamx",
        Peer::Avx2 => "build-avx2",
    });
    let bin = build.join("bin/llama-bench");
    let mut cfg: Vec<String> = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
        "-DGGML_CUDA=OFF",
        "-DGGML_VULKAN=OFF",
        "-DGGML_METAL=OFF",
        "-DGGML_BLAS=OFF",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if avx2_only {
        cfg.extend(
            [
                "-DGGML_NATIVE=OFF",
                "-DGGML_AVX=ON",
                "-DGGML_AVX2=ON",
                "-DGGML_FMA=ON",
                "-DGGML_F16C=ON",
                "-DGGML_AVX512=OFF",
                "-DGGML_OPENMP=OFF",
            ]
            .map(String::from),
        );
    } else {
        cfg.push("-DGGML_NATIVE=ON".into());
        if kind == Peer::NativeNoAmx {
            // Explicit `-mno-*` flags win over `-march=native` in GCC and
            // Clang, so `__AMX_INT8__` is not defined.
            let no_amx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16";
            cfg.push(format!("-DCMAKE_C_FLAGS={no_amx}"));
            cfg.push(format!("-DCMAKE_CXX_FLAGS={no_amx}"));
        }
    }
    let stamp = build.join("xtask-config.txt");
    let want = cfg.join(" ");
    if bin.is_file()
        && std::fs::read_to_string(&stamp)
            .map(|s| s == want)
            .unwrap_or(false)
    {
        return Ok(bin);
    }
    let src = fetch_llama_cpp(&dir)?;
    let cmake = ensure_cmake()?;
    eprintln!(
        "[bench] building llama-bench ({}) — takes a while, once",
        match kind {
            Peer::Native => "native",
            Peer::NativeNoAmx => "native, no AMX",
            Peer::Avx2 => "AVX2",
        }
    );
    let mut c = Command::new(&cmake);
    c.arg("-S").arg(&src).arg("-B").arg(&build).args(&cfg);
    if have("ninja") {
        c.args(["-G", "Ninja"]);
    }
    run(&mut c)?;
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    run(Command::new(&cmake).arg("--build").arg(&build).args([
        "--target",
        "llama-bench",
        "-j",
        &jobs.to_string(),
    ]))?;
    if !bin.is_file() {
        bail!("the llama.cpp build did not produce {}", bin.display());
    }
    std::fs::write(&stamp, want)?;
    Ok(bin)
}

/// Downloads and unpacks the llama-cpp-python sdist; returns its llama.cpp.
fn fetch_llama_cpp(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("llama_cpp_python-0.3.36/vendor/llama.cpp");
    if src.join("CMakeLists.txt").is_file() {
        return Ok(src);
    }
    std::fs::create_dir_all(dir)?;
    let dl = dir.join("dl");
    // `--no-binary llama-cpp-python` (not `:all:`): the sdist itself, while
    // the build backend pip runs to read its metadata may come as wheels
    // (with `:all:` pip would compile CMake from source first).
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            LLAMA_CPP_PYTHON,
            "--no-deps",
            "--no-binary",
            "llama-cpp-python",
            "-d",
        ])
        .arg(&dl))?;
    let tarball = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .ok_or_else(|| anyhow!("pip download left no .tar.gz in {}", dl.display()))?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir))?;
    if !src.join("CMakeLists.txt").is_file() {
        bail!("{} has no vendor/llama.cpp", tarball.display());
    }
    Ok(src)
}

/// `cmake`, installed with pip if missing.
fn ensure_cmake() -> Result<String> {
    if have("cmake") {
        return Ok("cmake".into());
    }
    eprintln!("[bench] cmake not found: python3 -m pip install cmake ninja");
    run(Command::new("python3").args(["-m", "pip", "install", "cmake", "ninja"]))?;
    if have("cmake") {
        return Ok("cmake".into());
    }
    bail!("cmake is still not on PATH after `pip install cmake`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        // The ratio is the median of per-round ratios, not the ratio of
        // medians or of bests.
        let st = stat(
            &[Some(10.0), Some(30.0), Some(20.0)],
            &[None, None, None],
            &[Some(10.0), Some(10.0), Some(40.0)],
        );
        assert_eq!(st.ours, Some(20.0));
        assert_eq!(st.peer, Some(10.0));
        assert_eq!(st.ratio, Some((1.0, 0.5, 3.0)));
        assert_eq!(st.ours_cpu, None);
        assert!(counts("1,2", "--threads").unwrap() == [1, 2]);
        assert!(counts("0", "--threads").is_err());
        assert!(counts("a", "--threads").is_err());
    }
}
