//! `cargo xtask bench`: our engine against llama.cpp, same GGUF, same run,
//! one thread each.
//!
//! - The peer is `llama-bench` from the `llama-cpp-python==0.3.36` source
//!   distribution (its `vendor/llama.cpp`), built once with CMake (Release,
//!   CPU only, `-march=native`, no curl) under `target/llama-peer/`; later
//!   runs reuse the binary.
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
  -r N               repetitions; the best one is reported, for both engines (default 3)
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
    let backend = a.value("--backend")?;
    let no_tcg = a.flag("--no-tcg");
    let tcg_p: usize = a.parsed("--tcg-p")?.unwrap_or(16);
    let tcg_n: usize = a.parsed("--tcg-n")?.unwrap_or(8);
    let tcg_peer = a.flag("--tcg-peer");
    let kernels = a.flag("--kernels");
    let no_kernel = a.flag("--no-kernel");
    if a.flag("--kernel-only") {
        a.finish()?;
        return crate::bench_qemu::run_and_print(&models, tcg_p, tcg_n);
    }
    a.finish()?;

    let t_start = Instant::now();
    let ours = build_ours()?;
    let peer = build_peer(false)?;
    let paths: Vec<PathBuf> = models
        .iter()
        .map(|m| resolve_model(m))
        .collect::<Result<_>>()?;

    if kernels {
        println!("== our kernels (thread CPU time; decode: 1536x1536 matrix x vector, prefill: 256 rows x 64 tokens)");
        run(Command::new(&ours).args(["--kernels", "--ms", "300"]))?;
    }

    let mut rows: Vec<Row> = Vec::new();
    for (name, path) in models.iter().zip(&paths) {
        eprintln!("[bench] {name}: llama.cpp");
        let lp = llama_bench(&peer, None, path, p, n, reps)?;
        eprintln!("[bench] {name}: ours");
        let mut cmd = Command::new(&ours);
        cmd.arg(path).args([
            "-p",
            &p.to_string(),
            "-n",
            &n.to_string(),
            "-r",
            &reps.to_string(),
        ]);
        if let Some(b) = &backend {
            cmd.args(["--backend", b]);
        }
        let o = ours_bench(&mut cmd)?;
        rows.push(Row::new(name, "native", &o, &lp, p, n));
    }

    if !no_tcg {
        if !have("qemu-x86_64") {
            eprintln!(
                "[bench] qemu-x86_64 not found: skipping the TCG rows (apt-get install qemu-user)"
            );
        } else {
            let tpeer = if tcg_peer {
                Some(build_peer(true)?)
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
                rows.push(Row::new_opt(
                    name,
                    "qemu-tcg",
                    &o,
                    lp.as_ref(),
                    tcg_p,
                    tcg_n,
                ));
            }
        }
    }

    print_table(&rows);
    if !no_kernel {
        crate::bench_qemu::run_and_print(&models, tcg_p, tcg_n)?;
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

struct Row {
    model: String,
    mode: String,
    backend: String,
    p: usize,
    n: usize,
    ours: Speeds,
    peer: Option<Speeds>,
}

impl Row {
    fn new(model: &str, mode: &str, ours: &Speeds, peer: &Speeds, p: usize, n: usize) -> Row {
        Row::new_opt(model, mode, ours, Some(peer), p, n)
    }
    fn new_opt(
        model: &str,
        mode: &str,
        ours: &Speeds,
        peer: Option<&Speeds>,
        p: usize,
        n: usize,
    ) -> Row {
        Row {
            model: model.into(),
            mode: mode.into(),
            backend: ours.backend.clone(),
            p,
            n,
            ours: ours.clone(),
            peer: peer.cloned(),
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<11} | {:<8} | {:<10} | {:<6} | {:>10} | {:>10} | {:>15} | {:>14} |",
        "model",
        "mode",
        "backend",
        "test",
        "ours tok/s",
        "(cpu t/s)",
        "llama.cpp tok/s",
        "ours/llama.cpp"
    );
    println!(
        "|{}|",
        [13, 10, 12, 8, 12, 12, 17, 16]
            .iter()
            .map(|&n| "-".repeat(n))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        for (test, ours, cpu, peer) in [
            (
                format!("pp{}", r.p),
                r.ours.pp,
                r.ours.pp_cpu,
                r.peer.as_ref().and_then(|s| s.pp),
            ),
            (
                format!("tg{}", r.n),
                r.ours.tg,
                r.ours.tg_cpu,
                r.peer.as_ref().and_then(|s| s.tg),
            ),
        ] {
            let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
            let ratio = match (ours, peer) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".into(),
            };
            println!(
                "| {:<11} | {:<8} | {:<10} | {:<6} | {:>10} | {:>10} | {:>15} | {:>14} |",
                r.model,
                r.mode,
                r.backend,
                test,
                f(ours),
                f(cpu),
                f(peer),
                ratio
            );
        }
    }
    println!(
        "(tok/s: best of -r repetitions, wall clock, both engines measured one after the other in this run;\n \
         `cpu t/s`: ours per second of CPU time, which other load on the machine does not lower)"
    );
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
    reps: usize,
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
        "1",
        "-p",
        &p.to_string(),
        "-n",
        &n.to_string(),
        "-r",
        &reps.to_string(),
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
        // Best repetition (`samples_ts`), like ours: on a shared machine the
        // best of N is the least disturbed; fall back to the average.
        let best = obj.find("\"samples_ts\"").and_then(|i| {
            let rest = &obj[i..];
            let (a, b) = (rest.find('[')?, rest.find(']')?);
            rest[a + 1..b]
                .split(',')
                .filter_map(|v| v.trim().parse::<f64>().ok())
                .reduce(f64::max)
        });
        let ts = best.unwrap_or(avg);
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

/// Builds (once) llama.cpp's `llama-bench`: native, or an AVX2-only build
/// that QEMU 7.2's TCG can run.
fn build_peer(avx2_only: bool) -> Result<PathBuf> {
    let dir = root().join("target/llama-peer");
    let build = dir.join(if avx2_only { "build-avx2" } else { "build" });
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
        if avx2_only { "AVX2" } else { "native" }
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
