//! Checks a [`Backend`] against the scalar reference on random data, for
//! every weight type, batch size and a partial row range. Public (not
//! test-only) so every backend's tests, and the kernel's self-test, can call
//! it:
//!
//! ```ignore
//! #[test]
//! fn avx2_matches_scalar() {
//!     if let Some(b) = quant::by_name("avx2") {
//!         quant::testing::check_backend(b, 1e-5).unwrap();
//!     }
//! }
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use half::f16;

use super::backend::{Backend, SCALAR};
use super::matrix::{ActType, QMatrix, SUPPORTED_WEIGHT_TYPES};
use super::{dequantize_row, quantize};
use crate::ggml::GgmlType;
use crate::rng::Rng;

/// Random activations like a transformer's: mostly small, a few outliers,
/// some exact ties for the rounding rules, and an all-zero block.
pub fn random_activations(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut x: Vec<f32> = (0..n)
        .map(|i| match rng.below(20) {
            0 => rng.normal() * 20.0,
            1 => (rng.below(64) as f32 - 32.0) * 0.5, // halves: ties
            _ if i % 997 == 5 => 0.0,
            _ => rng.normal(),
        })
        .collect();
    if n >= 512 {
        x[256..512].fill(0.0);
    }
    x
}

/// A random `n_rows × n_cols` matrix encoded as `ty`, and its f32 values.
pub fn random_matrix(
    rng: &mut Rng,
    ty: GgmlType,
    n_rows: usize,
    n_cols: usize,
) -> (Vec<u8>, Vec<f32>) {
    let x: Vec<f32> = (0..n_rows * n_cols).map(|_| rng.normal() * 0.05).collect();
    let bytes = quantize(ty, &x).expect("supported type");
    let mut deq = vec![0.0; x.len()];
    dequantize_row(ty, &bytes, &mut deq).expect("sizes match");
    (bytes, deq)
}

fn close(a: f32, b: f32, mag: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * (mag + 1.0)
}

/// Checks every entry of `b` against [`SCALAR`]: matrix kernels within
/// `tol * (Σ|w·x| + 1)`, vector helpers within `tol` relative, activation
/// quantizers bit for bit. Returns what differs.
pub fn check_backend(b: &Backend, tol: f32) -> Result<(), String> {
    let mut rng = Rng::new(0x5eed);
    check_quantizers(b, &mut rng)?;
    for &ty in &SUPPORTED_WEIGHT_TYPES {
        for &n_cols in &[256usize, 1536] {
            check_gemm_type(b, &mut rng, ty, n_cols, tol)?;
        }
    }
    check_vector_ops(b, &mut rng, tol)
}

fn check_quantizers(b: &Backend, rng: &mut Rng) -> Result<(), String> {
    for n in [256usize, 1024, 4864] {
        let x = random_activations(rng, n);
        for ty in ActType::ALL {
            if n % ty.block_len() != 0 {
                continue;
            }
            let want = SCALAR.quantize_vec(ty, &x).map_err(|e| format!("{e}"))?;
            let got = b.quantize_vec(ty, &x).map_err(|e| format!("{e}"))?;
            if want != got {
                return Err(format!(
                    "backend {}: {} activation quantization of {n} values differs from scalar",
                    b.name,
                    ty.name()
                ));
            }
        }
    }
    Ok(())
}

fn check_gemm_type(
    b: &Backend,
    rng: &mut Rng,
    ty: GgmlType,
    n_cols: usize,
    tol: f32,
) -> Result<(), String> {
    let n_rows = 13;
    let (bytes, wf) = random_matrix(rng, ty, n_rows, n_cols);
    let w = QMatrix::new(ty, n_cols, n_rows, &bytes).map_err(|e| format!("{e}"))?;
    let at = w.act_type();
    for n_tokens in [1usize, 3, 8] {
        let x = random_activations(rng, n_cols * n_tokens);
        let acts = SCALAR.quantize_vec(at, &x).map_err(|e| format!("{e}"))?;
        let view = acts.view(n_cols, n_tokens);
        for rows in [0..n_rows, 3..11] {
            let ld = n_rows + 2;
            let len = (n_tokens - 1) * ld + rows.len() + 3;
            let mut want = vec![f32::NAN; len];
            let mut got = vec![f32::NAN; len];
            SCALAR
                .gemm(&w, &view, rows.clone(), &mut want, ld)
                .map_err(|e| format!("{e}"))?;
            b.gemm(&w, &view, rows.clone(), &mut got, ld)
                .map_err(|e| format!("{e}"))?;
            for t in 0..n_tokens {
                for (i, r) in rows.clone().enumerate() {
                    let k = t * ld + i;
                    let xr = &x[t * n_cols..(t + 1) * n_cols];
                    let wr = &wf[r * n_cols..(r + 1) * n_cols];
                    let mag: f32 = wr.iter().zip(xr).map(|(a, c)| (a * c).abs()).sum();
                    if !close(got[k], want[k], mag, tol) {
                        return Err(format!(
                            "backend {}: {ty} × {} ({n_cols} cols, {n_tokens} tokens, rows {rows:?}): row {r} token {t}: {} vs scalar {}",
                            b.name,
                            at.name(),
                            got[k],
                            want[k]
                        ));
                    }
                }
            }
            // Nothing outside the named outputs may be written.
            for (k, v) in got.iter().enumerate() {
                let inside = k % ld < rows.len() && k / ld < n_tokens;
                if !inside && !v.is_nan() {
                    return Err(format!(
                        "backend {}: {ty} kernel wrote outside its output (index {k})",
                        b.name
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_slice(name: &str, what: &str, got: &[f32], want: &[f32], tol: f32) -> Result<(), String> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if !close(*g, *w, w.abs(), tol) {
            return Err(format!("backend {name}: {what}[{i}] = {g}, scalar {w}"));
        }
    }
    Ok(())
}

fn check_vector_ops(b: &Backend, rng: &mut Rng, tol: f32) -> Result<(), String> {
    for n in [64usize, 576, 897] {
        let x: Vec<f32> = (0..n).map(|_| rng.normal() * 3.0).collect();
        let y: Vec<f32> = (0..n).map(|_| rng.normal()).collect();

        let (mut a, mut c) = (y.clone(), y.clone());
        (SCALAR.add)(&mut a, &x);
        (b.add)(&mut c, &x);
        check_slice(b.name, "add", &c, &a, tol)?;

        let (mut a, mut c) = (vec![0.0; n], vec![0.0; n]);
        (SCALAR.rmsnorm)(&mut a, &x, &y, 1e-5);
        (b.rmsnorm)(&mut c, &x, &y, 1e-5);
        check_slice(b.name, "rmsnorm", &c, &a, tol)?;

        let (mut a, mut c) = (x.clone(), x.clone());
        (SCALAR.softmax)(&mut a);
        (b.softmax)(&mut c);
        check_slice(b.name, "softmax", &c, &a, tol)?;

        let (mut a, mut c) = (x.clone(), x.clone());
        (SCALAR.silu_mul)(&mut a, &y);
        (b.silu_mul)(&mut c, &y);
        check_slice(b.name, "silu_mul", &c, &a, tol)?;

        let mag: f32 = x.iter().zip(&y).map(|(p, q)| (p * q).abs()).sum();
        let (d0, d1) = ((SCALAR.dot_f32)(&x, &y), (b.dot_f32)(&x, &y));
        if !close(d1, d0, mag, tol) {
            return Err(format!("backend {}: dot_f32 = {d1}, scalar {d0}", b.name));
        }
    }
    for (head_dim, rope_dim) in [(64usize, 64usize), (64, 32), (128, 128)] {
        let x: Vec<f32> = (0..head_dim * 3).map(|_| rng.normal()).collect();
        let cs: Vec<f32> = (0..rope_dim / 2)
            .flat_map(|i| {
                let t = i as f32 * 0.37 + 0.1;
                [libm::cosf(t), libm::sinf(t)]
            })
            .collect();
        for neox in [false, true] {
            let (mut a, mut c) = (x.clone(), x.clone());
            (SCALAR.rope)(&mut a, head_dim, &cs, neox);
            (b.rope)(&mut c, head_dim, &cs, neox);
            check_slice(b.name, "rope", &c, &a, tol)?;
        }
        for n_pos in [1usize, 7, 100] {
            let h = |rng: &mut Rng, n: usize| -> Vec<f16> {
                (0..n).map(|_| f16::from_f32(rng.normal())).collect()
            };
            let q = h(rng, head_dim);
            let k = h(rng, head_dim * n_pos);
            let v = h(rng, head_dim * n_pos);
            let scale = 1.0 / libm::sqrtf(head_dim as f32);
            let (mut sa, mut sc) = (vec![0.0; n_pos], vec![0.0; n_pos]);
            let (mut oa, mut oc) = (vec![0.0; head_dim], vec![0.0; head_dim]);
            (SCALAR.attend)(&q, &k, &v, scale, &mut sa, &mut oa);
            (b.attend)(&q, &k, &v, scale, &mut sc, &mut oc);
            check_slice(b.name, "attend", &oc, &oa, tol * 10.0)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_passes_its_own_check() {
        check_backend(&SCALAR, 1e-6).unwrap();
    }

    fn wrong_q4_0(
        w: &QMatrix<'_>,
        x: &super::super::Acts<'_>,
        rows: core::ops::Range<usize>,
        out: &mut [f32],
        ld: usize,
    ) {
        (SCALAR.gemm_q4_0)(w, x, rows.clone(), out, ld);
        out[0] += 0.01;
    }

    fn wrong_q8_0(x: &[f32], y: &mut [super::super::BlockQ8_0]) {
        super::super::act::quantize_q8_0(x, y);
        y[0].qs[0] = y[0].qs[0].wrapping_add(1);
    }

    #[test]
    fn a_wrong_backend_is_caught() {
        let bad = Backend {
            name: "bad-gemm",
            gemm_q4_0: wrong_q4_0,
            ..SCALAR
        };
        let e = check_backend(&bad, 1e-5).unwrap_err();
        assert!(e.contains("Q4_0"), "{e}");
        let bad = Backend {
            name: "bad-quant",
            quantize_q8_0: wrong_q8_0,
            ..SCALAR
        };
        let e = check_backend(&bad, 1e-5).unwrap_err();
        assert!(e.contains("Q8_0 activation"), "{e}");
    }
}
