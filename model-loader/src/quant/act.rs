//! Activation quantization, bit for bit as llama.cpp's CPU backend on x86
//! with AVX2 (the machine the golden outputs come from):
//!
//! - Q8_0 and Q8_1 (`quantize_row_q8_0` / `quantize_row_q8_1`, AVX2 path):
//!   `amax = max|x|`, `d = amax / 127`, `id = 127 / amax` (0 if `amax == 0`),
//!   `q = round_half_even(x * id)`; the stored `d` is `d` rounded to f16; for
//!   Q8_1, `s = f16(d * sum(q))` with the unrounded `d`. (The portable
//!   `_ref` versions use `roundf`, half away from zero, and `id = 1 / d`:
//!   they differ in rare ties, and the AVX2 path is what llama.cpp runs.)
//! - Q8_K (`quantize_row_q8_K_ref`, which llama.cpp runs on x86 too):
//!   `max` = the element of largest magnitude (with its sign),
//!   `iscale = -127 / max`, `q = min(127, nearest_int(iscale * x))` (ties to
//!   even), `d = 1 / iscale`, `bsums` = sums of 16 quants.
//! - F16: each element rounded to f16 (for F16 weights).
//!
//! [`ActBuffer`] owns the quantized copies of one batch of activations and
//! converts lazily, once per activation type, however many matrices use it.

use alloc::vec::Vec;

use half::f16;

use super::blocks::{round_f16, BlockQ8_0, BlockQ8_1, BlockQ8_K, QK, QK_K};
use super::matrix::{ActData, ActType, Acts, QuantError};
use super::Backend;

/// Rounds to the nearest integer, ties to even (`_mm256_round_ps` with
/// `_MM_ROUND_NEAREST`, and llama.cpp's `nearest_int`).
#[inline(always)]
pub fn round_ties_even(x: f32) -> f32 {
    libm::rintf(x)
}

/// Largest |x| of a slice (0 for an empty slice; NaN is ignored).
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let mut m = 0.0f32;
    for &v in x {
        let a = libm::fabsf(v);
        if a > m {
            m = a;
        }
    }
    m
}

#[inline(always)]
fn to_i8_saturating(v: f32) -> i8 {
    // `as` saturates (and maps NaN to 0), like the packs instructions.
    (v as i32).clamp(-128, 127) as i8
}

/// Reference Q8_0 activation quantization: `x.len() == 32 * y.len()`.
pub fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (xb, yb) in x.as_chunks::<QK>().0.iter().zip(y.iter_mut()) {
        let amax = max_abs(xb);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        yb.d = round_f16(d);
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = to_i8_saturating(round_ties_even(v * id));
        }
    }
}

/// Reference Q8_1 activation quantization: `x.len() == 32 * y.len()`.
pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    for (xb, yb) in x.as_chunks::<QK>().0.iter().zip(y.iter_mut()) {
        let amax = max_abs(xb);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        yb.d = round_f16(d);
        let mut sum = 0i32;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            let r = round_ties_even(v * id) as i32;
            sum += r;
            *q = r.clamp(-128, 127) as i8;
        }
        yb.s = round_f16(d * sum as f32);
    }
}

/// Reference Q8_K activation quantization: `x.len() == 256 * y.len()`.
pub fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8_K]) {
    for (xb, yb) in x.as_chunks::<QK_K>().0.iter().zip(y.iter_mut()) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in xb {
            let a = libm::fabsf(v);
            if a > amax {
                amax = a;
                max = v;
            }
        }
        if amax == 0.0 {
            *yb = BlockQ8_K::ZERO;
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            let r = (round_ties_even(iscale * v) as i32).min(127);
            *q = r.max(-128) as i8;
        }
        for (s, g) in yb.bsums.iter_mut().zip(yb.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        yb.d = 1.0 / iscale;
    }
}

/// Rounds each element to f16: `x.len() == y.len()`.
pub fn quantize_f16(x: &[f32], y: &mut [f16]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f16::from_f32(v);
    }
}

/// Quantized copies of one batch of activations (`n_tokens` rows of `n_cols`
/// floats), made on demand for each activation type. Allocated once with the
/// largest batch and row length it will see; [`ActBuffer::set`] never
/// allocates within that capacity.
pub struct ActBuffer {
    n_cols: usize,
    n_tokens: usize,
    f32s: Vec<f32>,
    f16s: Vec<f16>,
    q8_0: Vec<BlockQ8_0>,
    q8_1: Vec<BlockQ8_1>,
    q8_k: Vec<BlockQ8_K>,
    /// Which conversions of the current batch are up to date.
    valid: [bool; 5],
}

impl ActBuffer {
    /// A buffer for up to `max_tokens` rows of up to `max_cols` elements
    /// (`max_cols` a multiple of 256 for Q8_K; smaller rows work if they are
    /// multiples of the block length used).
    pub fn new(max_cols: usize, max_tokens: usize) -> Self {
        Self::try_new(max_cols, max_tokens).expect("out of memory for an activation buffer")
    }

    /// [`ActBuffer::new`], or the error of the allocation that failed.
    pub fn try_new(max_cols: usize, max_tokens: usize) -> Result<Self, crate::model::ModelError> {
        use crate::kv::try_filled;
        let n = max_cols * max_tokens;
        Ok(ActBuffer {
            n_cols: 0,
            n_tokens: 0,
            f32s: try_filled(n, 0.0)?,
            f16s: try_filled(n, f16::ZERO)?,
            q8_0: try_filled(n / QK, BlockQ8_0::ZERO)?,
            q8_1: try_filled(n / QK, BlockQ8_1::ZERO)?,
            q8_k: try_filled(n / QK_K, BlockQ8_K::ZERO)?,
            valid: [false; 5],
        })
    }

    /// Loads a new batch: `x` holds `n_tokens` rows of `n_cols` floats.
    pub fn set(&mut self, x: &[f32], n_cols: usize, n_tokens: usize) -> Result<(), QuantError> {
        let n = n_cols * n_tokens;
        if x.len() < n {
            return Err(QuantError::Shape(
                "activation input shorter than n_cols * n_tokens",
            ));
        }
        if n > self.f32s.len() {
            return Err(QuantError::Shape("activation batch larger than the buffer"));
        }
        self.f32s[..n].copy_from_slice(&x[..n]);
        self.n_cols = n_cols;
        self.n_tokens = n_tokens;
        self.valid = [false; 5];
        self.valid[ActType::F32.index()] = true;
        Ok(())
    }

    /// The current batch converted to `ty` (converted now if not yet done),
    /// with `backend`'s quantizers.
    pub fn get(&mut self, ty: ActType, backend: &Backend) -> Result<Acts<'_>, QuantError> {
        self.prepare(ty, backend)?;
        self.view(ty)
    }

    /// Converts the current batch to `ty` with `backend`'s quantizers
    /// unless that is done already (then [`ActBuffer::view`] can borrow
    /// several conversions at once).
    pub fn prepare(&mut self, ty: ActType, backend: &Backend) -> Result<(), QuantError> {
        let nb = self.blocks(ty)?;
        if self.valid[ty.index()] {
            return Ok(());
        }
        let src = &self.f32s[..self.n_cols * self.n_tokens];
        match ty {
            ActType::F32 => {}
            ActType::F16 => (backend.quantize_f16)(src, &mut self.f16s[..nb]),
            ActType::Q8_0 => (backend.quantize_q8_0)(src, &mut self.q8_0[..nb]),
            ActType::Q8_1 => (backend.quantize_q8_1)(src, &mut self.q8_1[..nb]),
            ActType::Q8_K => (backend.quantize_q8_k)(src, &mut self.q8_k[..nb]),
        }
        self.valid[ty.index()] = true;
        Ok(())
    }

    /// The current batch as `ty`, converted by [`ActBuffer::prepare`]
    /// (an error if it was not).
    pub fn view(&self, ty: ActType) -> Result<Acts<'_>, QuantError> {
        let nb = self.blocks(ty)?;
        if !self.valid[ty.index()] {
            return Err(QuantError::Shape(
                "activations not converted to this type yet",
            ));
        }
        let data = match ty {
            ActType::F32 => ActData::F32(&self.f32s[..nb]),
            ActType::F16 => ActData::F16(&self.f16s[..nb]),
            ActType::Q8_0 => ActData::Q8_0(&self.q8_0[..nb]),
            ActType::Q8_1 => ActData::Q8_1(&self.q8_1[..nb]),
            ActType::Q8_K => ActData::Q8_K(&self.q8_k[..nb]),
        };
        Ok(Acts {
            data,
            n_cols: self.n_cols,
            n_tokens: self.n_tokens,
        })
    }

    /// Blocks of type `ty` in the current batch (checked against the
    /// buffer's capacity).
    fn blocks(&self, ty: ActType) -> Result<usize, QuantError> {
        let n = self.n_cols * self.n_tokens;
        if !n.is_multiple_of(ty.block_len()) || !self.n_cols.is_multiple_of(ty.block_len()) {
            return Err(QuantError::Shape(
                "activation length is not a multiple of the block length",
            ));
        }
        let nb = n / ty.block_len();
        let cap = match ty {
            ActType::F32 => self.f32s.len(),
            ActType::F16 => self.f16s.len(),
            ActType::Q8_0 => self.q8_0.len(),
            ActType::Q8_1 => self.q8_1.len(),
            ActType::Q8_K => self.q8_k.len(),
        };
        if nb > cap {
            return Err(QuantError::Shape("activation batch larger than the buffer"));
        }
        Ok(nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_known_values() {
        // amax = 127 → id = 1 exactly, so the ties are exact: 0.5 → 0,
        // 1.5 → 2, -2.5 → -2 (ties to even, not away from zero).
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = -127.0;
        x[2] = 50.2;
        x[3] = 0.5;
        x[4] = 1.5;
        x[5] = -2.5;
        let mut y = [BlockQ8_0::ZERO];
        quantize_q8_0(&x, &mut y);
        assert_eq!(y[0].d, 1.0);
        assert_eq!(&y[0].qs[..6], &[127, -127, 50, 0, 2, -2]);
        assert!(y[0].qs[6..].iter().all(|&q| q == 0));
        // A scale that f16 cannot hold exactly is stored rounded.
        x[0] = 2.54;
        x[1] = 0.0;
        quantize_q8_0(&x[..32], &mut y);
        assert_eq!(y[0].d, round_f16(50.2 / 127.0));
        assert_ne!(y[0].d, 50.2 / 127.0);
    }

    #[test]
    fn q8_1_sum_uses_unrounded_scale() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 10.0) * 0.37).collect();
        let mut y = [BlockQ8_1::ZERO];
        quantize_q8_1(&x, &mut y);
        let amax = 21.0 * 0.37f32;
        let sum: i32 = y[0].qs.iter().map(|&q| q as i32).sum();
        assert_eq!(y[0].qs[31], 127);
        assert_eq!(y[0].d, round_f16(amax / 127.0));
        assert_eq!(y[0].s, round_f16(amax / 127.0 * sum as f32));
        // Same quants as Q8_0.
        let mut z = [BlockQ8_0::ZERO];
        quantize_q8_0(&x, &mut z);
        assert_eq!(z[0].qs, y[0].qs);
    }

    #[test]
    fn q8_k_uses_signed_max() {
        let mut x = [0.0f32; 256];
        x[7] = -127.0; // the largest magnitude is negative: iscale = -127 / -127 = 1
        x[8] = 2.5; // ties to even: 2
        x[9] = -3.5; // -4
        x[200] = 100.25;
        let mut y = [BlockQ8_K::ZERO];
        quantize_q8_k(&x, &mut y);
        assert_eq!(y[0].d, 1.0);
        assert_eq!(y[0].qs[7], -127);
        assert_eq!(y[0].qs[8], 2);
        assert_eq!(y[0].qs[9], -4);
        assert_eq!(y[0].qs[200], 100);
        assert_eq!(y[0].bsums[0], -127 + 2 - 4);
        assert_eq!(y[0].bsums[12], 100);
        // Positive maximum: iscale = -127 / 4 = -31.75, d = 1 / iscale.
        x[7] = 4.0;
        x[8] = 0.0;
        x[9] = 0.0;
        x[200] = 2.0;
        quantize_q8_k(&x, &mut y);
        assert_eq!(y[0].d, -1.0 / 31.75);
        assert_eq!(y[0].qs[7], -127);
        assert_eq!(y[0].qs[200], -64); // -63.5 → -64 (even)
                                       // All zero: d = 0, no NaN.
        quantize_q8_k(&[0.0; 256], &mut y);
        assert_eq!(y[0], BlockQ8_K::ZERO);
    }

    #[test]
    fn zero_block_is_zero() {
        let mut y = [BlockQ8_0::ZERO];
        quantize_q8_0(&[0.0; 32], &mut y);
        assert_eq!(y[0], BlockQ8_0::ZERO);
    }
}
