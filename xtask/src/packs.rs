//! Model packs for the kernel's model disk, built and cached here.
//!
//! `cargo xtask run` attaches a *pack* (see `model_loader::pack`) rather
//! than the raw GGUF: the pack carries the system prompt's KV cache,
//! computed on the host by `model-loader pack` with the same engine, so the
//! first answer after boot does not wait for the system prompt to be
//! prefilled (minutes under TCG with Qwen); its GGUF sits at a 2 MiB
//! boundary so disk reads line up with the kernel's 2 MiB pages.
//!
//! Packs are cached in `target/packs/NAME.img`. A pack is rebuilt when its
//! key changes: the model file's path, size and modification time, and the
//! SHA-256 of the `model-loader` binary (which holds the engine and
//! `conversation::DEFAULT_SYSTEM_PROMPT`, so a change to either rebuilds).

use crate::models;
use crate::util::{cargo, root, run};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The `model-loader` CLI, built (release) if needed.
pub fn model_loader_bin() -> Result<PathBuf> {
    run(cargo()
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "model-loader",
            "--bin",
            "model-loader",
        ])
        .current_dir(root()))?;
    let bin = root().join("target/release/model-loader");
    anyhow::ensure!(bin.is_file(), "{} was not built", bin.display());
    Ok(bin)
}

/// A short name for the model: the known name, or the file stem.
pub fn short_name(name_or_path: &str, path: &Path) -> String {
    if models::MODELS.iter().any(|m| m.name == name_or_path) {
        return name_or_path.to_string();
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

fn key(model: &Path, bin: &Path) -> Result<String> {
    let md = fs::metadata(model).with_context(|| format!("reading {}", model.display()))?;
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!(
        "model {}\nsize {}\nmtime {mtime}\nmodel-loader {}\n",
        model.canonicalize()?.display(),
        md.len(),
        models::sha256_file(bin)?
    ))
}

/// The disk image to attach for `name_or_path` (a known model name,
/// fetched if needed, or a GGUF path): a cached pack, built if missing or
/// stale. A file that cannot be packed (not a GGUF, unsupported, damaged)
/// is returned as it is, so that the kernel explains what is wrong.
pub fn ensure(name_or_path: &str) -> Result<PathBuf> {
    let model = models::resolve(name_or_path)?;
    let name = short_name(name_or_path, &model);
    let bin = model_loader_bin()?;
    let dir = root().join("target/packs");
    fs::create_dir_all(&dir)?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let out = dir.join(format!("{safe}.img"));
    let key_file = dir.join(format!("{safe}.key"));
    let key = key(&model, &bin)?;
    if out.is_file() && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) {
        return Ok(out);
    }
    let _ = fs::remove_file(&key_file);
    let t = Instant::now();
    eprintln!(
        "xtask: packing {} (system prompt cache computed on the host; cached in {})",
        model.display(),
        dir.display()
    );
    let attempt = |extra: &[&str]| -> Result<()> {
        let o = Command::new(&bin)
            .arg("pack")
            .args(["--name", &name])
            .args(extra)
            .arg(&model)
            .arg(&out)
            .output()
            .context("could not run model-loader")?;
        if o.status.success() {
            Ok(())
        } else {
            anyhow::bail!("{}", String::from_utf8_lossy(&o.stderr).trim())
        }
    };
    let packed = attempt(&[]).or_else(|e| {
        eprintln!("xtask: packing with the system prompt cache failed ({e}); packing without it");
        attempt(&["--no-prefix"])
    });
    if let Err(e) = packed {
        eprintln!(
            "xtask: {} cannot be packed ({e}); attaching it as it is",
            model.display()
        );
        return Ok(model);
    }
    // Whole sectors, so that the disk shows every byte.
    let f = fs::OpenOptions::new().write(true).open(&out)?;
    let len = f.metadata()?.len();
    f.set_len(len.next_multiple_of(4096))?;
    fs::write(&key_file, key)?;
    eprintln!(
        "xtask: packed {} in {:.1}s",
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}
