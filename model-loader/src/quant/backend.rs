//! The backend dispatch table: one [`Backend`] per implementation (scalar
//! reference, SIMD variants), selectable by name.

use core::ops::Range;

use half::f16;

use super::blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K};
use super::matrix::{check_gemm, ActType, Acts, QMatrix, QuantError};
use super::{act, scalar};
use crate::ggml::GgmlType;

/// A matrix product kernel for one weight type: for every token `t <
/// x.n_tokens` and row `r` in `rows`,
/// `out[t * ld + (r - rows.start)] = w.row(r) · x.token(t)`.
///
/// `x.n_tokens == 1` is single-token decode (matrix × vector); larger
/// batches are prefill, where a kernel should reuse each weight block for
/// all tokens. Kernels may rely on [`check_gemm`] having accepted the
/// operands (the activations are of `w`'s activation type, sizes fit); they
/// must be deterministic and must not write outside the `out` elements
/// named above.
pub type GemmFn = fn(w: &QMatrix<'_>, x: &Acts<'_>, rows: Range<usize>, out: &mut [f32], ld: usize);

/// See [`scalar::attend`].
pub type AttendFn =
    fn(q: &[f16], keys: &[f16], values: &[f16], scale: f32, scores: &mut [f32], out: &mut [f32]);

/// A complete set of kernels. Build a new backend from [`SCALAR`] with
/// struct-update syntax, replacing the entries it speeds up:
///
/// ```ignore
/// pub const AVX2: Backend = Backend {
///     name: "avx2",
///     available: has_avx2_fma,
///     gemm_q4_0: avx2::gemm_q4_0,
///     ..SCALAR
/// };
/// ```
///
/// Contract: every entry computes what the scalar entry computes, within a
/// tolerance for the float entries (summation order may differ); the
/// activation quantizers must be bit-identical to the scalar ones (they
/// define the rounding that matches llama.cpp). [`super::testing::check_backend`]
/// checks all of this on random data.
#[derive(Clone, Copy)]
pub struct Backend {
    /// Short unique name, used by `--backend NAME` and `LLM_BACKEND`.
    pub name: &'static str,
    /// Whether this CPU can run it (CPUID/XGETBV checks; no std needed).
    pub available: fn() -> bool,

    pub gemm_f32: GemmFn,
    pub gemm_f16: GemmFn,
    pub gemm_q4_0: GemmFn,
    pub gemm_q4_1: GemmFn,
    pub gemm_q5_0: GemmFn,
    pub gemm_q8_0: GemmFn,
    pub gemm_q4_k: GemmFn,
    pub gemm_q6_k: GemmFn,

    /// Activation quantizers (`x.len() == block_len * y.len()`).
    pub quantize_q8_0: fn(x: &[f32], y: &mut [BlockQ8_0]),
    pub quantize_q8_1: fn(x: &[f32], y: &mut [BlockQ8_1]),
    pub quantize_q8_k: fn(x: &[f32], y: &mut [BlockQ8_K]),
    pub quantize_f16: fn(x: &[f32], y: &mut [f16]),

    /// `y += x`.
    pub add: fn(y: &mut [f32], x: &[f32]),
    /// `out = x / rms(x) * w` (see [`scalar::rmsnorm`]).
    pub rmsnorm: fn(out: &mut [f32], x: &[f32], w: &[f32], eps: f32),
    /// In-place softmax.
    pub softmax: fn(x: &mut [f32]),
    /// `gate = silu(gate) * up`.
    pub silu_mul: fn(gate: &mut [f32], up: &[f32]),
    /// RoPE over all heads of one token (see [`scalar::rope`]).
    pub rope: fn(x: &mut [f32], head_dim: usize, cos_sin: &[f32], neox: bool),
    /// One attention head over the cached positions.
    pub attend: AttendFn,
    /// `a · b`.
    pub dot_f32: fn(a: &[f32], b: &[f32]) -> f32,
}

fn always() -> bool {
    true
}

/// The scalar reference backend: runs everywhere, defines the results.
pub const SCALAR: Backend = Backend {
    name: "scalar",
    available: always,
    gemm_f32: scalar::gemm_f32,
    gemm_f16: scalar::gemm_f16,
    gemm_q4_0: scalar::gemm_q4_0,
    gemm_q4_1: scalar::gemm_q4_1,
    gemm_q5_0: scalar::gemm_q5_0,
    gemm_q8_0: scalar::gemm_q8_0,
    gemm_q4_k: scalar::gemm_q4_k,
    gemm_q6_k: scalar::gemm_q6_k,
    quantize_q8_0: act::quantize_q8_0,
    quantize_q8_1: act::quantize_q8_1,
    quantize_q8_k: act::quantize_q8_k,
    quantize_f16: act::quantize_f16,
    add: scalar::add,
    rmsnorm: scalar::rmsnorm,
    softmax: scalar::softmax,
    silu_mul: scalar::silu_mul,
    rope: scalar::rope,
    attend: scalar::attend,
    dot_f32: scalar::dot_f32,
};

/// Every backend compiled in, in order of preference (best last). SIMD
/// backends register here.
pub static BACKENDS: &[&Backend] = super::simd::BACKENDS;

impl Backend {
    /// The matrix kernel for weights of type `ty`.
    pub fn gemm_fn(&self, ty: GgmlType) -> Result<GemmFn, QuantError> {
        Ok(match ty {
            GgmlType::F32 => self.gemm_f32,
            GgmlType::F16 => self.gemm_f16,
            GgmlType::Q4_0 => self.gemm_q4_0,
            GgmlType::Q4_1 => self.gemm_q4_1,
            GgmlType::Q5_0 => self.gemm_q5_0,
            GgmlType::Q8_0 => self.gemm_q8_0,
            GgmlType::Q4_K => self.gemm_q4_k,
            GgmlType::Q6_K => self.gemm_q6_k,
            other => return Err(QuantError::UnsupportedType(other)),
        })
    }

    /// Checked matrix product: `out[t * ld + (r - rows.start)] = w.row(r) ·
    /// x.token(t)` for `r` in `rows` and every token of `x`. Rows can be split
    /// into ranges computed separately (e.g. on several CPUs).
    pub fn gemm(
        &self,
        w: &QMatrix<'_>,
        x: &Acts<'_>,
        rows: Range<usize>,
        out: &mut [f32],
        ld: usize,
    ) -> Result<(), QuantError> {
        check_gemm(w, x, &rows, out, ld)?;
        if rows.is_empty() || x.n_tokens == 0 {
            return Ok(());
        }
        (self.gemm_fn(w.ty)?)(w, x, rows, out, ld);
        Ok(())
    }

    /// Quantizes `x` (a whole number of blocks) into activations of type
    /// `ty` for a single use (allocates; the decoder uses
    /// [`super::ActBuffer`] instead).
    pub fn quantize_vec(&self, ty: ActType, x: &[f32]) -> Result<OwnedActs, QuantError> {
        if !x.len().is_multiple_of(ty.block_len()) {
            return Err(QuantError::Shape(
                "length is not a multiple of the block length",
            ));
        }
        let nb = x.len() / ty.block_len();
        Ok(match ty {
            ActType::F32 => OwnedActs::F32(x.to_vec()),
            ActType::F16 => {
                let mut y = alloc::vec![f16::ZERO; nb];
                (self.quantize_f16)(x, &mut y);
                OwnedActs::F16(y)
            }
            ActType::Q8_0 => {
                let mut y = alloc::vec![BlockQ8_0::ZERO; nb];
                (self.quantize_q8_0)(x, &mut y);
                OwnedActs::Q8_0(y)
            }
            ActType::Q8_1 => {
                let mut y = alloc::vec![BlockQ8_1::ZERO; nb];
                (self.quantize_q8_1)(x, &mut y);
                OwnedActs::Q8_1(y)
            }
            ActType::Q8_K => {
                let mut y = alloc::vec![BlockQ8_K::ZERO; nb];
                (self.quantize_q8_k)(x, &mut y);
                OwnedActs::Q8_K(y)
            }
        })
    }
}

/// Quantized activations owned by the caller (see [`Backend::quantize_vec`]).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedActs {
    F32(alloc::vec::Vec<f32>),
    F16(alloc::vec::Vec<f16>),
    Q8_0(alloc::vec::Vec<BlockQ8_0>),
    Q8_1(alloc::vec::Vec<BlockQ8_1>),
    Q8_K(alloc::vec::Vec<BlockQ8_K>),
}

impl OwnedActs {
    /// A view of `n_tokens` rows of `n_cols` elements.
    pub fn view(&self, n_cols: usize, n_tokens: usize) -> Acts<'_> {
        use super::matrix::ActData;
        let data = match self {
            OwnedActs::F32(v) => ActData::F32(v),
            OwnedActs::F16(v) => ActData::F16(v),
            OwnedActs::Q8_0(v) => ActData::Q8_0(v),
            OwnedActs::Q8_1(v) => ActData::Q8_1(v),
            OwnedActs::Q8_K(v) => ActData::Q8_K(v),
        };
        Acts {
            data,
            n_cols,
            n_tokens,
        }
    }
}

/// The backend called `name`, if it is compiled in and this CPU can run it.
pub fn by_name(name: &str) -> Option<&'static Backend> {
    BACKENDS
        .iter()
        .copied()
        .find(|b| b.name.eq_ignore_ascii_case(name) && (b.available)())
}

/// The backends this CPU can run, in order of preference (best last).
pub fn available() -> impl Iterator<Item = &'static Backend> {
    BACKENDS.iter().copied().filter(|b| (b.available)())
}

/// The preferred backend this CPU can run (the last available one). The
/// kernel may instead time the available ones and pick the fastest.
pub fn best() -> &'static Backend {
    available().last().unwrap_or(&SCALAR)
}

/// The backend named by `$LLM_BACKEND` if set (an error if it names no
/// available backend), else [`best`].
#[cfg(feature = "std")]
pub fn from_env() -> Result<&'static Backend, alloc::string::String> {
    match std::env::var("LLM_BACKEND") {
        Ok(name) if !name.is_empty() => by_name(&name).ok_or_else(|| unknown_backend(&name)),
        _ => Ok(best()),
    }
}

/// The error message for a backend name that is not available here.
pub fn unknown_backend(name: &str) -> alloc::string::String {
    let mut names = alloc::string::String::new();
    for b in available() {
        if !names.is_empty() {
            names.push_str(", ");
        }
        names.push_str(b.name);
    }
    alloc::format!("no backend `{name}` on this CPU (available: {names})")
}
