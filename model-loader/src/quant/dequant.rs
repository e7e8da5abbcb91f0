//! Dequantization to f32 (llama.cpp's `dequantize_row_*`). Used for the token
//! embedding lookup and by tests; never on the matrix-product hot path.

use super::blocks::{f16_at, layout, scale_min_k4, QK, QK_K};
use super::matrix::QuantError;
use crate::ggml::GgmlType;

/// Dequantizes `out.len()` elements of type `ty` from `src` (which must hold
/// exactly those elements).
pub fn dequantize_row(ty: GgmlType, src: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let n = out.len();
    if !n.is_multiple_of(ty.block_len()) || src.len() != ty.row_bytes(n) {
        return Err(QuantError::Shape(
            "dequantize: source and destination sizes differ",
        ));
    }
    match ty {
        GgmlType::F32 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = f16_at(b, 0);
            }
        }
        GgmlType::Q4_0 => blocks(src, out, layout::q4_0::BYTES, QK, q4_0),
        GgmlType::Q4_1 => blocks(src, out, layout::q4_1::BYTES, QK, q4_1),
        GgmlType::Q5_0 => blocks(src, out, layout::q5_0::BYTES, QK, q5_0),
        GgmlType::Q8_0 => blocks(src, out, layout::q8_0::BYTES, QK, q8_0),
        GgmlType::Q4_K => blocks(src, out, layout::q4_k::BYTES, QK_K, q4_k),
        GgmlType::Q6_K => blocks(src, out, layout::q6_k::BYTES, QK_K, q6_k),
        other => return Err(QuantError::UnsupportedType(other)),
    }
    Ok(())
}

fn blocks(src: &[u8], out: &mut [f32], bytes: usize, len: usize, f: fn(&[u8], &mut [f32])) {
    for (b, o) in src.chunks_exact(bytes).zip(out.chunks_exact_mut(len)) {
        f(b, o);
    }
}

fn q4_0(b: &[u8], y: &mut [f32]) {
    use layout::q4_0::*;
    let d = f16_at(b, D);
    for j in 0..QK / 2 {
        let q = b[QS + j];
        y[j] = ((q & 0xF) as i32 - 8) as f32 * d;
        y[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}

fn q4_1(b: &[u8], y: &mut [f32]) {
    use layout::q4_1::*;
    let d = f16_at(b, D);
    let m = f16_at(b, M);
    for j in 0..QK / 2 {
        let q = b[QS + j];
        y[j] = (q & 0xF) as f32 * d + m;
        y[j + QK / 2] = (q >> 4) as f32 * d + m;
    }
}

fn q5_0(b: &[u8], y: &mut [f32]) {
    use layout::q5_0::*;
    let d = f16_at(b, D);
    let qh = u32::from_le_bytes([b[QH], b[QH + 1], b[QH + 2], b[QH + 3]]);
    for j in 0..QK / 2 {
        let q = b[QS + j];
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        y[j] = (((q & 0xF) | h0) as i32 - 16) as f32 * d;
        y[j + QK / 2] = (((q >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

fn q8_0(b: &[u8], y: &mut [f32]) {
    use layout::q8_0::*;
    let d = f16_at(b, D);
    for j in 0..QK {
        y[j] = (b[QS + j] as i8) as f32 * d;
    }
}

fn q4_k(b: &[u8], y: &mut [f32]) {
    use layout::q4_k::*;
    let d = f16_at(b, D);
    let dmin = f16_at(b, DMIN);
    let scales = &b[SCALES..SCALES + 12];
    for chunk in 0..4 {
        let q = &b[QS + 32 * chunk..QS + 32 * chunk + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
        let y = &mut y[64 * chunk..64 * chunk + 64];
        for l in 0..32 {
            y[l] = d1 * (q[l] & 0xF) as f32 - m1;
            y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

fn q6_k(b: &[u8], y: &mut [f32]) {
    use layout::q6_k::*;
    let d = f16_at(b, D);
    for half in 0..2 {
        let ql = &b[QL + 64 * half..QL + 64 * half + 64];
        let qh = &b[QH + 32 * half..QH + 32 * half + 32];
        let sc = &b[SCALES + 8 * half..SCALES + 8 * half + 8];
        let y = &mut y[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}
