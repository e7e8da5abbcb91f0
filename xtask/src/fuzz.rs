//! `cargo xtask fuzz [TARGET] [--time S] [--runs N]`: runs the cargo-fuzz
//! targets of `model-loader/fuzz` (libFuzzer with AddressSanitizer, on the
//! pinned nightly), one or all, each for S seconds (default 60) or until N
//! executions, whichever comes first (with `--runs` alone there is no time
//! limit), and prints the executions per target. `cargo-fuzz` is installed from crates.io when
//! missing. `cargo xtask fuzz seeds` regenerates the committed seed corpora
//! from the vocabularies and (when cached) the real models.
//!
//! Corpora: the committed seeds (`model-loader/fuzz/seeds/TARGET`, small)
//! are read; what the fuzzer finds goes to `target/fuzz/corpus/TARGET` (not
//! committed) and crashes to `target/fuzz/artifacts/TARGET`. A crash makes
//! the command fail, naming the input that reproduces it.

use crate::args::Args;
use crate::util::{cargo, root, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every target, with the longest input libFuzzer generates for it (the
/// GGUF target needs room for headers; the line editor for overlong lines:
/// twice its limit of 4096 characters).
pub const TARGETS: &[(&str, usize)] = &[
    ("gguf", 1 << 17),
    ("pack", 1 << 14),
    ("tokenizer_gpt2", 4096),
    ("tokenizer_qwen2", 4096),
    ("tokenizer_spm", 4096),
    ("chat_template", 8192),
    ("line_editor", 1 << 13),
    ("command_line", 4096),
    ("tool_call", 4096),
    ("fs_path", 4096),
];

/// Seconds per target in `cargo xtask test`.
pub const SMOKE_SECONDS: u64 = 15;

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let time: Option<u64> = args.parsed("--time")?;
    let runs: Option<u64> = args.parsed("--runs")?;
    let limit = Limit {
        seconds: match (time, runs) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(60),
        },
        runs,
    };
    let target = args.positional();
    args.finish()?;
    match target.as_deref() {
        Some("seeds") => return crate::fuzz_seeds::write(&seeds_dir()),
        Some("list") => {
            for (t, _) in TARGETS {
                println!("{t}");
            }
            return Ok(());
        }
        _ => {}
    }
    let targets: Vec<&str> = match target.as_deref() {
        None => TARGETS.iter().map(|t| t.0).collect(),
        Some(t) if TARGETS.iter().any(|x| x.0 == t) => {
            vec![TARGETS.iter().find(|x| x.0 == t).map(|x| x.0).unwrap()]
        }
        Some(t) => bail!(
            "unknown fuzz target `{t}` (targets: {})",
            TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        ),
    };
    run_targets(&targets, limit)
}

/// How long each target runs: a time, a number of executions, or both
/// (whichever is reached first).
#[derive(Clone, Copy)]
pub struct Limit {
    pub seconds: Option<u64>,
    pub runs: Option<u64>,
}

impl Limit {
    pub fn seconds(s: u64) -> Limit {
        Limit {
            seconds: Some(s),
            runs: None,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.seconds, self.runs) {
            (Some(s), Some(n)) => write!(f, "{n} executions or {s} s"),
            (Some(s), None) => write!(f, "{s} s"),
            (None, Some(n)) => write!(f, "{n} executions"),
            (None, None) => write!(f, "no limit"),
        }
    }
}

/// Builds the targets and runs each within `limit`; fails on a crash.
pub fn run_targets(targets: &[&str], limit: Limit) -> Result<()> {
    ensure_cargo_fuzz()?;
    eprintln!("xtask: building the fuzz targets");
    run(common_opts(cargo_fuzz().arg("build")))?;
    let mut results = Vec::new();
    for &t in targets {
        let max_len = TARGETS.iter().find(|x| x.0 == t).map_or(4096, |x| x.1);
        eprintln!("xtask: fuzzing {t} for {limit}");
        results.push((t, fuzz_one(t, limit, max_len)?));
    }
    eprintln!("xtask: fuzz results ({limit} per target):");
    let mut failed = Vec::new();
    for (t, r) in &results {
        match r {
            Outcome::Clean { runs, secs } => {
                eprintln!("  {t:<16} {runs:>12} executions in {secs} s, 0 crashes")
            }
            Outcome::Crashed { artifact } => {
                eprintln!("  {t:<16} CRASH: reproduce with {artifact}");
                failed.push(*t);
            }
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets crashed: {}", failed.join(", "));
    }
    Ok(())
}

enum Outcome {
    Clean { runs: u64, secs: u64 },
    Crashed { artifact: String },
}

fn fuzz_dir() -> PathBuf {
    root().join("model-loader").join("fuzz")
}

fn seeds_dir() -> PathBuf {
    fuzz_dir().join("seeds")
}

fn work_dir() -> PathBuf {
    root().join("target").join("fuzz")
}

/// `cargo fuzz` on our fuzz crate, building into `target/fuzz`.
fn cargo_fuzz() -> Command {
    let mut c = cargo();
    c.arg("fuzz");
    c.current_dir(root());
    c.env("LLM_REFERENCE_DIR", reference_dir());
    c
}

/// Adds the options every `cargo fuzz` subcommand takes after its name.
fn common_opts(c: &mut Command) -> &mut Command {
    c.arg("--fuzz-dir")
        .arg(fuzz_dir())
        .arg("--target-dir")
        .arg(work_dir().join("build"))
}

/// The shared reference data (llama.cpp's test vocabularies).
pub fn reference_dir() -> PathBuf {
    match std::env::var_os("LLM_REFERENCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => root().join("../shared/reference"),
    }
}

fn fuzz_one(target: &str, limit: Limit, max_len: usize) -> Result<Outcome> {
    let corpus = work_dir().join("corpus").join(target);
    let artifacts = work_dir().join("artifacts").join(target);
    let seeds = seeds_dir().join(target);
    std::fs::create_dir_all(&corpus)?;
    std::fs::create_dir_all(&artifacts)?;
    let log = work_dir().join(format!("{target}.log"));
    let mut c = cargo_fuzz();
    c.arg("run");
    common_opts(&mut c);
    c.arg(target).arg(&corpus);
    if seeds.is_dir() {
        c.arg(&seeds);
    }
    c.arg("--");
    if let Some(seconds) = limit.seconds {
        c.arg(format!("-max_total_time={seconds}"));
    }
    if let Some(runs) = limit.runs {
        c.arg(format!("-runs={runs}"));
    }
    c.arg(format!("-max_len={max_len}"))
        .arg("-timeout=20")
        .arg("-rss_limit_mb=3072")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    let status = c
        .status()
        .with_context(|| format!("could not start {c:?}"))?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        let artifact = text
            .lines()
            .rev()
            .find_map(|l| {
                l.split("Test unit written to ")
                    .nth(1)
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| format!("(no artifact; see {})", log.display()));
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("--- {target}: last lines of {}", log.display());
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
        return Ok(Outcome::Crashed { artifact });
    }
    let (runs, secs) =
        final_stats(&text).with_context(|| format!("no final statistics in {}", log.display()))?;
    Ok(Outcome::Clean { runs, secs })
}

/// `stat::number_of_executed_units: N` and `Done N runs in S second(s)`.
fn final_stats(text: &str) -> Option<(u64, u64)> {
    let runs = text.lines().find_map(|l| {
        l.strip_prefix("stat::number_of_executed_units:")
            .and_then(|v| v.trim().parse().ok())
    })?;
    let secs = text
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("Done ")?;
            let (_, after) = rest.split_once(" runs in ")?;
            after.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0);
    Some((runs, secs))
}

/// Installs `cargo-fuzz` from crates.io (with the pinned toolchain) when
/// `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<()> {
    let works = |c: &mut Command| {
        c.arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works(cargo().arg("fuzz")) {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz from crates.io");
    run(cargo()
        .args(["install", "cargo-fuzz", "--locked"])
        .current_dir(root()))?;
    if !works(cargo().arg("fuzz")) {
        bail!("cargo-fuzz was installed but `cargo fuzz` still does not run (is ~/.cargo/bin on PATH?)");
    }
    Ok(())
}

/// Writes `bytes` as seed `name` of `target`.
pub fn write_seed(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)?;
    Ok(())
}
