//! Block layouts (llama.cpp's `ggml-common.h`).
//!
//! Weight blocks are read straight from the GGUF bytes (no copies, no casts):
//! the `layout` constants give each field's byte offset within a block, and
//! [`f16_at`] reads a little-endian f16 scale. Activation blocks are owned by
//! the engine, so they are plain Rust structs; their scales are stored as
//! `f32` values that have already been rounded through f16 exactly where
//! llama.cpp stores an f16, so every product computed from them is the same
//! as llama.cpp's, while SIMD code does not need to convert them.

use half::f16;

/// Elements per block of the 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0, Q8_1).
pub const QK: usize = 32;
/// Elements per super-block of the k-quants (Q4_K, Q6_K, Q8_K).
pub const QK_K: usize = 256;

/// Every f16 bit pattern as f32 (256 KiB, built at compile time): one load
/// instead of a branchy software conversion on CPUs without F16C.
static F16_TO_F32: [f32; 65536] = {
    let mut t = [0.0f32; 65536];
    let mut i = 0;
    while i < 65536 {
        t[i] = f16::from_bits(i as u16).to_f32_const();
        i += 1;
    }
    t
};

/// An f16 bit pattern as f32 (exact).
#[inline(always)]
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    F16_TO_F32[bits as usize]
}

/// Reads the little-endian f16 at `off` of `b` as an f32.
#[inline(always)]
pub fn f16_at(b: &[u8], off: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([b[off], b[off + 1]]))
}

/// Rounds an f32 to the nearest f16 (ties to even, like F16C's `vcvtps2ph`
/// and llama.cpp's `GGML_FP32_TO_FP16`) and back.
#[inline(always)]
pub fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Byte offsets of the fields of each weight block.
pub mod layout {
    /// `block_q4_0`: f16 d; u8 qs[16] (low nibbles: elements 0..16, high: 16..32). 18 bytes.
    pub mod q4_0 {
        pub const D: usize = 0;
        pub const QS: usize = 2;
        pub const BYTES: usize = 18;
    }
    /// `block_q4_1`: f16 d; f16 m; u8 qs[16]. 20 bytes. x = d*q + m.
    pub mod q4_1 {
        pub const D: usize = 0;
        pub const M: usize = 2;
        pub const QS: usize = 4;
        pub const BYTES: usize = 20;
    }
    /// `block_q5_0`: f16 d; u8 qh[4] (bit j: 5th bit of element j); u8 qs[16]. 22 bytes.
    pub mod q5_0 {
        pub const D: usize = 0;
        pub const QH: usize = 2;
        pub const QS: usize = 6;
        pub const BYTES: usize = 22;
    }
    /// `block_q8_0`: f16 d; i8 qs[32]. 34 bytes.
    pub mod q8_0 {
        pub const D: usize = 0;
        pub const QS: usize = 2;
        pub const BYTES: usize = 34;
    }
    /// `block_q4_K`: f16 d; f16 dmin; u8 scales[12] (8 6-bit scales and 8
    /// 6-bit mins); u8 qs[128]. 144 bytes.
    pub mod q4_k {
        pub const D: usize = 0;
        pub const DMIN: usize = 2;
        pub const SCALES: usize = 4;
        pub const QS: usize = 16;
        pub const BYTES: usize = 144;
    }
    /// `block_q6_K`: u8 ql[128] (low 4 bits); u8 qh[64] (high 2 bits);
    /// i8 scales[16]; f16 d. 210 bytes.
    pub mod q6_k {
        pub const QL: usize = 0;
        pub const QH: usize = 128;
        pub const SCALES: usize = 192;
        pub const D: usize = 208;
        pub const BYTES: usize = 210;
    }
}

/// The 6-bit scale and min number `j` (0..8) of a Q4_K block's 12 scale
/// bytes (llama.cpp's `get_scale_min_k4`).
#[inline(always)]
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// 8-bit activations for Q4_0, Q5_0 and Q8_0 weights (`block_q8_0`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale, an f16 value held as f32.
    pub d: f32,
    pub qs: [i8; QK],
}

/// 8-bit activations for Q4_1 weights (`block_q8_1`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8_1 {
    /// Scale, an f16 value held as f32.
    pub d: f32,
    /// `d * sum(qs)` rounded to f16 (held as f32), as llama.cpp computes it
    /// (with the unrounded `d`).
    pub s: f32,
    pub qs: [i8; QK],
}

/// 8-bit activations for the k-quants (`block_q8_K`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8_K {
    /// Scale (a full f32, as in llama.cpp).
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sums of each group of 16 quants.
    pub bsums: [i16; QK_K / 16],
}

impl BlockQ8_0 {
    pub const ZERO: BlockQ8_0 = BlockQ8_0 {
        d: 0.0,
        qs: [0; QK],
    };
}

impl BlockQ8_1 {
    pub const ZERO: BlockQ8_1 = BlockQ8_1 {
        d: 0.0,
        s: 0.0,
        qs: [0; QK],
    };
}

impl BlockQ8_K {
    pub const ZERO: BlockQ8_K = BlockQ8_K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    };
}

impl Default for BlockQ8_0 {
    fn default() -> Self {
        Self::ZERO
    }
}
impl Default for BlockQ8_1 {
    fn default() -> Self {
        Self::ZERO
    }
}
impl Default for BlockQ8_K {
    fn default() -> Self {
        Self::ZERO
    }
}
