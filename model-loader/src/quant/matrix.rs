//! The operands of the matrix kernels: a borrowed quantized weight matrix
//! ([`QMatrix`]) and a batch of token activations quantized for it ([`Acts`]).

use core::fmt;
use core::ops::Range;

use half::f16;

use super::blocks::{BlockQ8_0, BlockQ8_1, BlockQ8_K};
use crate::ggml::GgmlType;

/// Why a quantized operation cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantError {
    /// The decoder has no kernels for this weight type.
    UnsupportedType(GgmlType),
    /// Operands whose sizes do not fit together.
    Shape(&'static str),
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::UnsupportedType(t) => write!(
                f,
                "tensor type {t} is not supported (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K)"
            ),
            QuantError::Shape(what) => write!(f, "shape mismatch: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantError {}

/// The weight types the decoder can multiply by.
pub const SUPPORTED_WEIGHT_TYPES: [GgmlType; 8] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

/// The type activations are converted to before they meet a weight type
/// (llama.cpp's `vec_dot_type`).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActType {
    F32,
    F16,
    Q8_0,
    Q8_1,
    Q8_K,
}

impl ActType {
    /// All activation types.
    pub const ALL: [ActType; 5] = [
        ActType::F32,
        ActType::F16,
        ActType::Q8_0,
        ActType::Q8_1,
        ActType::Q8_K,
    ];

    /// The activation type matched to weights of type `ty` (None: unsupported
    /// weight type).
    pub fn for_weight(ty: GgmlType) -> Option<ActType> {
        Some(match ty {
            GgmlType::F32 => ActType::F32,
            GgmlType::F16 => ActType::F16,
            GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => ActType::Q8_0,
            GgmlType::Q4_1 => ActType::Q8_1,
            GgmlType::Q4_K | GgmlType::Q6_K => ActType::Q8_K,
            _ => return None,
        })
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        match self {
            ActType::F32 | ActType::F16 => 1,
            ActType::Q8_0 | ActType::Q8_1 => 32,
            ActType::Q8_K => 256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ActType::F32 => "F32",
            ActType::F16 => "F16",
            ActType::Q8_0 => "Q8_0",
            ActType::Q8_1 => "Q8_1",
            ActType::Q8_K => "Q8_K",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A weight matrix borrowed from the model file: `n_rows` rows of `n_cols`
/// elements of type `ty`, row after row (`row_bytes` each).
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    pub ty: GgmlType,
    pub n_cols: usize,
    pub n_rows: usize,
    pub data: &'a [u8],
}

impl<'a> QMatrix<'a> {
    /// Checks that the type is supported and that `data` holds exactly the
    /// rows.
    pub fn new(
        ty: GgmlType,
        n_cols: usize,
        n_rows: usize,
        data: &'a [u8],
    ) -> Result<Self, QuantError> {
        if ActType::for_weight(ty).is_none() {
            return Err(QuantError::UnsupportedType(ty));
        }
        if n_cols == 0 || !n_cols.is_multiple_of(ty.block_len()) {
            return Err(QuantError::Shape(
                "the row length is not a positive multiple of the block length",
            ));
        }
        let need = ty
            .row_bytes(n_cols)
            .checked_mul(n_rows)
            .ok_or(QuantError::Shape("matrix size overflows"))?;
        if data.len() != need {
            return Err(QuantError::Shape(
                "the data length does not match the dimensions",
            ));
        }
        Ok(QMatrix {
            ty,
            n_cols,
            n_rows,
            data,
        })
    }

    /// The activation type this matrix multiplies.
    pub fn act_type(&self) -> ActType {
        ActType::for_weight(self.ty).expect("checked by QMatrix::new")
    }

    /// Bytes per row.
    #[inline(always)]
    pub fn row_bytes(&self) -> usize {
        self.ty.row_bytes(self.n_cols)
    }

    /// The bytes of row `r`.
    #[inline(always)]
    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
}

/// The activations of one or more tokens, converted to one [`ActType`]:
/// token `t` occupies blocks `t * blocks_per_token .. (t + 1) * blocks_per_token`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub enum ActData<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Q8_0(&'a [BlockQ8_0]),
    Q8_1(&'a [BlockQ8_1]),
    Q8_K(&'a [BlockQ8_K]),
}

/// A batch of `n_tokens` activation rows of `n_cols` elements each.
#[derive(Debug, Clone, Copy)]
pub struct Acts<'a> {
    pub data: ActData<'a>,
    pub n_cols: usize,
    pub n_tokens: usize,
}

impl<'a> Acts<'a> {
    pub fn act_type(&self) -> ActType {
        match self.data {
            ActData::F32(_) => ActType::F32,
            ActData::F16(_) => ActType::F16,
            ActData::Q8_0(_) => ActType::Q8_0,
            ActData::Q8_1(_) => ActType::Q8_1,
            ActData::Q8_K(_) => ActType::Q8_K,
        }
    }

    /// Blocks (or elements, for F32/F16) per token.
    pub fn blocks_per_token(&self) -> usize {
        self.n_cols / self.act_type().block_len()
    }

    fn data_len(&self) -> usize {
        match self.data {
            ActData::F32(d) => d.len(),
            ActData::F16(d) => d.len(),
            ActData::Q8_0(d) => d.len(),
            ActData::Q8_1(d) => d.len(),
            ActData::Q8_K(d) => d.len(),
        }
    }
}

/// Checks the operands of a matrix product `out[t * ld + (r - rows.start)] =
/// w.row(r) · x.token(t)` before a kernel runs (kernels may then rely on the
/// sizes).
pub fn check_gemm(
    w: &QMatrix<'_>,
    x: &Acts<'_>,
    rows: &Range<usize>,
    out: &[f32],
    ld: usize,
) -> Result<(), QuantError> {
    if x.act_type() != w.act_type() {
        return Err(QuantError::Shape(
            "activations are not of the weight type's activation type",
        ));
    }
    if x.n_cols != w.n_cols {
        return Err(QuantError::Shape(
            "activation length differs from the row length",
        ));
    }
    if !x.n_cols.is_multiple_of(x.act_type().block_len()) {
        return Err(QuantError::Shape(
            "activation length is not a multiple of the block length",
        ));
    }
    if w.data.len() != w.row_bytes() * w.n_rows {
        return Err(QuantError::Shape(
            "the matrix data length does not match its dimensions",
        ));
    }
    if x.data_len() < x.n_tokens * x.blocks_per_token() {
        return Err(QuantError::Shape("too few activation blocks"));
    }
    if rows.start > rows.end || rows.end > w.n_rows {
        return Err(QuantError::Shape("row range outside the matrix"));
    }
    if x.n_tokens > 0 && !rows.is_empty() {
        if ld < rows.len() {
            return Err(QuantError::Shape(
                "output stride smaller than the row range",
            ));
        }
        if out.len() < (x.n_tokens - 1) * ld + rows.len() {
            return Err(QuantError::Shape("output buffer too small"));
        }
    }
    Ok(())
}
