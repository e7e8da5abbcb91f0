//! Weight quantizers (reference quality): for tests and for writing small
//! models. Q4_0, Q4_1, Q5_0 and Q8_0 follow llama.cpp's `quantize_row_*_ref`
//! exactly; Q4_K and Q6_K use a simple min/max (resp. abs-max) fit per
//! sub-block rather than llama.cpp's iterative search, which is good enough
//! for tests (the decoder only ever reads these formats).

use alloc::vec::Vec;

use half::f16;

use super::blocks::{round_f16, QK, QK_K};
use super::matrix::QuantError;
use crate::ggml::GgmlType;

/// Encodes `x` (a whole number of blocks) as `ty`.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    if !x.len().is_multiple_of(ty.block_len()) {
        return Err(QuantError::Shape(
            "quantize: length is not a multiple of the block length",
        ));
    }
    let mut out = Vec::with_capacity(ty.row_bytes(x.len()));
    match ty {
        GgmlType::F32 => x
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => x
            .iter()
            .for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_bits().to_le_bytes())),
        GgmlType::Q4_0 => x.as_chunks::<QK>().0.iter().for_each(|b| q4_0(b, &mut out)),
        GgmlType::Q4_1 => x.as_chunks::<QK>().0.iter().for_each(|b| q4_1(b, &mut out)),
        GgmlType::Q5_0 => x.as_chunks::<QK>().0.iter().for_each(|b| q5_0(b, &mut out)),
        GgmlType::Q8_0 => x.as_chunks::<QK>().0.iter().for_each(|b| q8_0(b, &mut out)),
        GgmlType::Q4_K => x
            .as_chunks::<QK_K>()
            .0
            .iter()
            .for_each(|b| q4_k(b, &mut out)),
        GgmlType::Q6_K => x
            .as_chunks::<QK_K>()
            .0
            .iter()
            .for_each(|b| q6_k(b, &mut out)),
        other => return Err(QuantError::UnsupportedType(other)),
    }
    Ok(out)
}

fn put_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
}

/// The element of largest magnitude, with its sign.
fn signed_max(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < libm::fabsf(v) {
            amax = libm::fabsf(v);
            max = v;
        }
    }
    max
}

/// C's `(int8_t)` conversion of a float in range: truncation toward zero.
fn trunc_i32(v: f32) -> i32 {
    v as i32
}

fn q4_0(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_max(x) / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    for j in 0..QK / 2 {
        let a = trunc_i32(x[j] * id + 8.5).min(15) as u8;
        let b = trunc_i32(x[j + QK / 2] * id + 8.5).min(15) as u8;
        out.push(a | (b << 4));
    }
}

fn q4_1(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().copied().fold(f32::MAX, f32::min);
    let max = x.iter().copied().fold(-f32::MAX, f32::max);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    put_f16(out, min);
    for j in 0..QK / 2 {
        let a = trunc_i32((x[j] - min) * id + 0.5).min(15) as u8;
        let b = trunc_i32((x[j + QK / 2] - min) * id + 0.5).min(15) as u8;
        out.push(a | (b << 4));
    }
}

fn q5_0(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_max(x) / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    let mut qh = 0u32;
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        let a = trunc_i32(x[j] * id + 16.5).min(31) as u32;
        let b = trunc_i32(x[j + QK / 2] * id + 16.5).min(31) as u32;
        qs[j] = ((a & 0xF) | ((b & 0xF) << 4)) as u8;
        qh |= ((a & 0x10) >> 4) << j;
        qh |= ((b & 0x10) >> 4) << (j + QK / 2);
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend_from_slice(&qs);
}

fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, &v| m.max(libm::fabsf(v)));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    for &v in x {
        out.push(libm::roundf(v * id) as i8 as u8);
    }
}

fn nearest(v: f32) -> i32 {
    libm::rintf(v) as i32
}

fn q4_k(x: &[f32], out: &mut Vec<u8>) {
    // Per 32-element sub-block: x ≈ scale * q - min, q in 0..16.
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    for (j, sub) in x.as_chunks::<32>().0.iter().enumerate() {
        let lo = sub.iter().copied().fold(0.0f32, f32::min);
        let hi = sub.iter().copied().fold(lo, f32::max);
        scales[j] = (hi - lo) / 15.0;
        mins[j] = -lo;
    }
    let max_scale = scales.iter().copied().fold(0.0f32, f32::max);
    let max_min = mins.iter().copied().fold(0.0f32, f32::max);
    let d = round_f16(max_scale / 63.0);
    let dmin = round_f16(max_min / 63.0);
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        ls[j] = if d > 0.0 {
            nearest(scales[j] / d).clamp(0, 63) as u8
        } else {
            0
        };
        lm[j] = if dmin > 0.0 {
            nearest(mins[j] / dmin).clamp(0, 63) as u8
        } else {
            0
        };
    }
    let mut packed = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            packed[j - 4] |= (ls[j] >> 4) << 6;
            packed[j] |= (lm[j] >> 4) << 6;
        }
    }
    let mut q = [0u8; QK_K];
    for j in 0..8 {
        let dl = d * ls[j] as f32;
        let ml = dmin * lm[j] as f32;
        for l in 0..32 {
            let v = x[32 * j + l];
            q[32 * j + l] = if dl > 0.0 {
                nearest((v + ml) / dl).clamp(0, 15) as u8
            } else {
                0
            };
        }
    }
    put_f16(out, d);
    put_f16(out, dmin);
    out.extend_from_slice(&packed);
    for c in 0..4 {
        for l in 0..32 {
            out.push(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
        }
    }
}

fn q6_k(x: &[f32], out: &mut Vec<u8>) {
    // Per 16-element sub-block: x ≈ scale * q, q in -32..32.
    let mut scales = [0.0f32; 16];
    for (j, sub) in x.as_chunks::<16>().0.iter().enumerate() {
        scales[j] = signed_max(sub) / -32.0;
    }
    let max_scale = signed_max(&scales);
    let (d, sc) = if max_scale == 0.0 {
        (0.0, [0i8; 16])
    } else {
        let iscale = -128.0 / max_scale;
        let mut sc = [0i8; 16];
        for j in 0..16 {
            sc[j] = nearest(iscale * scales[j]).clamp(-128, 127) as i8;
        }
        (round_f16(1.0 / iscale), sc)
    };
    let mut l = [0u8; QK_K];
    for j in 0..16 {
        let dl = d * sc[j] as f32;
        for i in 0..16 {
            let q = if dl != 0.0 {
                nearest(x[16 * j + i] / dl).clamp(-32, 31)
            } else {
                0
            };
            l[16 * j + i] = (q + 32) as u8;
        }
    }
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for half in 0..2 {
        let (j, qlo, qho) = (128 * half, 64 * half, 32 * half);
        for i in 0..32 {
            let (a, b, c, e) = (l[j + i], l[j + i + 32], l[j + i + 64], l[j + i + 96]);
            ql[qlo + i] = (a & 0xF) | ((c & 0xF) << 4);
            ql[qlo + i + 32] = (b & 0xF) | ((e & 0xF) << 4);
            qh[qho + i] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
        }
    }
    out.extend_from_slice(&ql);
    out.extend_from_slice(&qh);
    out.extend(sc.iter().map(|&s| s as u8));
    put_f16(out, d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::dequantize_row;
    use crate::rng::Rng;

    /// Quantize → dequantize round trips within each format's resolution.
    #[test]
    fn round_trip_error_is_small() {
        let mut rng = Rng::new(7);
        let x: Vec<f32> = (0..1024).map(|_| rng.normal()).collect();
        let rms = |e: &[f32]| libm::sqrtf(e.iter().map(|v| v * v).sum::<f32>() / e.len() as f32);
        for (ty, max_rel) in [
            (GgmlType::F32, 0.0),
            (GgmlType::F16, 0.001),
            (GgmlType::Q8_0, 0.01),
            (GgmlType::Q6_K, 0.05),
            (GgmlType::Q5_0, 0.06),
            (GgmlType::Q4_0, 0.13),
            (GgmlType::Q4_1, 0.13),
            (GgmlType::Q4_K, 0.13),
        ] {
            let bytes = quantize(ty, &x).unwrap();
            assert_eq!(bytes.len(), ty.row_bytes(x.len()), "{ty}");
            let mut y = alloc::vec![0.0; x.len()];
            dequantize_row(ty, &bytes, &mut y).unwrap();
            let err: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
            let rel = rms(&err) / rms(&x);
            assert!(rel <= max_rel, "{ty}: relative rms error {rel}");
            if ty != GgmlType::F32 {
                assert!(rel > 0.0, "{ty}: lossless?");
            }
        }
    }

    #[test]
    fn q4_0_matches_reference_layout() {
        // max = -8 → d = 1: q = x + 8 (truncated after +0.5).
        let mut x = [0.0f32; 32];
        x[0] = -8.0;
        x[1] = 7.0;
        x[16] = 3.0;
        let b = quantize(GgmlType::Q4_0, &x).unwrap();
        assert_eq!(&b[..2], &f16::from_f32(1.0).to_bits().to_le_bytes());
        assert_eq!(b[2], (11 << 4));
        assert_eq!(b[3], 15 | (8 << 4));
    }

    #[test]
    fn unsupported_type_is_an_error() {
        assert_eq!(
            quantize(GgmlType::Q2_K, &[0.0; 256]),
            Err(QuantError::UnsupportedType(GgmlType::Q2_K))
        );
        assert!(quantize(GgmlType::Q4_0, &[0.0; 31]).is_err());
    }
}
