//! Model hyperparameters read from GGUF metadata (`{arch}.block_count`,
//! `{arch}.embedding_length`, ...), with llama.cpp's defaults for the optional
//! keys and validation of the values the decoder relies on.
//!
//! [`HParams::from_gguf`] never panics: a missing required key, a value of the
//! wrong type or an inconsistent value (a head count that does not divide the
//! embedding width, ...) is an [`HParamsError`] naming the key.

use alloc::string::{String, ToString};
use core::fmt;

use crate::gguf::{Gguf, GgufError};

/// Why the hyperparameters cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub enum HParamsError {
    /// `general.architecture` is missing.
    NoArchitecture,
    /// A required key is missing.
    Missing(String),
    /// A key has a value of the wrong type.
    Gguf(GgufError),
    /// A value is out of range or inconsistent with another.
    Invalid { key: String, reason: String },
}

impl fmt::Display for HParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HParamsError::NoArchitecture => write!(f, "metadata `general.architecture` is missing"),
            HParamsError::Missing(k) => write!(f, "required metadata `{k}` is missing"),
            HParamsError::Gguf(e) => write!(f, "{e}"),
            HParamsError::Invalid { key, reason } => write!(f, "metadata `{key}`: {reason}"),
        }
    }
}

impl From<GgufError> for HParamsError {
    fn from(e: GgufError) -> Self {
        HParamsError::Gguf(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HParamsError {}

/// The hyperparameters of a decoder-only transformer (llama / qwen2 family).
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    /// `general.architecture`, e.g. `llama`, `qwen2`.
    pub arch: String,
    /// Number of transformer blocks (`{arch}.block_count`).
    pub n_layer: usize,
    /// Width of the residual stream (`{arch}.embedding_length`).
    pub n_embd: usize,
    /// Query heads (`{arch}.attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`{arch}.attention.head_count_kv`, default `n_head`).
    pub n_head_kv: usize,
    /// Per-head width of queries and keys (`{arch}.attention.key_length`,
    /// default `n_embd / n_head`).
    pub head_dim: usize,
    /// Hidden width of the feed-forward block (`{arch}.feed_forward_length`).
    pub n_ff: usize,
    /// Context length the model was trained with (`{arch}.context_length`).
    pub n_ctx_train: usize,
    /// Vocabulary size: `{arch}.vocab_size`, else the length of
    /// `tokenizer.ggml.tokens`, else `token_embd.weight`'s row count.
    pub n_vocab: usize,
    /// RoPE base frequency (`{arch}.rope.freq_base`, default 10000).
    pub rope_freq_base: f32,
    /// Number of rotated dimensions per head (`{arch}.rope.dimension_count`,
    /// default `head_dim`).
    pub rope_dim: usize,
    /// Linear RoPE scaling factor (`{arch}.rope.scaling.factor` when the type
    /// is `linear`, else 1): positions are multiplied by `1 / rope_scale`.
    pub rope_scale: f32,
    /// RMSNorm epsilon (`{arch}.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// True when the file has no `output.weight`: the output projection reuses
    /// `token_embd.weight`.
    pub tied_embeddings: bool,
}

impl HParams {
    /// Reads and validates the hyperparameters of `gguf`.
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<HParams, HParamsError> {
        let arch = gguf
            .get_str("general.architecture")?
            .ok_or(HParamsError::NoArchitecture)?
            .to_string();
        let key = |k: &str| alloc::format!("{arch}.{k}");
        let req = |k: &str| -> Result<usize, HParamsError> {
            let full = key(k);
            let v = gguf
                .get_u64(&full)?
                .ok_or_else(|| HParamsError::Missing(full.clone()))?;
            to_usize(&full, v)
        };
        let opt = |k: &str| -> Result<Option<usize>, HParamsError> {
            let full = key(k);
            match gguf.get_u64(&full)? {
                None => Ok(None),
                Some(v) => to_usize(&full, v).map(Some),
            }
        };
        let invalid = |k: &str, reason: String| HParamsError::Invalid {
            key: key(k),
            reason,
        };

        let n_layer = req("block_count")?;
        let n_embd = req("embedding_length")?;
        let n_head = req("attention.head_count")?;
        let n_ff = req("feed_forward_length")?;
        let n_ctx_train = req("context_length")?;
        let n_head_kv = opt("attention.head_count_kv")?.unwrap_or(n_head);
        if n_layer == 0 {
            return Err(invalid("block_count", "is zero".into()));
        }
        if n_embd == 0 || n_ff == 0 || n_ctx_train == 0 {
            return Err(invalid("embedding_length", "a size is zero".into()));
        }
        if n_head == 0 || n_embd % n_head != 0 {
            return Err(invalid(
                "attention.head_count",
                alloc::format!("{n_head} heads do not divide the embedding width {n_embd}"),
            ));
        }
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(invalid(
                "attention.head_count_kv",
                alloc::format!("{n_head_kv} key/value heads do not divide {n_head} query heads"),
            ));
        }
        let head_dim = opt("attention.key_length")?.unwrap_or(n_embd / n_head);
        if let Some(v) = opt("attention.value_length")? {
            if v != head_dim {
                return Err(invalid(
                    "attention.value_length",
                    alloc::format!("{v} differs from the key length {head_dim}"),
                ));
            }
        }
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(invalid(
                "attention.key_length",
                alloc::format!("head width {head_dim} is not a positive even number"),
            ));
        }
        let rope_dim = opt("rope.dimension_count")?.unwrap_or(head_dim);
        if rope_dim == 0 || rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(invalid(
                "rope.dimension_count",
                alloc::format!("{rope_dim} rotated dimensions for heads of width {head_dim}"),
            ));
        }
        let rope_freq_base = gguf.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        if !(rope_freq_base.is_finite() && rope_freq_base > 0.0) {
            return Err(invalid(
                "rope.freq_base",
                alloc::format!("{rope_freq_base} is not a positive number"),
            ));
        }
        let rope_scale = match gguf.get_str(&key("rope.scaling.type"))? {
            None | Some("none") => 1.0,
            Some("linear") => gguf.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            Some(other) => {
                return Err(invalid(
                    "rope.scaling.type",
                    alloc::format!("RoPE scaling `{other}` is not supported"),
                ))
            }
        };
        if !(rope_scale.is_finite() && rope_scale > 0.0) {
            return Err(invalid(
                "rope.scaling.factor",
                alloc::format!("{rope_scale} is not a positive number"),
            ));
        }
        let rms_full = key("attention.layer_norm_rms_epsilon");
        let rms_eps = gguf
            .get_f32(&rms_full)?
            .ok_or_else(|| HParamsError::Missing(rms_full.clone()))?;
        if !(rms_eps.is_finite() && rms_eps > 0.0 && rms_eps < 1.0) {
            return Err(HParamsError::Invalid {
                key: rms_full,
                reason: alloc::format!("{rms_eps} is not in (0, 1)"),
            });
        }

        let n_vocab = match opt("vocab_size")? {
            Some(v) => v,
            None => match gguf.get_array("tokenizer.ggml.tokens")? {
                Some(a) => a.len(),
                None => gguf
                    .tensor("token_embd.weight")
                    .and_then(|t| t.dims.get(1).copied())
                    .map(|v| v as usize)
                    .ok_or_else(|| HParamsError::Missing(key("vocab_size")))?,
            },
        };
        if n_vocab == 0 {
            return Err(invalid("vocab_size", "is zero".into()));
        }
        let tied_embeddings = gguf.tensor("output.weight").is_none();

        Ok(HParams {
            arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_ctx_train,
            n_vocab,
            rope_freq_base,
            rope_dim,
            rope_scale,
            rms_eps,
            tied_embeddings,
        })
    }

    /// Query heads per key/value head (grouped-query attention).
    pub fn n_gqa(&self) -> usize {
        self.n_head / self.n_head_kv
    }

    /// Width of the key (and value) projections: `n_head_kv * head_dim`.
    pub fn n_embd_kv(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Width of the query projection: `n_head * head_dim`.
    pub fn n_embd_q(&self) -> usize {
        self.n_head * self.head_dim
    }
}

/// Hostile values must not wrap or allocate absurdly: anything above 2^31 is
/// treated as corruption.
fn to_usize(key: &str, v: u64) -> Result<usize, HParamsError> {
    if v > i32::MAX as u64 {
        return Err(HParamsError::Invalid {
            key: key.into(),
            reason: alloc::format!("{v} is out of range"),
        });
    }
    Ok(v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgufWriter, WriteValue};
    use alloc::vec::Vec;

    fn base(w: &mut GgufWriter) {
        w.kv("general.architecture", WriteValue::Str("llama"))
            .kv("llama.block_count", WriteValue::U32(2))
            .kv("llama.embedding_length", WriteValue::U32(64))
            .kv("llama.attention.head_count", WriteValue::U32(4))
            .kv("llama.feed_forward_length", WriteValue::U32(128))
            .kv("llama.context_length", WriteValue::U32(256))
            .kv(
                "llama.attention.layer_norm_rms_epsilon",
                WriteValue::F32(1e-5),
            )
            .kv(
                "tokenizer.ggml.tokens",
                WriteValue::StrArray(&["a", "b", "c"]),
            );
    }

    fn parse(bytes: &[u8]) -> Result<HParams, HParamsError> {
        HParams::from_gguf(&Gguf::parse(bytes).unwrap())
    }

    #[test]
    fn defaults_follow_llama_cpp() {
        let mut w = GgufWriter::new();
        base(&mut w);
        let hp = parse(&w.to_bytes()).unwrap();
        assert_eq!(hp.arch, "llama");
        assert_eq!((hp.n_layer, hp.n_embd, hp.n_head), (2, 64, 4));
        assert_eq!(hp.n_head_kv, 4);
        assert_eq!(hp.head_dim, 16);
        assert_eq!(hp.rope_dim, 16);
        assert_eq!(hp.rope_freq_base, 10000.0);
        assert_eq!(hp.rope_scale, 1.0);
        assert_eq!(hp.n_vocab, 3);
        assert!(hp.tied_embeddings);
        assert_eq!(hp.n_gqa(), 1);
    }

    #[test]
    fn explicit_values_win() {
        let mut w = GgufWriter::new();
        base(&mut w);
        w.kv("llama.attention.head_count_kv", WriteValue::U32(2))
            .kv("llama.rope.freq_base", WriteValue::F32(5e5))
            .kv("llama.rope.dimension_count", WriteValue::U32(8))
            .kv("llama.vocab_size", WriteValue::U32(7));
        let hp = parse(&w.to_bytes()).unwrap();
        assert_eq!(hp.n_head_kv, 2);
        assert_eq!(hp.n_gqa(), 2);
        assert_eq!(hp.n_embd_kv(), 32);
        assert_eq!(hp.rope_freq_base, 5e5);
        assert_eq!(hp.rope_dim, 8);
        assert_eq!(hp.n_vocab, 7);
    }

    #[test]
    fn bad_values_are_errors() {
        let cases: Vec<(&str, WriteValue<'_>)> = vec![
            ("llama.attention.head_count_kv", WriteValue::U32(3)),
            ("llama.attention.head_count_kv", WriteValue::U32(0)),
            ("llama.rope.dimension_count", WriteValue::U32(64)),
            ("llama.rope.freq_base", WriteValue::F32(-1.0)),
            ("llama.rope.scaling.type", WriteValue::Str("yarn")),
            ("llama.vocab_size", WriteValue::Str("many")),
            ("llama.vocab_size", WriteValue::U64(1 << 40)),
        ];
        for (k, v) in cases {
            let mut w = GgufWriter::new();
            base(&mut w);
            w.kv(k, v);
            let err = parse(&w.to_bytes()).unwrap_err();
            assert!(alloc::format!("{err}").contains(k), "{k}: {err}");
        }
    }

    #[test]
    fn missing_keys_are_named() {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", WriteValue::Str("qwen2"));
        assert_eq!(
            parse(&w.to_bytes()).unwrap_err(),
            HParamsError::Missing("qwen2.block_count".into())
        );
        assert_eq!(
            parse(&GgufWriter::new().to_bytes()).unwrap_err(),
            HParamsError::NoArchitecture
        );
    }
}
