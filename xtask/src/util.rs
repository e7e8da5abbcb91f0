//! Helpers shared by the subcommands: paths and running commands.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The repository root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// Runs a command, failing with its command line if it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Where the real models live: `$LLM_MODEL_DIR`, else
/// `$XDG_CACHE_HOME/llm-kernel/models`, else `$HOME/.cache/llm-kernel/models`.
pub fn model_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("LLM_MODEL_DIR") {
        return PathBuf::from(d);
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(var("HOME").unwrap_or_default()).join(".cache"));
    cache.join("llm-kernel").join("models")
}

/// A model name (`smollm2`, `qwen-coder`) or a path to a GGUF file.
pub fn resolve_model(name: &str) -> Result<PathBuf> {
    let file = match name {
        "smollm2" => Some("smollm2-135m-instruct-q4_1.gguf"),
        "qwen-coder" => Some("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        _ => None,
    };
    let path = match file {
        Some(f) => model_dir().join(f),
        None => PathBuf::from(name),
    };
    if !path.is_file() {
        if file.is_some() {
            bail!(
                "model `{name}` not found at {}: run `cargo xtask model fetch`",
                path.display()
            );
        }
        bail!(
            "no model file at {} (names: smollm2, qwen-coder)",
            path.display()
        );
    }
    Ok(path)
}
