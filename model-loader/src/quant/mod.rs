//! Quantized formats, their scalar reference kernels, and the backend
//! dispatch table the decoder calls through.
//!
//! # Formats
//! Weights stay in the model file's bytes (no copies): a [`QMatrix`] borrows
//! a tensor's data and names its [`GgmlType`]. Supported weight types:
//! F32, F16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K ([`SUPPORTED_WEIGHT_TYPES`]);
//! their block layouts are in [`blocks::layout`]. Activations are quantized
//! once per batch to the type llama.cpp pairs with each weight type
//! ([`ActType::for_weight`]): Q4_0/Q5_0/Q8_0 → Q8_0, Q4_1 → Q8_1,
//! Q4_K/Q6_K → Q8_K, F16 → F16, F32 → F32, with llama.cpp's exact rounding
//! (see [`act`]). [`ActBuffer`] holds one batch and converts it lazily per
//! activation type; [`Acts`] is the view a kernel receives.
//!
//! # Kernels and backends
//! A [`Backend`] is a table of plain function pointers:
//! - `gemm_<type>` ([`GemmFn`]): `out[t * ld + (r - rows.start)] = w.row(r) ·
//!   x.token(t)` for the rows in `rows` and all `x.n_tokens` tokens: decode is
//!   `n_tokens == 1`, prefill a batch. The row range lets callers split a
//!   matrix across CPUs.
//! - activation quantizers (`quantize_q8_0`, `quantize_q8_1`,
//!   `quantize_q8_k`, `quantize_f16`): must be bit-identical to the scalar
//!   ones.
//! - the decoder's vector helpers: `add`, `rmsnorm`, `softmax`, `silu_mul`,
//!   `rope`, `attend` (one attention head over f16 keys/values), `dot_f32`.
//!
//! [`SCALAR`] is the reference. Other backends are built from it with
//! struct-update syntax (`Backend { name: "avx2", gemm_q4_0: ..., ..SCALAR }`),
//! registered in [`BACKENDS`], and checked with
//! [`testing::check_backend`]. Every backend is deterministic, so a run can
//! be reproduced exactly by choosing the same backend by name
//! ([`by_name`]; `LLM_BACKEND` / `--backend` on the host, [`from_env`]).
//! [`Backend::gemm`] checks operand sizes and dispatches on the weight type.

#![allow(clippy::chunks_exact_to_as_chunks)] // slices of runtime-checked length read better here

pub mod act;
pub mod backend;
pub mod blocks;
pub mod dequant;
pub mod matrix;
pub mod profile;
pub mod quantize;
pub mod scalar;
pub mod simd;
pub mod testing;

pub use act::ActBuffer;
#[cfg(feature = "std")]
pub use backend::from_env;
pub use backend::{
    available, best, by_name, AttendFn, Backend, GemmFn, OwnedActs, BACKENDS, SCALAR,
};
pub use blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K, QK, QK_K};
pub use dequant::dequantize_row;
pub use matrix::{check_gemm, ActData, ActType, Acts, QMatrix, QuantError, SUPPORTED_WEIGHT_TYPES};
pub use quantize::quantize;

pub use crate::ggml::GgmlType;

#[cfg(test)]
mod tests;
