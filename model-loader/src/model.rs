//! A llama / qwen2 model whose weights are borrowed from the GGUF bytes.
//!
//! [`Model::load`] (or [`Model::from_gguf`]) checks the architecture, the
//! hyperparameters, and every tensor's presence, type and shape, so that the
//! forward pass ([`crate::session::Session`]) cannot meet a malformed
//! weight. Quantized matrices are never copied; only the small f32 vectors
//! (norm weights and biases) are.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::ggml::GgmlType;
use crate::gguf::{Gguf, GgufError, TensorInfo};
use crate::hparams::{HParams, HParamsError};
use crate::quant::{dequantize_row, ActType, QMatrix, QuantError};

/// Why a model cannot be loaded or run.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    Gguf(GgufError),
    HParams(HParamsError),
    /// `general.architecture` names an architecture the decoder does not run.
    UnsupportedArch(String),
    MissingTensor(String),
    /// A tensor whose shape is not the one the hyperparameters imply.
    BadShape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    /// A tensor of a type the decoder has no kernel for (or that cannot be
    /// used where it is, e.g. a k-quant whose rows are not a multiple of 256).
    UnsupportedType {
        name: String,
        ty: GgmlType,
    },
    Quant(QuantError),
    /// The context (KV cache) cannot hold more tokens.
    ContextFull {
        n_ctx: usize,
    },
    /// A token id outside the vocabulary.
    BadToken {
        token: u32,
        n_vocab: usize,
    },
    /// Bad arguments (empty batch, zero context, ...).
    Invalid(&'static str),
    /// A serialized KV cache that does not fit this model or is corrupt.
    BadKvCache(&'static str),
    /// The progress callback asked to stop.
    Cancelled,
    /// An allocation of `bytes` (a KV cache, a session's buffers) failed.
    OutOfMemory {
        bytes: usize,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Gguf(e) => write!(f, "{e}"),
            ModelError::HParams(e) => write!(f, "{e}"),
            ModelError::UnsupportedArch(a) => write!(
                f,
                "architecture `{a}` is not supported (supported: llama, qwen2)"
            ),
            ModelError::MissingTensor(n) => write!(f, "tensor `{n}` is missing"),
            ModelError::BadShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {found:?}, expected {expected:?}"
            ),
            ModelError::UnsupportedType { name, ty } => {
                write!(f, "tensor `{name}` has unsupported type {ty}")
            }
            ModelError::Quant(e) => write!(f, "{e}"),
            ModelError::ContextFull { n_ctx } => {
                write!(f, "the context is full ({n_ctx} tokens)")
            }
            ModelError::BadToken { token, n_vocab } => {
                write!(
                    f,
                    "token id {token} is outside the vocabulary ({n_vocab} tokens)"
                )
            }
            ModelError::Invalid(what) => write!(f, "{what}"),
            ModelError::BadKvCache(what) => write!(f, "saved KV cache rejected: {what}"),
            ModelError::Cancelled => write!(f, "cancelled"),
            ModelError::OutOfMemory { bytes } => {
                write!(f, "out of memory: {bytes} bytes could not be allocated")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ModelError {}

impl From<GgufError> for ModelError {
    fn from(e: GgufError) -> Self {
        ModelError::Gguf(e)
    }
}
impl From<HParamsError> for ModelError {
    fn from(e: HParamsError) -> Self {
        ModelError::HParams(e)
    }
}
impl From<QuantError> for ModelError {
    fn from(e: QuantError) -> Self {
        ModelError::Quant(e)
    }
}

/// How RoPE pairs dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs `(2i, 2i + 1)` (llama; GGUF conversion permutes Q/K).
    Normal,
    /// Halves `(i, i + n / 2)` (qwen2, GPT-NeoX).
    Neox,
}

/// The weights of one transformer block.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    pub attn_norm: Vec<f32>,
    pub wq: QMatrix<'a>,
    pub wk: QMatrix<'a>,
    pub wv: QMatrix<'a>,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    pub wo: QMatrix<'a>,
    pub ffn_norm: Vec<f32>,
    pub w_gate: QMatrix<'a>,
    pub w_up: QMatrix<'a>,
    pub w_down: QMatrix<'a>,
}

/// A loaded model: hyperparameters and borrowed weights.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub hparams: HParams,
    pub rope_style: RopeStyle,
    /// `token_embd.weight`: one row of `n_embd` per token.
    pub tok_embd: QMatrix<'a>,
    pub layers: Vec<Layer<'a>>,
    pub output_norm: Vec<f32>,
    /// `output.weight`, or `token_embd.weight` when the embeddings are tied.
    pub output: QMatrix<'a>,
}

impl<'a> Model<'a> {
    /// Parses `bytes` (a whole GGUF file) and loads the model from it.
    pub fn load(bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        let gguf = Gguf::parse(bytes)?;
        Model::from_gguf(&gguf)
    }

    /// Loads the model described by an already parsed file.
    pub fn from_gguf(gguf: &Gguf<'a>) -> Result<Model<'a>, ModelError> {
        // The architecture first, so that an unsupported one is named as such
        // rather than as a missing hyperparameter.
        let arch = gguf
            .get_str("general.architecture")?
            .ok_or(ModelError::HParams(HParamsError::NoArchitecture))?;
        let (rope_style, has_qkv_bias) = match arch {
            "llama" => (RopeStyle::Normal, false),
            "qwen2" => (RopeStyle::Neox, true),
            other => return Err(ModelError::UnsupportedArch(other.to_string())),
        };
        let hp = HParams::from_gguf(gguf)?;
        let (e, q, kv, ff, v) = (
            hp.n_embd as u64,
            hp.n_embd_q() as u64,
            hp.n_embd_kv() as u64,
            hp.n_ff as u64,
            hp.n_vocab as u64,
        );
        let tok_embd = matrix(gguf, "token_embd.weight", e, v)?;
        let output = match gguf.tensor("output.weight") {
            Some(_) => matrix(gguf, "output.weight", e, v)?,
            None => tok_embd,
        };
        // Not more than the file can hold: a hostile block count must not
        // reserve memory for layers that are not there.
        let mut layers = Vec::with_capacity(hp.n_layer.min(gguf.tensors().len()));
        for i in 0..hp.n_layer {
            let n = |s: &str| alloc::format!("blk.{i}.{s}");
            let bias = |s: &str, len: u64| -> Result<Option<Vec<f32>>, ModelError> {
                let name = n(s);
                match gguf.tensor(&name) {
                    Some(_) => vector(gguf, &name, len).map(Some),
                    None if has_qkv_bias => Err(ModelError::MissingTensor(name)),
                    None => Ok(None),
                }
            };
            layers.push(Layer {
                attn_norm: vector(gguf, &n("attn_norm.weight"), e)?,
                wq: matrix(gguf, &n("attn_q.weight"), e, q)?,
                wk: matrix(gguf, &n("attn_k.weight"), e, kv)?,
                wv: matrix(gguf, &n("attn_v.weight"), e, kv)?,
                bq: bias("attn_q.bias", q)?,
                bk: bias("attn_k.bias", kv)?,
                bv: bias("attn_v.bias", kv)?,
                wo: matrix(gguf, &n("attn_output.weight"), q, e)?,
                ffn_norm: vector(gguf, &n("ffn_norm.weight"), e)?,
                w_gate: matrix(gguf, &n("ffn_gate.weight"), e, ff)?,
                w_up: matrix(gguf, &n("ffn_up.weight"), e, ff)?,
                w_down: matrix(gguf, &n("ffn_down.weight"), ff, e)?,
            });
        }
        let output_norm = vector(gguf, "output_norm.weight", e)?;
        Ok(Model {
            hparams: hp,
            rope_style,
            tok_embd,
            layers,
            output_norm,
            output,
        })
    }

    /// Writes the embedding of `token` into `out` (`n_embd` floats).
    pub fn embed(&self, token: u32, out: &mut [f32]) -> Result<(), ModelError> {
        let n_vocab = self.tok_embd.n_rows;
        if token as usize >= n_vocab {
            return Err(ModelError::BadToken { token, n_vocab });
        }
        dequantize_row(self.tok_embd.ty, self.tok_embd.row(token as usize), out)?;
        Ok(())
    }

    /// Every weight matrix, with its name (for benchmarks and statistics).
    pub fn matrices(&self) -> impl Iterator<Item = (String, &QMatrix<'a>)> + '_ {
        let layers = self.layers.iter().enumerate().flat_map(|(i, l)| {
            [
                ("attn_q", &l.wq),
                ("attn_k", &l.wk),
                ("attn_v", &l.wv),
                ("attn_output", &l.wo),
                ("ffn_gate", &l.w_gate),
                ("ffn_up", &l.w_up),
                ("ffn_down", &l.w_down),
            ]
            .into_iter()
            .map(move |(n, m)| (alloc::format!("blk.{i}.{n}.weight"), m))
        });
        layers.chain(core::iter::once((
            "output.weight".to_string(),
            &self.output,
        )))
    }
}

fn tensor<'g, 'a>(gguf: &'g Gguf<'a>, name: &str) -> Result<&'g TensorInfo<'a>, ModelError> {
    gguf.tensor(name)
        .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
}

fn check_shape(t: &TensorInfo<'_>, expected: &[u64]) -> Result<(), ModelError> {
    // Trailing dimensions of 1 are allowed (some writers emit them).
    let mut found: &[u64] = &t.dims;
    while found.len() > expected.len() && found.last() == Some(&1) {
        found = &found[..found.len() - 1];
    }
    if found != expected {
        return Err(ModelError::BadShape {
            name: t.name.to_string(),
            expected: expected.to_vec(),
            found: t.dims.clone(),
        });
    }
    Ok(())
}

/// Why a tensor of type `ty` with (checked) GGML dims `shape` cannot be a
/// vector (`[len]`: F32 or F16 only) or a weight matrix (`[n_cols, n_rows]`:
/// a type the kernels multiply, rows of whole blocks); `None` if it can.
/// [`crate::support::check`] names the same problems.
pub(crate) fn type_problem(ty: GgmlType, shape: &[u64]) -> Option<&'static str> {
    if shape.len() == 1 {
        return (!matches!(ty, GgmlType::F32 | GgmlType::F16))
            .then_some("a norm or bias must be F32 or F16");
    }
    match ActType::for_weight(ty) {
        None => Some("not usable as a weight matrix"),
        Some(a) if !(shape[0] as usize).is_multiple_of(a.block_len()) => {
            Some("its rows are not a whole number of blocks")
        }
        Some(_) => None,
    }
}

/// The tensor `name` with GGML dims `shape`, if its type suits the shape.
fn typed<'g, 'a>(
    gguf: &'g Gguf<'a>,
    name: &str,
    shape: &[u64],
) -> Result<&'g TensorInfo<'a>, ModelError> {
    let t = tensor(gguf, name)?;
    check_shape(t, shape)?;
    match type_problem(t.ty, shape) {
        Some(_) => Err(ModelError::UnsupportedType {
            name: name.to_string(),
            ty: t.ty,
        }),
        None => Ok(t),
    }
}

/// A weight matrix of `n_rows` rows of `n_cols` (GGML dims `[n_cols, n_rows]`).
fn matrix<'a>(
    gguf: &Gguf<'a>,
    name: &str,
    n_cols: u64,
    n_rows: u64,
) -> Result<QMatrix<'a>, ModelError> {
    let t = typed(gguf, name, &[n_cols, n_rows])?;
    QMatrix::new(t.ty, n_cols as usize, n_rows as usize, t.data).map_err(ModelError::Quant)
}

/// A vector of `len` floats (F32 or F16), copied.
fn vector(gguf: &Gguf<'_>, name: &str, len: u64) -> Result<Vec<f32>, ModelError> {
    let t = typed(gguf, name, &[len])?;
    let mut out = vec![0.0; len as usize];
    dequantize_row(t.ty, t.data, &mut out)?;
    Ok(out)
}
