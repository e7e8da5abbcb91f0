//! Models that lie: a GGUF or a model pack whose header says something
//! the rest cannot back up. Every check of `support::check` and of the pack
//! reader is hit by one of these boots; each gets a clear message at boot
//! and the console keeps working (or, for what can be recovered from — an
//! unknown chat template, a damaged or foreign system-prompt cache — the
//! model loads, and the boot says what was done instead).
//!
//! The lies are made from the tiny test model (`tiny.gguf`, `tiny.img`).

mod common;

use common::{config, line_with, NEEDS_IMAGES};
use klib::qemu_exit::ExitCode;
use model_loader::ggml::GgmlType;
use model_loader::gguf::{Gguf, GgufWriter, Value, WriteValue};
use model_loader::kv::KvCache;
use model_loader::pack::{self, Header, Prefix, HEADER_LEN};
use model_loader::tiny::copy_metadata;
use qemu_tests::images::{env_path, scratch_dir, TEST_MODELS_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::qemu::write_file;
use qemu_tests::{Firmware, Machine};
use std::path::PathBuf;

fn tiny_gguf() -> Vec<u8> {
    std::fs::read(env_path(TEST_MODELS_ENV).join("tiny.gguf")).unwrap()
}

fn tiny_pack() -> Vec<u8> {
    std::fs::read(env_path(TEST_MODELS_ENV).join("tiny.img")).unwrap()
}

/// Writes `bytes` (padded to whole sectors) as a disk image of test `name`.
fn disk(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir(name).join("disk.img");
    let mut b = bytes.to_vec();
    b.resize(b.len().next_multiple_of(512), 0);
    write_file(&path, &b);
    path
}

/// Boots with `bytes` as the only disk.
fn boot(name: &str, bytes: &[u8]) -> Machine {
    let cfg = config(Firmware::Bios, 512).disk_with(disk(name, bytes), "readonly=on", "");
    Machine::boot_to_prompt(name, &cfg)
}

/// The model is refused with each of `expect` in the boot's explanation;
/// the console works without it.
fn refused(name: &str, bytes: &[u8], expect: &[&str]) {
    let mut m = boot(name, bytes);
    let boot = m.text();
    let _ = line_with(&boot, "model: error:");
    for e in expect {
        assert!(boot.contains(e), "boot does not say {e:?}:\n{boot}");
    }
    let up = m.command("/uptime");
    assert!(up.contains("uptime:"), "{up}");
    let hi = m.command("hello");
    assert!(hi.contains("no model is loaded"), "{hi}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// The model loads although the boot says each of `expect`, and answers.
fn loads_despite(name: &str, bytes: &[u8], expect: &[&str]) {
    let mut m = boot(name, bytes);
    let boot = m.text();
    assert!(
        boot.contains("model: ready"),
        "the model did not load:\n{boot}"
    );
    for e in expect {
        assert!(boot.contains(e), "boot does not say {e:?}:\n{boot}");
    }
    let out = m.command_with_timeout("/complete -n 2 Hello", std::time::Duration::from_secs(180));
    assert!(out.contains("tokens"), "{out}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// `g` rewritten: metadata `keep` accepts (then `extra` adds more), and
/// the tensors `tensor` maps (None drops one).
fn rewrite(
    g: &Gguf<'_>,
    keep: impl Fn(&str) -> bool,
    extra: impl FnOnce(&mut GgufWriter),
    tensor: impl Fn(&str) -> Option<(GgmlType, Vec<u64>)>,
) -> Vec<u8> {
    let mut w = GgufWriter::new();
    copy_metadata(g, &mut w, keep).unwrap();
    extra(&mut w);
    for t in g.tensors() {
        match tensor(t.name) {
            None => {}
            Some((ty, dims)) if ty == t.ty && dims == t.dims => {
                w.tensor(t.name, t.ty, &t.dims, t.data.to_vec());
            }
            Some((ty, dims)) => {
                let n: u64 = dims.iter().product();
                let bytes = n as usize / ty.block_len() * ty.block_bytes();
                w.tensor(t.name, ty, &dims, vec![0; bytes]);
            }
        }
    }
    w.to_bytes()
}

fn same<'g>(g: &'g Gguf<'_>) -> impl Fn(&str) -> Option<(GgmlType, Vec<u64>)> + 'g {
    |name| g.tensor(name).map(|t| (t.ty, t.dims.clone()))
}

/// The byte offset of tensor `name`'s entry in the tensor table (its
/// dimension count follows the name).
fn tensor_entry(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("no tensor entry {name}"));
    at + needle.len()
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn tensor_offsets_past_the_file() {
    let _ = NEEDS_IMAGES;
    let mut bytes = tiny_gguf();
    let at = tensor_entry(&bytes, "output_norm.weight");
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let offset_at = at + 4 + 8 * n_dims + 4;
    bytes[offset_at..offset_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    refused(
        "lie-offset",
        &bytes,
        &["is damaged", "the data of tensor `output_norm.weight`"],
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn tensor_sizes_that_overflow() {
    let mut bytes = tiny_gguf();
    let at = tensor_entry(&bytes, "blk.0.attn_q.weight");
    assert_eq!(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()), 2);
    // 2^62 x 2^40 elements.
    bytes[at + 4..at + 12].copy_from_slice(&(1u64 << 62).to_le_bytes());
    bytes[at + 12..at + 20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    refused(
        "lie-overflow",
        &bytes,
        &["is damaged", "`blk.0.attn_q.weight`", "overflow"],
    );
}

/// One file with five lies at once, all named: a tokenizer model we do not
/// have, a weight type we do not implement, a missing and an unexpected
/// tensor, and a vocabulary one token longer than the output matrix.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn every_tensor_and_tokenizer_lie_is_named() {
    let bytes = tiny_gguf();
    let g = Gguf::parse(&bytes).unwrap();
    let tokens: Vec<String> = g
        .get_array("tokenizer.ggml.tokens")
        .unwrap()
        .unwrap()
        .strings()
        .unwrap()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .chain(["<|lie|>".to_string()])
        .collect();
    let n_vocab = tokens.len() - 1;
    let types: Vec<i32> = match g.get("tokenizer.ggml.token_type") {
        Some(Value::Array(a)) => a.integers().unwrap().map(|i| i as i32).chain([1]).collect(),
        _ => vec![1; tokens.len()],
    };
    let lie = rewrite(
        &g,
        |k| {
            !matches!(
                k,
                "tokenizer.ggml.tokens" | "tokenizer.ggml.token_type" | "tokenizer.ggml.model"
            )
        },
        |w| {
            let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
            w.kv("tokenizer.ggml.model", WriteValue::Str("bert"))
                .kv("tokenizer.ggml.tokens", WriteValue::StrArray(&refs))
                .kv("tokenizer.ggml.token_type", WriteValue::I32Array(&types));
        },
        |name| match name {
            "blk.1.ffn_up.weight" => None,
            "blk.0.ffn_gate.weight" => g.tensor(name).map(|t| (GgmlType::Q5_1, t.dims.clone())),
            _ => same(&g)(name),
        },
    );
    // And a tensor the decoder does not use.
    let g2 = Gguf::parse(&lie).unwrap();
    let mut w = GgufWriter::new();
    copy_metadata(&g2, &mut w, |_| true).unwrap();
    for t in g2.tensors() {
        w.tensor(t.name, t.ty, &t.dims, t.data.to_vec());
    }
    w.tensor("rope_freqs.weight", GgmlType::F32, &[4], vec![0; 16]);
    let lie = w.to_bytes();
    refused(
        "lie-tensors",
        &lie,
        &[
            "cannot run here",
            "tokenizer model `bert` is not supported",
            "tensor(s) of type Q5_1 (e.g. `blk.0.ffn_gate.weight`)",
            "tensor `blk.1.ffn_up.weight` is missing",
            "tensor `rope_freqs.weight` is not used by our decoder",
            &format!(
                "tensor `token_embd.weight` has shape [64, {n_vocab}], expected [64, {}]",
                n_vocab + 1
            ),
        ],
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn architecture_and_hyperparameter_lies() {
    let bytes = tiny_gguf();
    let g = Gguf::parse(&bytes).unwrap();
    let unsupported = rewrite(
        &g,
        |k| k != "general.architecture",
        |w| {
            w.kv("general.architecture", WriteValue::Str("mamba"));
        },
        same(&g),
    );
    refused(
        "lie-arch",
        &unsupported,
        &["architecture `mamba` is not supported (supported: llama, qwen2)"],
    );
    let none = rewrite(&g, |k| k != "general.architecture", |_| {}, same(&g));
    refused("lie-no-arch", &none, &["no general.architecture"]);
    let no_layers = rewrite(&g, |k| k != "llama.block_count", |_| {}, same(&g));
    refused(
        "lie-hparams",
        &no_layers,
        &["hyperparameters:", "block_count"],
    );
}

/// Recoverable lies: an unknown chat template (ChatML is used), a pack
/// whose system-prompt cache was computed for a model of another shape,
/// and one whose prefix section is damaged (the cache is computed).
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn recoverable_lies_load_with_a_notice() {
    let bytes = tiny_gguf();
    let g = Gguf::parse(&bytes).unwrap();
    let template = rewrite(
        &g,
        |k| k != "tokenizer.chat_template",
        |w| {
            w.kv(
                "tokenizer.chat_template",
                WriteValue::Str("{% for m in messages %}<<{{ m.content }}>>{% endfor %}"),
            );
        },
        same(&g),
    );
    loads_despite(
        "lie-template",
        &template,
        &["unknown chat template family", "using ChatML"],
    );

    // The tiny pack with another model's KV cache in its prefix.
    let image = tiny_pack();
    let h = Header::parse(&image[..HEADER_LEN], image.len() as u64).unwrap();
    assert!(h.prefix_len > 0, "the tiny pack has a prefix section");
    let (p0, p1) = (
        h.prefix_offset as usize,
        (h.prefix_offset + h.prefix_len) as usize,
    );
    let prefix = Prefix::parse(&image[p0..p1]).unwrap();
    let mut other = KvCache::new(2, 1, 32, prefix.tokens.len());
    // Filled with zeros: only its shape matters here.
    other.truncate(0);
    let foreign_kv = {
        let mut b = other.serialize(0);
        // Claim the positions of the prefix.
        b[16..20].copy_from_slice(&(prefix.tokens.len() as u32).to_le_bytes());
        b.resize(other.serialized_len(prefix.tokens.len()), 0);
        b
    };
    let foreign = Prefix {
        kv: &foreign_kv,
        ..prefix.clone()
    }
    .to_bytes();
    let gguf = &image[h.gguf_offset as usize..(h.gguf_offset + h.gguf_len) as usize];
    let lie = pack_image(&h.name, gguf, Some(&foreign));
    loads_despite(
        "lie-prefix-shape",
        &lie,
        &[
            "system prompt cache was not used",
            "saved for a model of another shape",
        ],
    );

    let mut damaged = prefix.to_bytes();
    damaged[..8].copy_from_slice(b"NOTAPRFX");
    let lie = pack_image(&h.name, gguf, Some(&damaged));
    loads_despite("lie-prefix-magic", &lie, &["prefix section: bad magic"]);
}

/// Every refusal of the pack reader: another version, a damaged header, a
/// prefix section past the end of the image.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn pack_header_lies() {
    let image = tiny_pack();
    let mut v2 = image.clone();
    v2[8..12].copy_from_slice(&2u32.to_le_bytes());
    refused(
        "lie-pack-version",
        &v2,
        &["model pack version 2 is not supported"],
    );

    let mut sum = image.clone();
    sum[50] ^= 0x20; // a letter of the name
    refused("lie-pack-checksum", &sum, &["checksum mismatch"]);

    let mut h = Header::parse(&image[..HEADER_LEN], image.len() as u64).unwrap();
    h.prefix_len = 1 << 40;
    let mut past = image.clone();
    past[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    refused(
        "lie-pack-prefix",
        &past,
        &["model pack truncated", "prefix section"],
    );
}

/// A pack of `gguf` with an optional prefix section.
fn pack_image(name: &str, gguf: &[u8], prefix: Option<&[u8]>) -> Vec<u8> {
    let h = pack::layout(
        name,
        gguf.len() as u64,
        prefix.map_or(0, |p| p.len() as u64),
    );
    let mut out = vec![0u8; h.image_len() as usize];
    out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    out[h.gguf_offset as usize..][..gguf.len()].copy_from_slice(gguf);
    if let Some(p) = prefix {
        out[h.prefix_offset as usize..][..p.len()].copy_from_slice(p);
    }
    out
}
