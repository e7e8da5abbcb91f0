//! Integer-only AVX2 kernels for QEMU's TCG (placeholder: scalar).
pub use crate::quant::scalar::{gemm_q4_0, gemm_q4_1, gemm_q4_k, gemm_q5_0, gemm_q6_k, gemm_q8_0};
pub fn available() -> bool {
    crate::cpu::detect().avx2
}
