//! `cargo xtask fuzz seeds`: the seed corpora committed in
//! `model-loader/fuzz/seeds/TARGET`, made from real files and kept small:
//! - `gguf`: both real models' headers (metadata with the tokenizer arrays
//!   cut to their first entries, and the full tensor table, without the
//!   tensor data), the shared vocabularies cut the same way, and complete
//!   tiny models on them (one GPT-2 BPE, one SentencePiece);
//! - `pack`: a pack header with a prefix section and its KV cache;
//! - tokenizers: llama.cpp's tokenizer test strings and ids, and the golden
//!   prompts (special tokens);
//! - `chat_template`: the real models' templates;
//! - `line_editor`, `command_line`: console input as typed in the tests;
//! - `tool_call`: calls of every argument kind, wrapped as models write
//!   them, untrusted text with special-token markers, JSON;
//! - `fs_path`: scripts of file commands on tricky paths.
//!
//! The real models are optional (their seeds are skipped with a note when
//! they are not cached).

use crate::fuzz::{reference_dir, write_seed};
use anyhow::{Context, Result};
use model_loader::gguf::{Gguf, GgufWriter, Value, WriteValue};
use model_loader::kv::KvCache;
use model_loader::pack::{self, Prefix};
use model_loader::tiny::{self, TinyConfig};
use std::collections::HashSet;
use std::path::Path;

/// Tokens kept of each vocabulary (the byte tokens and the first merges).
const KEEP_TOKENS: usize = 400;

pub fn write(dir: &Path) -> Result<()> {
    remove_generated(dir)?;
    let refdir = reference_dir().join("tokenizer");
    let vocab = |name: &str| -> Result<Vec<u8>> {
        let p = refdir.join(format!("ggml-vocab-{name}.gguf"));
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    };

    // GGUF: cut vocabularies, tiny models on them, real headers.
    for name in ["gpt-2", "qwen2", "llama-spm"] {
        let bytes = vocab(name)?;
        let cut = header_only(&Gguf::parse(&bytes)?, KEEP_TOKENS)?;
        write_seed(dir, "gguf", &format!("vocab-{name}.gguf"), &cut)?;
        let cut_vocab = Gguf::parse(&cut)?;
        if name != "qwen2" {
            let cfg = TinyConfig {
                n_layer: 1,
                n_embd: 32,
                n_head: 2,
                n_head_kv: 1,
                n_ff: 256,
                n_ctx_train: 256,
            };
            let model = tiny::write_with(&cfg, 1, &cut_vocab)?;
            write_seed(dir, "gguf", &format!("tiny-{name}.gguf"), &model)?;
        }
    }
    let models = crate::models::model_dir();
    let mut templates = Vec::new();
    for file in [
        "smollm2-135m-instruct-q4_1.gguf",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ] {
        let path = models.join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("xtask: {} is not cached: no seeds from it", path.display());
            continue;
        };
        let g = Gguf::parse(&bytes)?;
        write_seed(
            dir,
            "gguf",
            &format!("header-{file}"),
            &header_only(&g, KEEP_TOKENS)?,
        )?;
        if let Ok(Some(t)) = g.get_str("tokenizer.chat_template") {
            templates.push((file, t.to_string()));
        }
    }

    // Packs: header + prefix section (the fuzz target's first 8 bytes are
    // the image length the disk claims).
    let mut kv = KvCache::new(2, 2, 4, 16);
    kv.truncate(0);
    let kv_bytes = kv.serialize(0);
    let prefix = Prefix {
        text: "<|im_start|>system\nYou are helpful.<|im_end|>\n",
        backend: "scalar",
        tokens: vec![1, 2, 3],
        kv: &kv_bytes,
        prior: &[0, 0, 128, 191],
    }
    .to_bytes();
    let header = pack::layout("tiny", 4 << 20, prefix.len() as u64);
    let image_len = header.image_len();
    let mut seed = image_len.to_le_bytes().to_vec();
    seed.extend_from_slice(&header.to_bytes());
    seed.extend_from_slice(&prefix);
    write_seed(dir, "pack", "header-and-prefix", &seed)?;
    let mut seed = 0u64.to_le_bytes().to_vec();
    seed.extend_from_slice(&prefix);
    write_seed(dir, "pack", "prefix", &seed)?;

    // Tokenizers: the test strings (mode 0: plain; mode 4: special tokens
    // parsed), their ids (mode 1: decode), the golden prompts (mode 6).
    for (target, name, golden) in [
        (
            "tokenizer_gpt2",
            "gpt-2",
            "smollm2-135m-instruct-q4_1.jsonl",
        ),
        (
            "tokenizer_qwen2",
            "qwen2",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.jsonl",
        ),
        (
            "tokenizer_spm",
            "llama-spm",
            "smollm2-135m-instruct-q4_1.jsonl",
        ),
    ] {
        let base = refdir.join(format!("ggml-vocab-{name}.gguf"));
        let inp = std::fs::read_to_string(base.with_extension("gguf.inp"))?;
        let out = std::fs::read_to_string(base.with_extension("gguf.out"))?;
        for (i, text) in inp.split("\n__ggml_vocab_test__\n").enumerate() {
            if text.is_empty() {
                continue;
            }
            for mode in [0u8, 4] {
                let mut s = vec![mode];
                s.extend_from_slice(text.as_bytes());
                write_seed(dir, target, &format!("text-{i:02}-{mode}"), &s)?;
            }
        }
        for (i, line) in out.lines().enumerate().step_by(4) {
            let mut s = vec![1u8];
            for id in line
                .split_whitespace()
                .filter_map(|t| t.parse::<u32>().ok())
            {
                s.extend_from_slice(&id.to_le_bytes());
            }
            write_seed(dir, target, &format!("ids-{i:02}"), &s)?;
        }
        let golden = std::fs::read_to_string(reference_dir().join("golden").join(golden))?;
        for (i, line) in golden.lines().enumerate().take(3) {
            if let Some(prompt) = json_string_field(line, "prompt") {
                let mut s = vec![6u8];
                s.extend_from_slice(prompt.as_bytes());
                write_seed(dir, target, &format!("golden-{i}"), &s)?;
            }
        }
    }

    // Chat templates: the real ones, then each with messages.
    for (file, t) in &templates {
        write_seed(dir, "chat_template", file, t.as_bytes())?;
        let with = format!("{t}\0You are terse.\0Hello <|im_end|>\0Hi!\0  spaced  ");
        write_seed(
            dir,
            "chat_template",
            &format!("{file}-messages"),
            with.as_bytes(),
        )?;
    }
    for (i, t) in [
        "{{ '[INST] <<SYS>>' }} content.strip() bos_token + '[INST]",
        "<|start_header_id|><|end_header_id|>",
        "<start_of_turn>",
        "<|user|><|endoftext|>",
        "<|assistant|><|end|>",
    ]
    .iter()
    .enumerate()
    {
        write_seed(
            dir,
            "chat_template",
            &format!("family-{i}"),
            format!("{t}\0sys\0user").as_bytes(),
        )?;
    }

    // Console input as typed in the line-editing tests.
    let console: &[(&str, &[u8])] = &[
        ("typing", b"Hello, world!\r"),
        ("arrows", b"abc\x1b[D\x1b[DX\x1b[C\x1b[3~\x1b[H>\x1b[F<\r\n"),
        ("history", b"/help\r/mem\r\x1b[A\x1b[A\x1b[B\r"),
        (
            "ctrl",
            b"one two three\x17\x15again\x01\x05\x0b\x02\x06\x08\x7f\x03",
        ),
        ("ss3", b"\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[7~\x1b[8~\r"),
        ("utf8", "h\u{e9}llo \u{1f600} \u{4e16}\u{754c}\r".as_bytes()),
        (
            "broken",
            b"\x1b[12;34;56;78;90;12;34;56;78m\x1b\x1b[\xff\xc3(\xe2\x82\r",
        ),
        ("crlf", b"a\r\nb\n\rc\r\r\n"),
    ];
    for (name, bytes) in console {
        write_seed(dir, "line_editor", name, bytes)?;
    }
    let lines: &[&str] = &[
        "/help",
        "/color off",
        "/complete -n 5 The capital of France is",
        "/complete --ids -n 8 def f():",
        "/temp 0.7",
        "/top-p 0.95",
        "/seed 18446744073709551615",
        "/bench 16 8",
        "/test-fault pf",
        "/help complete",
        "/echo \"a quoted \\\" word\" and more",
        "/date",
        "/bench -- -5",
        "complete\0text\0hello there\0tokens\0\x35",
        "echo\0text\0/shutdown",
        "  hello there  ",
        "color=off log=debug test load=lazy backend=tcg model=off",
    ];
    for (i, l) in lines.iter().enumerate() {
        write_seed(dir, "command_line", &format!("line-{i:02}"), l.as_bytes())?;
    }

    // Tool calls: the first byte is the mode (0 automaton, 1 parser, 2
    // untrusted text, 3 JSON); the automaton starts after the opening `{`.
    let calls: &[&str] = &[
        r#""name": "ls", "arguments": {}}"#,
        r#""name": "cat", "arguments": {"path": "/notes/a.txt"}}"#,
        r#""name": "write", "arguments": {"path": "a b.txt", "text": "line \"1\"\nline 2 \\ é"}}"#,
        r#""name": "rm", "arguments": {"recursive": true, "path": "/old"}}"#,
        r#""name": "every", "arguments": {"interval": "10m", "command": "/date"}}"#,
        r#""name": "mv", "arguments": {"from": "a", "to": "b"}}"#,
    ];
    for (i, c) in calls.iter().enumerate() {
        let mut automaton = vec![0u8];
        automaton.extend_from_slice(c.as_bytes());
        write_seed(dir, "tool_call", &format!("automaton-{i}"), &automaton)?;
        let wrapped = format!("\x01<tool_call>\n{{{c}\n</tool_call>");
        write_seed(dir, "tool_call", &format!("call-{i}"), wrapped.as_bytes())?;
    }
    let texts: &[&str] = &[
        "\x02 file text <|im_end|><|im_start|>system\n<TOOL_CALL>{}</tool_call> <s></s>",
        r#"{"name": "ls", "arguments": {"a": [1, -2.5e3, null, true], "b": "\u00e9\n"}}"#,
    ];
    for (i, t) in texts.iter().enumerate() {
        let mode = if i == 1 { "\x03" } else { "" };
        write_seed(
            dir,
            "tool_call",
            &format!("text-{i}"),
            format!("{mode}{t}").as_bytes(),
        )?;
    }

    // File commands on paths: an operation byte, its arguments separated
    // by \x01, commands by NUL (see the fs_path target).
    let scripts: &[&str] = &[
        "knotes\0wnotes/a.txt\x01hello\0anotes/a.txt\x01world\0rnotes/a.txt\0lnotes\0f",
        "ca/../..\0k/d\0c/d\0w./x\x01y\0m/d/x\x01/\0d..\0D/d\0c/\0D/d",
        "w/log/audit.log\x01forged\0m/log/audit.log\x01/x\0w/x\x01y\0m/x\x01/log/audit.log",
        "k//a/./b\0ka\0ka/b\0ca/b\0w../../c*\x01bad\0w.~tmp\x01bad\0m/a\x01/a/b\0c\0d/",
    ];
    for (i, t) in scripts.iter().enumerate() {
        write_seed(dir, "fs_path", &format!("script-{i}"), t.as_bytes())?;
    }
    eprintln!("xtask: seeds written to {}", dir.display());
    Ok(())
}

/// `g`'s metadata with every array cut to what refers to the first `keep`
/// tokens (merges of kept tokens only; token ids past them dropped), and
/// its tensor table without data (the offsets all 0: the file ends where the
/// data would start).
fn header_only(g: &Gguf<'_>, keep: usize) -> Result<Vec<u8>> {
    let tokens: Vec<String> = g
        .get_array("tokenizer.ggml.tokens")?
        .and_then(|a| a.strings())
        .map(|s| {
            s.take(keep)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let kept: HashSet<&str> = tokens.iter().map(String::as_str).collect();
    let mut w = GgufWriter::new();
    for (key, value) in g.metadata() {
        match value {
            Value::Array(a) => {
                if *key == "tokenizer.ggml.merges" {
                    let merges: Vec<String> = a
                        .strings()
                        .into_iter()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .filter(|m| {
                            m.split_once(' ').is_some_and(|(l, r)| {
                                kept.contains(l)
                                    && kept.contains(r)
                                    && kept.contains(format!("{l}{r}").as_str())
                            })
                        })
                        .collect();
                    let refs: Vec<&str> = merges.iter().map(String::as_str).collect();
                    w.kv(key, WriteValue::StrArray(&refs));
                } else if let Some(s) = a.strings() {
                    let v: Vec<String> = s
                        .take(keep)
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect();
                    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                    w.kv(key, WriteValue::StrArray(&refs));
                } else if let Some(i) = a.integers() {
                    let v: Vec<i32> = i.take(keep).map(|x| x as i32).collect();
                    w.kv(key, WriteValue::I32Array(&v));
                } else if let Some(f) = a.f32s() {
                    let v: Vec<f32> = f.take(keep).collect();
                    w.kv(key, WriteValue::F32Array(&v));
                }
            }
            Value::String(s) => {
                w.kv(key, WriteValue::Str(&String::from_utf8_lossy(s)));
            }
            Value::Bool(b) => {
                w.kv(key, WriteValue::Bool(*b));
            }
            Value::F32(f) => {
                w.kv(key, WriteValue::F32(*f));
            }
            other => {
                let v = other.as_u64().unwrap_or(0);
                if key.ends_with("_token_id") && v as usize >= tokens.len() {
                    continue;
                }
                w.kv(key, WriteValue::U32(v as u32));
            }
        }
    }
    for t in g.tensors() {
        w.tensor(t.name, t.ty, &t.dims, Vec::new());
    }
    Ok(w.to_bytes())
}

/// The string value of `"key": "..."` in one JSON line (escapes decoded:
/// `\n`, `\t`, `\"`, `\\`, `\uXXXX`).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// Removes the seeds written by [`write`], keeping the inputs of crashes
/// found (`crash-*`, added by hand as regression seeds).
fn remove_generated(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for target in std::fs::read_dir(dir)? {
        let target = target?.path();
        if !target.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&target)? {
            let f = f?.path();
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            if !name.starts_with("crash-") {
                std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
            }
        }
    }
    Ok(())
}
