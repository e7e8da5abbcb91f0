//! A tiny random-weight llama model (a few MB), for fast tests of the whole
//! pipeline (tokenizer, decoder, kernel `/complete`) under QEMU.
//!
//! The weights are random but deterministic from a seed, and exercise every
//! supported weight type: the token embedding (tied output) is Q8_0, and the
//! layers use Q4_0, Q4_1, Q5_0, Q8_0, F16 and F32 matrices with Q4_K, Q6_K,
//! Q8_0 and F32 feed-forward down projections. The tokenizer (every
//! `tokenizer.*` key) is copied from a real vocabulary file, e.g.
//! llama.cpp's `ggml-vocab-gpt-2.gguf`, so text prompts work.

use alloc::string::String;
use alloc::vec::Vec;

use crate::ggml::GgmlType;
use crate::gguf::{Gguf, GgufWriter, Value, WriteValue};
use crate::model::ModelError;
use crate::quant::quantize;
use crate::rng::Rng;

/// The tiny model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyConfig {
    pub n_layer: usize,
    /// A multiple of 32 (the head width is `n_embd / n_head`).
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// A multiple of 256 (the k-quant down projections need it).
    pub n_ff: usize,
    pub n_ctx_train: usize,
}

impl Default for TinyConfig {
    fn default() -> Self {
        TinyConfig {
            n_layer: 4,
            n_embd: 64,
            n_head: 4,
            n_head_kv: 2,
            n_ff: 256,
            n_ctx_train: 2048,
        }
    }
}

/// Weight types of layer `i` (cycling): (attention, gate/up, down).
const LAYER_TYPES: [(GgmlType, GgmlType, GgmlType); 4] = [
    (GgmlType::Q4_0, GgmlType::Q4_0, GgmlType::Q4_K),
    (GgmlType::Q4_1, GgmlType::Q4_1, GgmlType::Q6_K),
    (GgmlType::Q5_0, GgmlType::Q5_0, GgmlType::Q8_0),
    (GgmlType::Q8_0, GgmlType::F16, GgmlType::F32),
];

/// The default tiny model with `vocab`'s tokenizer.
pub fn write(seed: u64, vocab: &Gguf<'_>) -> Result<Vec<u8>, ModelError> {
    write_with(&TinyConfig::default(), seed, vocab)
}

/// A tiny model of shape `cfg` with `vocab`'s tokenizer, as GGUF bytes.
pub fn write_with(cfg: &TinyConfig, seed: u64, vocab: &Gguf<'_>) -> Result<Vec<u8>, ModelError> {
    if cfg.n_layer == 0
        || cfg.n_head == 0
        || cfg.n_head_kv == 0
        || !cfg.n_head.is_multiple_of(cfg.n_head_kv)
        || !cfg.n_embd.is_multiple_of(32)
        || !cfg.n_embd.is_multiple_of(cfg.n_head)
        || !(cfg.n_embd / cfg.n_head).is_multiple_of(2)
        || cfg.n_ff == 0
        || !cfg.n_ff.is_multiple_of(256)
    {
        return Err(ModelError::Invalid("tiny model: inconsistent shape"));
    }
    let n_vocab = vocab
        .get_array("tokenizer.ggml.tokens")?
        .ok_or(ModelError::Invalid(
            "the vocabulary file has no tokenizer.ggml.tokens",
        ))?
        .len();
    let mut w = GgufWriter::new();
    let u = |v: usize| WriteValue::U32(v as u32);
    w.kv("general.architecture", WriteValue::Str("llama"))
        .kv("general.name", WriteValue::Str("tiny-random-llama"))
        .kv("llama.block_count", u(cfg.n_layer))
        .kv("llama.context_length", u(cfg.n_ctx_train))
        .kv("llama.embedding_length", u(cfg.n_embd))
        .kv("llama.feed_forward_length", u(cfg.n_ff))
        .kv("llama.attention.head_count", u(cfg.n_head))
        .kv("llama.attention.head_count_kv", u(cfg.n_head_kv))
        .kv("llama.rope.freq_base", WriteValue::F32(10000.0))
        .kv(
            "llama.attention.layer_norm_rms_epsilon",
            WriteValue::F32(1e-5),
        );
    copy_metadata(vocab, &mut w, |k| k.starts_with("tokenizer."))?;

    let mut rng = Rng::new(seed);
    let e = cfg.n_embd;
    let kv = cfg.n_embd / cfg.n_head * cfg.n_head_kv;
    let ff = cfg.n_ff;
    let mut tensor =
        |w: &mut GgufWriter, name: &str, ty: GgmlType, cols: usize, rows: usize, std: f32| {
            let x: Vec<f32> = (0..cols * rows).map(|_| rng.normal() * std).collect();
            let data = quantize(ty, &x).map_err(ModelError::Quant)?;
            let dims: &[u64] = if rows == 1 {
                &[cols as u64]
            } else {
                &[cols as u64, rows as u64]
            };
            w.tensor(name, ty, dims, data);
            Ok::<(), ModelError>(())
        };
    let std_in = |cols: usize| 1.0 / libm::sqrtf(cols as f32);
    tensor(&mut w, "token_embd.weight", GgmlType::Q8_0, e, n_vocab, 1.0)?;
    for i in 0..cfg.n_layer {
        let (ta, tf, td) = LAYER_TYPES[i % LAYER_TYPES.len()];
        let n = |s: &str| alloc::format!("blk.{i}.{s}");
        tensor(&mut w, &n("attn_norm.weight"), GgmlType::F32, e, 1, 0.1)?;
        tensor(&mut w, &n("attn_q.weight"), ta, e, e, std_in(e))?;
        tensor(&mut w, &n("attn_k.weight"), ta, e, kv, std_in(e))?;
        tensor(&mut w, &n("attn_v.weight"), ta, e, kv, std_in(e))?;
        tensor(&mut w, &n("attn_output.weight"), ta, e, e, std_in(e))?;
        tensor(&mut w, &n("ffn_norm.weight"), GgmlType::F32, e, 1, 0.1)?;
        tensor(&mut w, &n("ffn_gate.weight"), tf, e, ff, std_in(e))?;
        tensor(&mut w, &n("ffn_up.weight"), tf, e, ff, std_in(e))?;
        tensor(&mut w, &n("ffn_down.weight"), td, ff, e, std_in(ff))?;
    }
    tensor(&mut w, "output_norm.weight", GgmlType::F32, e, 1, 0.1)?;
    let mut bytes = w.to_bytes();
    // Norm weights around 1, not 0: shift the F32 norm tensors in place.
    shift_norms(&mut bytes)?;
    Ok(bytes)
}

/// Adds 1 to every element of the `*norm.weight` tensors.
fn shift_norms(bytes: &mut [u8]) -> Result<(), ModelError> {
    let spans: Vec<(usize, usize)> = {
        let g = Gguf::parse(bytes)?;
        g.tensors()
            .iter()
            .filter(|t| t.name.ends_with("norm.weight"))
            .map(|t| (t.offset, t.data.len()))
            .collect()
    };
    for (off, len) in spans {
        for c in bytes[off..off + len].as_chunks_mut::<4>().0 {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) + 1.0;
            c.copy_from_slice(&v.to_le_bytes());
        }
    }
    Ok(())
}

/// Copies the metadata entries whose key `keep` accepts.
pub fn copy_metadata(
    src: &Gguf<'_>,
    w: &mut GgufWriter,
    keep: impl Fn(&str) -> bool,
) -> Result<(), ModelError> {
    let bad = ModelError::Invalid("a metadata entry cannot be copied");
    for (key, value) in src.metadata() {
        if !keep(key) {
            continue;
        }
        match value {
            Value::String(s) => {
                let s = core::str::from_utf8(s).map_err(|_| bad.clone())?;
                w.kv(key, WriteValue::Str(s));
            }
            Value::Bool(b) => {
                w.kv(key, WriteValue::Bool(*b));
            }
            Value::F32(f) => {
                w.kv(key, WriteValue::F32(*f));
            }
            Value::Array(a) => {
                if let Some(strings) = a.strings() {
                    let owned: Vec<String> = strings
                        .map(|s| core::str::from_utf8(s).map(String::from))
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad.clone())?;
                    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                    w.kv(key, WriteValue::StrArray(&refs));
                } else if let Some(ints) = a.integers() {
                    let v: Vec<i32> = ints.map(|i| i as i32).collect();
                    w.kv(key, WriteValue::I32Array(&v));
                } else if let Some(fs) = a.f32s() {
                    let v: Vec<f32> = fs.collect();
                    w.kv(key, WriteValue::F32Array(&v));
                } else {
                    return Err(bad);
                }
            }
            other => match other.as_u64() {
                Some(v) if v <= u32::MAX as u64 => {
                    w.kv(key, WriteValue::U32(v as u32));
                }
                _ => match other.as_i64() {
                    Some(v) if i32::try_from(v).is_ok() => {
                        w.kv(key, WriteValue::I32(v as i32));
                    }
                    _ => return Err(bad),
                },
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::quant::SCALAR;
    use crate::sampler::Sampler;
    use crate::session::Session;

    /// A made-up byte-level vocabulary (no file needed).
    fn toy_vocab() -> Vec<u8> {
        let mut toks: Vec<String> = (b'a'..=b'z').map(|c| String::from(c as char)).collect();
        toks.push("<|endoftext|>".into());
        let refs: Vec<&str> = toks.iter().map(String::as_str).collect();
        let types: Vec<i32> = (0..refs.len())
            .map(|i| if i + 1 == refs.len() { 3 } else { 1 })
            .collect();
        let mut w = GgufWriter::new();
        w.kv("general.architecture", WriteValue::Str("gpt2"))
            .kv("tokenizer.ggml.model", WriteValue::Str("gpt2"))
            .kv("tokenizer.ggml.tokens", WriteValue::StrArray(&refs))
            .kv("tokenizer.ggml.token_type", WriteValue::I32Array(&types))
            .kv("tokenizer.ggml.merges", WriteValue::StrArray(&["a b"]))
            .kv("tokenizer.ggml.eos_token_id", WriteValue::U32(26));
        w.to_bytes()
    }

    #[test]
    fn tiny_model_loads_runs_and_is_deterministic() {
        let vb = toy_vocab();
        let vocab = Gguf::parse(&vb).unwrap();
        let a = write(7, &vocab).unwrap();
        assert_eq!(a, write(7, &vocab).unwrap());
        assert_ne!(a, write(8, &vocab).unwrap());
        let g = Gguf::parse(&a).unwrap();
        assert_eq!(
            g.get_array("tokenizer.ggml.tokens").unwrap().unwrap().len(),
            27
        );
        assert_eq!(g.get_u64("tokenizer.ggml.eos_token_id").unwrap(), Some(26));
        let types: alloc::collections::BTreeSet<GgmlType> =
            g.tensors().iter().map(|t| t.ty).collect();
        for ty in crate::quant::SUPPORTED_WEIGHT_TYPES {
            assert!(types.contains(&ty), "{ty} missing");
        }
        let model = Model::from_gguf(&g).unwrap();
        assert!(model.output_norm[0] > 0.5);
        let run = |batch| {
            let mut s = Session::new(&model, &SCALAR, 64, batch).unwrap();
            let mut toks = alloc::vec![1u32, 2, 3, 4, 5];
            let mut sampler = Sampler::greedy();
            let mut next = sampler.sample(s.prefill(&toks, None).unwrap(), &toks);
            for _ in 0..8 {
                toks.push(next);
                next = sampler.sample(s.decode_step(next).unwrap(), &toks);
                assert!((next as usize) < 27);
            }
            (toks, s.logits().to_vec())
        };
        let (t1, l1) = run(16);
        let (t2, l2) = run(2); // prefill in several batches
                               // Batching changes nothing: every per-token computation is the same.
        assert_eq!(t1, t2);
        assert_eq!(l1, l2);
        assert!(l1.iter().all(|v| v.is_finite()));
    }
}
