//! Can our engine run this GGUF file, and if not, exactly why? The same
//! check serves `model-loader inspect` on the host and the kernel at boot.
//!
//! Supported: architectures `llama` and `qwen2`; weights in F32, F16, Q4_0,
//! Q4_1, Q5_0, Q8_0, Q4_K, Q6_K; tokenizers `gpt2` (pre-tokenizers gpt2,
//! qwen2, smollm, default) and `llama` (SentencePiece); every tensor the
//! decoder needs present with the shape the hyperparameters imply, and no
//! tensor it would silently ignore.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::ggml::GgmlType;
use crate::gguf::Gguf;
use crate::hparams::HParams;
use crate::quant::SUPPORTED_WEIGHT_TYPES;
use crate::tokenizer::PreTokenizer;

/// Architectures the decoder implements.
pub const ARCHITECTURES: &[&str] = &["llama", "qwen2"];

/// One reason the engine cannot run a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// `general.architecture` is not one we implement (or is missing).
    Architecture(Option<String>),
    /// The hyperparameters are missing or inconsistent.
    HParams(String),
    /// Tensors of a type the kernels do not implement.
    WeightType {
        ty: GgmlType,
        count: usize,
        example: String,
    },
    /// The tokenizer model or pre-tokenizer is not implemented.
    Tokenizer(String),
    MissingTensor(String),
    /// A tensor's dimensions (GGML order, row length first) are not the ones
    /// the hyperparameters imply.
    Shape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    /// A tensor the decoder does not use (it would be silently ignored).
    UnexpectedTensor(String),
    /// A supported type where this tensor cannot have it (a norm or bias
    /// must be F32 or F16; a matrix row must be whole blocks).
    TensorType {
        name: String,
        ty: GgmlType,
        why: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Architecture(None) => write!(f, "no general.architecture"),
            Problem::Architecture(Some(a)) => write!(
                f,
                "architecture `{a}` is not supported (supported: {})",
                ARCHITECTURES.join(", ")
            ),
            Problem::HParams(e) => write!(f, "hyperparameters: {e}"),
            Problem::WeightType { ty, count, example } => {
                let names: Vec<&str> = SUPPORTED_WEIGHT_TYPES.iter().map(|t| t.name()).collect();
                write!(
                    f,
                    "{count} tensor(s) of type {ty} (e.g. `{example}`): supported types are {}",
                    names.join(", ")
                )
            }
            Problem::Tokenizer(e) => write!(f, "tokenizer: {e}"),
            Problem::MissingTensor(n) => write!(f, "tensor `{n}` is missing"),
            Problem::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {found:?}, expected {expected:?}"
            ),
            Problem::UnexpectedTensor(n) => {
                write!(f, "tensor `{n}` is not used by our decoder")
            }
            Problem::TensorType { name, ty, why } => {
                write!(f, "tensor `{name}` has type {ty}: {why}")
            }
        }
    }
}

/// Every reason `g` cannot be run (empty: supported).
pub fn check(g: &Gguf<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let arch = g.architecture();
    let arch_ok = arch.is_some_and(|a| ARCHITECTURES.contains(&a));
    if !arch_ok {
        problems.push(Problem::Architecture(arch.map(String::from)));
    }
    check_tokenizer(g, &mut problems);

    // Tensor types, grouped.
    let mut bad: Vec<(GgmlType, usize, String)> = Vec::new();
    for t in g.tensors() {
        if SUPPORTED_WEIGHT_TYPES.contains(&t.ty) {
            continue;
        }
        match bad.iter_mut().find(|b| b.0 == t.ty) {
            Some(b) => b.1 += 1,
            None => bad.push((t.ty, 1, t.name.into())),
        }
    }
    for (ty, count, example) in bad {
        problems.push(Problem::WeightType { ty, count, example });
    }

    if !arch_ok {
        return problems;
    }
    match HParams::from_gguf(g) {
        // Each layer has several tensors: a block count beyond the tensor
        // count is a lie, and listing the tensors it implies would take
        // forever (found by the `gguf` fuzz target).
        Ok(hp) if hp.n_layer > g.tensors().len() => problems.push(Problem::HParams(format!(
            "{} layers, but the file has only {} tensors",
            hp.n_layer,
            g.tensors().len()
        ))),
        Ok(hp) => check_tensors(g, &hp, &mut problems),
        Err(e) => problems.push(Problem::HParams(format!("{e}"))),
    }
    problems
}

fn check_tokenizer(g: &Gguf<'_>, problems: &mut Vec<Problem>) {
    let model = match g.get_str("tokenizer.ggml.model") {
        Ok(Some(m)) => m,
        Ok(None) => {
            problems.push(Problem::Tokenizer("no tokenizer.ggml.model".into()));
            return;
        }
        Err(e) => {
            problems.push(Problem::Tokenizer(format!("{e}")));
            return;
        }
    };
    match model {
        "llama" => {}
        "gpt2" => {
            let pre = g.get_str("tokenizer.ggml.pre").ok().flatten().unwrap_or("");
            if PreTokenizer::from_name(pre).is_none() {
                problems.push(Problem::Tokenizer(format!(
                    "pre-tokenizer `{pre}` is not supported (supported: gpt-2, qwen2, smollm, default)"
                )));
            }
        }
        other => problems.push(Problem::Tokenizer(format!(
            "tokenizer model `{other}` is not supported (supported: gpt2, llama)"
        ))),
    }
}

/// The tensors the decoder needs, with their shapes (GGML order).
pub fn expected_tensors(hp: &HParams) -> Vec<(String, Vec<u64>, bool)> {
    let (e, v, ff) = (hp.n_embd as u64, hp.n_vocab as u64, hp.n_ff as u64);
    let (q, kv) = (hp.n_embd_q() as u64, hp.n_embd_kv() as u64);
    let mut t: Vec<(String, Vec<u64>, bool)> = Vec::new();
    let mut add =
        |name: String, shape: &[u64], required: bool| t.push((name, shape.to_vec(), required));
    add("token_embd.weight".into(), &[e, v], true);
    add("output_norm.weight".into(), &[e], true);
    add("output.weight".into(), &[e, v], false);
    for i in 0..hp.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}");
        add(b("attn_norm.weight"), &[e], true);
        add(b("attn_q.weight"), &[e, q], true);
        add(b("attn_k.weight"), &[e, kv], true);
        add(b("attn_v.weight"), &[e, kv], true);
        add(b("attn_output.weight"), &[q, e], true);
        add(b("ffn_norm.weight"), &[e], true);
        add(b("ffn_gate.weight"), &[e, ff], true);
        add(b("ffn_up.weight"), &[e, ff], true);
        add(b("ffn_down.weight"), &[ff, e], true);
        if hp.arch == "qwen2" {
            add(b("attn_q.bias"), &[q], true);
            add(b("attn_k.bias"), &[kv], true);
            add(b("attn_v.bias"), &[kv], true);
        }
    }
    t
}

fn check_tensors(g: &Gguf<'_>, hp: &HParams, problems: &mut Vec<Problem>) {
    let expected = expected_tensors(hp);
    for (name, shape, required) in &expected {
        match g.tensor(name) {
            None if *required => problems.push(Problem::MissingTensor(name.clone())),
            None => {}
            Some(t) => {
                let mut found = t.dims.clone();
                while found.len() > 1 && found.last() == Some(&1) {
                    found.pop();
                }
                if &found != shape {
                    problems.push(Problem::Shape {
                        name: name.clone(),
                        expected: shape.clone(),
                        found,
                    });
                } else if SUPPORTED_WEIGHT_TYPES.contains(&t.ty) {
                    // What the loader accepts (found by the `gguf` fuzz
                    // target: a Q5_0 norm passed).
                    if let Some(why) = crate::model::type_problem(t.ty, shape) {
                        problems.push(Problem::TensorType {
                            name: name.clone(),
                            ty: t.ty,
                            why,
                        });
                    }
                }
            }
        }
    }
    for t in g.tensors() {
        if !expected.iter().any(|(n, _, _)| n == t.name) {
            problems.push(Problem::UnexpectedTensor(t.name.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufWriter, WriteValue};
    use alloc::vec;

    /// A tiny but complete llama model (1 layer, n_embd 32, vocab 4).
    fn tiny(arch: &str, skip: &str, wrong: Option<(&str, GgmlType)>) -> Vec<u8> {
        let mut w = GgufWriter::new();
        let key = |k: &str| format!("{arch}.{k}");
        w.kv("general.architecture", WriteValue::Str(arch))
            .kv(&key("block_count"), WriteValue::U32(1))
            .kv(&key("embedding_length"), WriteValue::U32(32))
            .kv(&key("attention.head_count"), WriteValue::U32(4))
            .kv(&key("attention.head_count_kv"), WriteValue::U32(2))
            .kv(&key("feed_forward_length"), WriteValue::U32(64))
            .kv(&key("context_length"), WriteValue::U32(128))
            .kv(
                &key("attention.layer_norm_rms_epsilon"),
                WriteValue::F32(1e-5),
            )
            .kv("tokenizer.ggml.model", WriteValue::Str("gpt2"))
            .kv("tokenizer.ggml.pre", WriteValue::Str("qwen2"))
            .kv(
                "tokenizer.ggml.tokens",
                WriteValue::StrArray(&["a", "b", "c", "d"]),
            );
        let hp_shapes = [
            ("token_embd.weight", vec![32u64, 4]),
            ("output_norm.weight", vec![32]),
            ("blk.0.attn_norm.weight", vec![32]),
            ("blk.0.attn_q.weight", vec![32, 32]),
            ("blk.0.attn_k.weight", vec![32, 16]),
            ("blk.0.attn_v.weight", vec![32, 16]),
            ("blk.0.attn_output.weight", vec![32, 32]),
            ("blk.0.ffn_norm.weight", vec![32]),
            ("blk.0.ffn_gate.weight", vec![32, 64]),
            ("blk.0.ffn_up.weight", vec![32, 64]),
            ("blk.0.ffn_down.weight", vec![64, 32]),
            ("blk.0.attn_q.bias", vec![32]),
            ("blk.0.attn_k.bias", vec![16]),
            ("blk.0.attn_v.bias", vec![16]),
        ];
        for (name, dims) in hp_shapes {
            if name == skip || (arch == "llama" && name.ends_with(".bias")) {
                continue;
            }
            let ty = match wrong {
                Some((n, ty)) if n == name => ty,
                _ => GgmlType::F32,
            };
            let n: u64 = dims.iter().product();
            let bytes = (n as usize / ty.block_len()) * ty.block_bytes();
            w.tensor(name, ty, &dims, vec![0u8; bytes]);
        }
        w.to_bytes()
    }

    /// Regression (fuzz target `gguf`): a block count of 2^31 made the
    /// check list 2^31 layers of expected tensors.
    #[test]
    fn a_huge_block_count_is_refused_at_once() {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", WriteValue::Str("llama"))
            .kv("llama.block_count", WriteValue::U32(i32::MAX as u32))
            .kv("llama.embedding_length", WriteValue::U32(32))
            .kv("llama.attention.head_count", WriteValue::U32(4))
            .kv("llama.feed_forward_length", WriteValue::U32(64))
            .kv("llama.context_length", WriteValue::U32(128))
            .kv(
                "llama.attention.layer_norm_rms_epsilon",
                WriteValue::F32(1e-5),
            )
            .kv("tokenizer.ggml.model", WriteValue::Str("llama"))
            .kv("tokenizer.ggml.tokens", WriteValue::StrArray(&["a", "b"]))
            .tensor("output_norm.weight", GgmlType::F32, &[32], vec![0; 128]);
        let bytes = w.to_bytes();
        let t = std::time::Instant::now();
        let p = problems(&bytes);
        assert!(t.elapsed().as_secs() < 1, "took {:?}", t.elapsed());
        assert_eq!(
            p,
            vec![Problem::HParams(
                "2147483647 layers, but the file has only 1 tensors".into()
            )]
        );
        let m = crate::model::Model::load(&bytes);
        assert!(m.is_err());
    }

    fn problems(bytes: &[u8]) -> Vec<Problem> {
        check(&Gguf::parse(bytes).unwrap())
    }

    #[test]
    fn complete_models_are_supported() {
        assert_eq!(problems(&tiny("qwen2", "", None)), vec![]);
        assert_eq!(problems(&tiny("llama", "", None)), vec![]);
    }

    #[test]
    fn each_problem_is_named() {
        assert_eq!(
            problems(&tiny("qwen2", "blk.0.attn_k.bias", None)),
            vec![Problem::MissingTensor("blk.0.attn_k.bias".into())]
        );
        let p = problems(&tiny(
            "qwen2",
            "",
            Some(("blk.0.ffn_up.weight", GgmlType::Q5_1)),
        ));
        assert_eq!(p.len(), 1);
        let msg = format!("{}", p[0]);
        assert!(
            msg.contains("Q5_1") && msg.contains("blk.0.ffn_up.weight"),
            "{msg}"
        );
        let p = problems(&tiny("gpt2", "", None));
        assert!(
            matches!(&p[0], Problem::Architecture(Some(a)) if a == "gpt2"),
            "{p:?}"
        );
    }

    /// Regression (fuzz target `gguf`): a Q5_0 norm passed the check, and
    /// the model then did not load.
    #[test]
    fn a_quantized_norm_is_refused_by_the_check() {
        let bytes = tiny(
            "llama",
            "",
            Some(("blk.0.attn_norm.weight", GgmlType::Q5_0)),
        );
        let p = problems(&bytes);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            format!("{}", p[0]),
            "tensor `blk.0.attn_norm.weight` has type Q5_0: a norm or bias must be F32 or F16"
        );
        assert!(crate::model::Model::load(&bytes).is_err());
    }

    #[test]
    fn wrong_shapes_and_extra_tensors() {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", WriteValue::Str("llama"))
            .kv("llama.block_count", WriteValue::U32(1))
            .kv("llama.embedding_length", WriteValue::U32(32))
            .kv("llama.attention.head_count", WriteValue::U32(4))
            .kv("llama.feed_forward_length", WriteValue::U32(64))
            .kv("llama.context_length", WriteValue::U32(128))
            .kv(
                "llama.attention.layer_norm_rms_epsilon",
                WriteValue::F32(1e-5),
            )
            .kv("tokenizer.ggml.model", WriteValue::Str("bert"))
            .kv("tokenizer.ggml.tokens", WriteValue::StrArray(&["a", "b"]))
            .tensor(
                "token_embd.weight",
                GgmlType::F32,
                &[32, 3],
                vec![0; 32 * 3 * 4],
            )
            .tensor("rope_freqs.weight", GgmlType::F32, &[4], vec![0; 16]);
        let p = problems(&w.to_bytes());
        let text: Vec<String> = p.iter().map(|p| format!("{p}")).collect();
        assert!(
            text.iter().any(|t| t.contains("tokenizer model `bert`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`token_embd.weight` has shape [32, 3], expected [32, 2]")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`rope_freqs.weight` is not used")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`blk.0.attn_q.weight` is missing")),
            "{text:?}"
        );
    }
}
