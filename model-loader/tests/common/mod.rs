//! Helpers shared by the integration tests: where the reference data and
//! the real models are, and a minimal JSON reader for the golden files.
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/reference` (llama.cpp's test vectors and golden outputs):
/// `$LLM_REFERENCE_DIR`, else `../shared/reference` next to the checkout.
pub fn reference_dir() -> PathBuf {
    let dir = match std::env::var_os("LLM_REFERENCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference"),
    };
    assert!(
        dir.join("README.md").exists(),
        "reference data not found at {} (set LLM_REFERENCE_DIR)",
        dir.display()
    );
    dir
}

/// The model cache: `$LLM_MODEL_DIR`, else `$XDG_CACHE_HOME/llm-kernel/models`,
/// else `$HOME/.cache/llm-kernel/models` (as `cargo xtask model fetch`).
pub fn model_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LLM_MODEL_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("llm-kernel/models");
    }
    let home = std::env::var_os("HOME").expect("HOME is not set");
    PathBuf::from(home).join(".cache/llm-kernel/models")
}

pub const SMOLLM2: &str = "smollm2-135m-instruct-q4_1.gguf";
pub const QWEN_CODER: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// Reads a real model from the cache; fails (never skips) when it is missing.
pub fn read_model(file: &str) -> Vec<u8> {
    let path = model_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the model {}: {e}\nrun `cargo xtask model fetch` to download it",
            path.display()
        )
    })
}

/// One line of a golden `.jsonl` file.
pub struct Golden {
    pub prompt: String,
    pub prompt_ids: Vec<u32>,
}

pub fn read_golden(file: &str) -> Vec<Golden> {
    let path = reference_dir().join("golden").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Golden {
            prompt: json_string_field(l, "prompt"),
            prompt_ids: json_int_array_field(l, "prompt_ids"),
        })
        .collect()
}

fn field_start(line: &str, name: &str) -> usize {
    let key = format!("\"{name}\":");
    line.find(&key)
        .unwrap_or_else(|| panic!("no field {name} in {line}"))
        + key.len()
}

/// The value of a string field (JSON escapes decoded).
pub fn json_string_field(line: &str, name: &str) -> String {
    let rest = line[field_start(line, name)..].trim_start();
    let mut chars = rest.strip_prefix('"').expect("a string").chars();
    let mut out = String::new();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> u32 {
        let h: String = chars.take(4).collect();
        u32::from_str_radix(&h, 16).expect("\\u escape")
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next().expect("escape") {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let mut cp = hex4(&mut chars);
                    if (0xD800..0xDC00).contains(&cp) {
                        assert_eq!(chars.next(), Some('\\'));
                        assert_eq!(chars.next(), Some('u'));
                        let lo = hex4(&mut chars);
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    out.push(char::from_u32(cp).expect("code point"));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    panic!("unterminated string in {line}")
}

/// The value of an array-of-integers field.
pub fn json_int_array_field(line: &str, name: &str) -> Vec<u32> {
    let rest = line[field_start(line, name)..].trim_start();
    let rest = rest.strip_prefix('[').expect("an array");
    let end = rest.find(']').expect("end of array");
    rest[..end]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("an integer"))
        .collect()
}
