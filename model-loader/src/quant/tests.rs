//! Every weight type's dot product against dequantize-then-f64 on random
//! blocks.

use alloc::vec;
use alloc::vec::Vec;

use super::testing::{random_activations, random_matrix};
use super::*;
use crate::rng::Rng;

/// The activations as the kernel sees them, back in f32 (q * d).
fn dequantize_acts(a: &OwnedActs) -> Vec<f32> {
    match a {
        OwnedActs::F32(v) => v.clone(),
        OwnedActs::F16(v) => v.iter().map(|h| h.to_f32()).collect(),
        OwnedActs::Q8_0(v) => v
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| q as f32 * b.d))
            .collect(),
        OwnedActs::Q8_1(v) => v
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| q as f32 * b.d))
            .collect(),
        OwnedActs::Q8_K(v) => v
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| q as f32 * b.d))
            .collect(),
    }
}

#[test]
fn dot_products_match_dequantized_f64() {
    let mut rng = Rng::new(99);
    for &ty in &SUPPORTED_WEIGHT_TYPES {
        let n = 1024;
        let (bytes, wf) = random_matrix(&mut rng, ty, 4, n);
        let w = QMatrix::new(ty, n, 4, &bytes).unwrap();
        let x = random_activations(&mut rng, n);
        let acts = SCALAR.quantize_vec(w.act_type(), &x).unwrap();
        let xq = dequantize_acts(&acts);
        let mut out = vec![0.0; 4];
        SCALAR
            .gemm(&w, &acts.view(n, 1), 0..4, &mut out, 4)
            .unwrap();
        for r in 0..4 {
            let row = &wf[r * n..(r + 1) * n];
            let exact: f64 = row
                .iter()
                .zip(&xq)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let mag: f64 = row
                .iter()
                .zip(&xq)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            let err = (out[r] as f64 - exact).abs();
            // Q4_1's `s` and `m` terms are rounded to f16 by design (as in
            // llama.cpp), so it is looser.
            let tol = if ty == GgmlType::Q4_1 { 2e-3 } else { 1e-5 };
            assert!(
                err <= tol * (mag + 1e-3),
                "{ty} row {r}: {} vs {exact} (mag {mag})",
                out[r]
            );
            // And the quantized activations are close to the floats.
            let approx: f64 = row.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(
                (approx - exact).abs() <= 0.02 * mag,
                "{ty}: activation quantization error"
            );
        }
    }
}

#[test]
fn gemm_rejects_bad_operands() {
    let mut rng = Rng::new(1);
    let (bytes, _) = random_matrix(&mut rng, GgmlType::Q4_0, 4, 64);
    let w = QMatrix::new(GgmlType::Q4_0, 64, 4, &bytes).unwrap();
    let x = SCALAR.quantize_vec(ActType::Q8_0, &[0.5; 64]).unwrap();
    let xk = SCALAR.quantize_vec(ActType::Q8_1, &[0.5; 64]).unwrap();
    let mut out = [0.0; 4];
    assert!(SCALAR.gemm(&w, &x.view(64, 1), 0..4, &mut out, 4).is_ok());
    assert!(SCALAR.gemm(&w, &x.view(64, 1), 0..5, &mut out, 4).is_err());
    assert!(SCALAR
        .gemm(&w, &x.view(64, 1), 0..4, &mut out[..3], 4)
        .is_err());
    assert!(SCALAR.gemm(&w, &x.view(64, 2), 0..4, &mut out, 4).is_err());
    assert!(SCALAR.gemm(&w, &xk.view(64, 1), 0..4, &mut out, 4).is_err());
    assert!(QMatrix::new(GgmlType::Q4_0, 64, 5, &bytes).is_err());
    assert!(QMatrix::new(GgmlType::Q2_K, 256, 1, &[0; 84]).is_err());
}

#[test]
fn act_buffer_converts_lazily_and_checks_sizes() {
    let mut buf = ActBuffer::new(512, 2);
    let x: Vec<f32> = (0..1024).map(|i| libm::sinf(i as f32 * 0.1)).collect();
    assert!(buf.set(&x, 512, 3).is_err());
    buf.set(&x, 512, 2).unwrap();
    let a = buf.get(ActType::Q8_0, &SCALAR).unwrap();
    assert_eq!(a.n_tokens, 2);
    let want = SCALAR.quantize_vec(ActType::Q8_0, &x).unwrap();
    match (a.data, &want) {
        (ActData::Q8_0(got), OwnedActs::Q8_0(w)) => assert_eq!(got, &w[..]),
        _ => panic!("wrong type"),
    }
    let k = buf.get(ActType::Q8_K, &SCALAR).unwrap();
    assert_eq!(k.blocks_per_token(), 2);
    buf.set(&x[..96], 96, 1).unwrap();
    assert!(buf.get(ActType::Q8_K, &SCALAR).is_err());
    assert!(buf.get(ActType::Q8_1, &SCALAR).is_ok());
}
