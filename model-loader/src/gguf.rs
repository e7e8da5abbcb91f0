//! GGUF (v2/v3) reader: zero-copy over a byte slice.
//!
//! Every offset, size, type and count read from the file is validated before it
//! is used, so a truncated or hostile file gives a [`GgufError`] naming what is
//! wrong, never a panic or an out-of-bounds read. The parsed [`Gguf`] borrows
//! the slice: metadata strings and tensor data are sub-slices of it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::ggml::GgmlType;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: usize = 32;
/// Nesting limit for arrays of arrays (hostile files could nest deeply).
const MAX_ARRAY_DEPTH: u32 = 4;
/// The number of dimensions GGML supports.
pub const MAX_DIMS: usize = 4;

/// What is wrong with a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    BadMagic,
    /// A GGUF version this reader does not understand.
    UnsupportedVersion(u32),
    /// The file ends before `what` (which needed `need` bytes at `offset`).
    Truncated {
        what: String,
        offset: u64,
        need: u64,
        len: u64,
    },
    /// A metadata value type code that GGUF does not define.
    BadValueType { key: String, code: u32 },
    /// A string that is not UTF-8 where UTF-8 is required (keys, names).
    BadUtf8 { what: String, offset: u64 },
    /// Arrays nested deeper than this reader allows.
    TooDeep { key: String },
    /// A metadata key appears twice.
    DuplicateKey(String),
    /// A metadata value has another type than the one asked for.
    WrongType { key: String, expected: &'static str },
    /// A tensor is described inconsistently.
    BadTensor { name: String, reason: String },
    /// `general.alignment` is not a power of two.
    BadAlignment(u64),
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufError::BadMagic => write!(f, "not a GGUF file (the first four bytes are not `GGUF`)"),
            GgufError::UnsupportedVersion(v) => {
                write!(f, "GGUF version {v} is not supported (only versions 2 and 3)")
            }
            GgufError::Truncated { what, offset, need, len } => write!(
                f,
                "file truncated or corrupt: {what} needs {need} bytes at offset {offset}, but the file has {len} bytes"
            ),
            GgufError::BadValueType { key, code } => {
                write!(f, "metadata `{key}` has an unknown value type {code}")
            }
            GgufError::BadUtf8 { what, offset } => {
                write!(f, "{what} at offset {offset} is not valid UTF-8")
            }
            GgufError::TooDeep { key } => write!(f, "metadata `{key}` nests arrays too deeply"),
            GgufError::DuplicateKey(k) => write!(f, "metadata key `{k}` appears twice"),
            GgufError::WrongType { key, expected } => {
                write!(f, "metadata `{key}` is not {expected}")
            }
            GgufError::BadTensor { name, reason } => write!(f, "tensor `{name}`: {reason}"),
            GgufError::BadAlignment(a) => {
                write!(f, "general.alignment = {a} is not a power of two")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GgufError {}

/// The type of a metadata value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    fn from_code(code: u32) -> Option<ValueType> {
        Some(match code {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    /// Size in bytes of a scalar of this type (None for strings and arrays).
    fn scalar_size(self) -> Option<usize> {
        Some(match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
            ValueType::String | ValueType::Array => return None,
        })
    }
}

/// A metadata value. Strings are raw bytes (GGUF token strings need not be
/// UTF-8); arrays are parsed lazily.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(&'a [u8]),
    Array(Array<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl<'a> Value<'a> {
    /// Any integer type that fits in a u64 (negative values give None).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer type as i64 (u64 values above i64::MAX give None).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            Value::U8(v) => Some(v as i64),
            Value::U16(v) => Some(v as i64),
            Value::U32(v) => Some(v as i64),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// F32 or F64 (narrowed), or any integer.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => self.as_i64().map(|v| v as f32),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| core::str::from_utf8(b).ok())
    }

    pub fn as_array(&self) -> Option<Array<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A validated metadata array: `len` elements of `elem_type`, whose encoding
/// occupies exactly `raw`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Array<'a> {
    elem_type: ValueType,
    len: usize,
    raw: &'a [u8],
    /// Absolute file offset of `raw`, for error messages.
    offset: usize,
}

impl<'a> Array<'a> {
    pub fn elem_type(&self) -> ValueType {
        self.elem_type
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, decoded one by one. The array was validated when the
    /// file was opened, so decoding cannot fail.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            array: *self,
            pos: 0,
            left: self.len,
        }
    }

    /// The raw little-endian payload of an array of scalars (None for arrays
    /// of strings or arrays).
    pub fn scalar_bytes(&self) -> Option<&'a [u8]> {
        self.elem_type.scalar_size().map(|_| self.raw)
    }

    /// The elements of an array of strings.
    pub fn strings(&self) -> Option<impl Iterator<Item = &'a [u8]> + 'a> {
        if self.elem_type != ValueType::String {
            return None;
        }
        Some(self.iter().map(|v| v.as_bytes().unwrap_or(&[])))
    }

    /// The elements of an array of any integer type, as i64.
    pub fn integers(&self) -> Option<impl Iterator<Item = i64> + 'a> {
        match self.elem_type {
            ValueType::String | ValueType::Array | ValueType::F32 | ValueType::F64 => None,
            _ => Some(self.iter().map(|v| v.as_i64().unwrap_or(0))),
        }
    }

    /// The elements of an F32 array.
    pub fn f32s(&self) -> Option<impl Iterator<Item = f32> + 'a> {
        if self.elem_type != ValueType::F32 {
            return None;
        }
        Some(self.iter().map(|v| v.as_f32().unwrap_or(0.0)))
    }
}

/// Iterator over an [`Array`].
pub struct ArrayIter<'a> {
    array: Array<'a>,
    pos: usize,
    left: usize,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut r = Reader {
            data: self.array.raw,
            pos: self.pos,
            base: self.array.offset,
        };
        // Validated at open time; a failure here would be a bug, so end the
        // iteration rather than panic.
        let v = r.value(self.array.elem_type, "", 1).ok()?;
        self.pos = r.pos;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// One entry of the tensor table, with its data located and bounds-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub ty: GgmlType,
    /// Dimensions, innermost first (GGML order): `dims[0]` is the row length.
    pub dims: Vec<u64>,
    /// Offset of the data from the start of the file.
    pub offset: usize,
    /// The tensor's bytes.
    pub data: &'a [u8],
}

impl<'a> TensorInfo<'a> {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Row length (`dims[0]`).
    pub fn row_len(&self) -> usize {
        self.dims[0] as usize
    }

    /// Number of rows (product of the outer dimensions).
    pub fn n_rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }
}

/// A parsed GGUF file.
#[derive(Debug, Clone)]
pub struct Gguf<'a> {
    pub version: u32,
    metadata: Vec<(&'a str, Value<'a>)>,
    tensors: Vec<TensorInfo<'a>>,
    /// Offset of the tensor data section.
    pub data_offset: usize,
    pub alignment: usize,
    /// Length of the whole file.
    pub file_len: usize,
}

impl<'a> Gguf<'a> {
    /// Parses and validates the header, metadata and tensor table of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Gguf<'a>, GgufError> {
        let mut r = Reader {
            data,
            pos: 0,
            base: 0,
        };
        let magic = r.bytes(4, "the magic number")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic);
        }
        let version = r.u32("the version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("the tensor count")?;
        let n_kv = r.u64("the metadata count")?;
        // Each key/value takes at least 12 bytes, each tensor entry at least
        // 24: a count that cannot fit in the file is corruption, and checking
        // it first keeps a hostile count from causing a huge allocation.
        r.check_count(n_kv, 12, "the metadata table")?;

        let mut metadata: Vec<(&'a str, Value<'a>)> = Vec::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let key = r.str_utf8("a metadata key")?;
            let code = r.u32("a metadata value type")?;
            let ty = ValueType::from_code(code).ok_or_else(|| GgufError::BadValueType {
                key: key.into(),
                code,
            })?;
            let value = r.value(ty, key, 0)?;
            if metadata.iter().any(|(k, _)| *k == key) {
                return Err(GgufError::DuplicateKey(key.into()));
            }
            metadata.push((key, value));
        }

        let alignment = match metadata.iter().find(|(k, _)| *k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => {
                let a = v.as_u64().ok_or(GgufError::WrongType {
                    key: "general.alignment".into(),
                    expected: "an unsigned integer",
                })?;
                if a == 0 || !a.is_power_of_two() || a > (1 << 30) {
                    return Err(GgufError::BadAlignment(a));
                }
                a as usize
            }
        };

        r.check_count(n_tensors, 24, "the tensor table")?;
        let mut raw_tensors = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = r.str_utf8("a tensor name")?;
            let n_dims = r.u32("a tensor's dimension count")?;
            if n_dims == 0 || n_dims as usize > MAX_DIMS {
                return Err(GgufError::BadTensor {
                    name: name.into(),
                    reason: alloc::format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("a tensor dimension")?);
            }
            let code = r.u32("a tensor type")?;
            let offset = r.u64("a tensor offset")?;
            raw_tensors.push((name, dims, code, offset));
        }

        let data_offset = align_up(r.pos, alignment).ok_or_else(|| GgufError::Truncated {
            what: "the tensor data".into(),
            offset: r.pos as u64,
            need: 0,
            len: data.len() as u64,
        })?;
        // A file without tensors (a vocabulary-only GGUF) may end before the
        // padding of its empty data section.
        let data_offset = if raw_tensors.is_empty() {
            data_offset.min(data.len())
        } else {
            data_offset
        };
        if data_offset > data.len() {
            return Err(GgufError::Truncated {
                what: "the tensor data section".into(),
                offset: r.pos as u64,
                need: (data_offset - r.pos) as u64,
                len: data.len() as u64,
            });
        }

        let mut tensors = Vec::with_capacity(raw_tensors.len());
        for (name, dims, code, rel_offset) in raw_tensors {
            let bad = |reason: String| GgufError::BadTensor {
                name: name.into(),
                reason,
            };
            let ty = GgmlType::from_code(code)
                .ok_or_else(|| bad(alloc::format!("unknown tensor type {code}")))?;
            if dims.iter().any(|&d| d == 0) {
                return Err(bad(alloc::format!("a dimension is zero ({dims:?})")));
            }
            let n_elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| bad(alloc::format!("dimensions {dims:?} overflow")))?;
            let block = ty.block_len() as u64;
            if dims[0] % block != 0 {
                return Err(bad(alloc::format!(
                    "row length {} is not a multiple of the {} block size {block}",
                    dims[0],
                    ty.name()
                )));
            }
            let size = (n_elements / block)
                .checked_mul(ty.block_bytes() as u64)
                .ok_or_else(|| bad("byte size overflows".into()))?;
            if rel_offset % alignment as u64 != 0 {
                return Err(bad(alloc::format!(
                    "data offset {rel_offset} is not aligned to {alignment}"
                )));
            }
            let start = (data_offset as u64).checked_add(rel_offset);
            let end = start.and_then(|s| s.checked_add(size));
            match (start, end) {
                (Some(s), Some(e)) if e <= data.len() as u64 => {
                    let (s, e) = (s as usize, e as usize);
                    tensors.push(TensorInfo {
                        name,
                        ty,
                        dims,
                        offset: s,
                        data: &data[s..e],
                    });
                }
                _ => {
                    return Err(GgufError::Truncated {
                        what: alloc::format!("the data of tensor `{name}`"),
                        offset: start.unwrap_or(u64::MAX),
                        need: size,
                        len: data.len() as u64,
                    })
                }
            }
        }
        for (i, t) in tensors.iter().enumerate() {
            if tensors[..i].iter().any(|u| u.name == t.name) {
                return Err(GgufError::BadTensor {
                    name: t.name.into(),
                    reason: "the name appears twice".into(),
                });
            }
        }
        Ok(Gguf {
            version,
            metadata,
            tensors,
            data_offset,
            alignment,
            file_len: data.len(),
        })
    }

    /// All metadata, in file order.
    pub fn metadata(&self) -> &[(&'a str, Value<'a>)] {
        &self.metadata
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// A string value; `Ok(None)` when missing, an error when of another type.
    pub fn get_str(&self, key: &str) -> Result<Option<&'a str>, GgufError> {
        self.typed(key, "a UTF-8 string", |v| v.as_str())
    }

    /// An unsigned integer value; `Ok(None)` when missing.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.typed(key, "an unsigned integer", |v| v.as_u64())
    }

    /// A float value (or integer, converted); `Ok(None)` when missing.
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.typed(key, "a number", |v| v.as_f32())
    }

    /// A bool value; `Ok(None)` when missing.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.typed(key, "a bool", |v| v.as_bool())
    }

    /// An array value; `Ok(None)` when missing.
    pub fn get_array(&self, key: &str) -> Result<Option<Array<'a>>, GgufError> {
        self.typed(key, "an array", |v| v.as_array())
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        f: impl Fn(&Value<'a>) -> Option<T>,
    ) -> Result<Option<T>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(&v).map(Some).ok_or_else(|| GgufError::WrongType {
                key: key.into(),
                expected,
            }),
        }
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Option<&'a str> {
        self.get("general.architecture").and_then(|v| v.as_str())
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo<'a>] {
        &self.tensors
    }

    /// The tensor with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Total number of weights in all tensors.
    pub fn parameter_count(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_elements()).sum()
    }
}

fn align_up(x: usize, a: usize) -> Option<usize> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Absolute offset of `data[0]` in the file (for messages).
    base: usize,
}

impl<'a> Reader<'a> {
    fn truncated(&self, what: &str, need: u64) -> GgufError {
        GgufError::Truncated {
            what: what.into(),
            offset: (self.base + self.pos) as u64,
            need,
            len: (self.base + self.data.len()) as u64,
        }
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(self.truncated(what, n));
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let b = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Fails unless `count` items of at least `min_size` bytes can still fit.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<(), GgufError> {
        let left = (self.data.len() - self.pos) as u64;
        match count.checked_mul(min_size) {
            Some(n) if n <= left => Ok(()),
            _ => Err(self.truncated(what, count.saturating_mul(min_size))),
        }
    }

    fn string(&mut self, what: &str) -> Result<&'a [u8], GgufError> {
        let len = self.u64(what)?;
        self.bytes(len, what)
    }

    fn str_utf8(&mut self, what: &str) -> Result<&'a str, GgufError> {
        let offset = (self.base + self.pos) as u64;
        let b = self.string(what)?;
        core::str::from_utf8(b).map_err(|_| GgufError::BadUtf8 {
            what: what.into(),
            offset,
        })
    }

    fn value(&mut self, ty: ValueType, key: &str, depth: u32) -> Result<Value<'a>, GgufError> {
        let what = "a metadata value";
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(what)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(what)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            ValueType::U32 => Value::U32(self.u32(what)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(what)?[0] != 0),
            ValueType::U64 => Value::U64(self.u64(what)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            ValueType::String => Value::String(self.string(what)?),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooDeep { key: key.into() });
                }
                let code = self.u32("an array element type")?;
                let elem_type =
                    ValueType::from_code(code).ok_or_else(|| GgufError::BadValueType {
                        key: key.into(),
                        code,
                    })?;
                let len = self.u64("an array length")?;
                let start = self.pos;
                match elem_type.scalar_size() {
                    Some(size) => {
                        let n = len.checked_mul(size as u64).unwrap_or(u64::MAX);
                        self.bytes(n, "an array")?;
                    }
                    None => {
                        // Strings take at least 8 bytes, arrays at least 12.
                        let min = if elem_type == ValueType::String {
                            8
                        } else {
                            12
                        };
                        self.check_count(len, min, "an array")?;
                        for _ in 0..len {
                            self.value(elem_type, key, depth + 1)?;
                        }
                    }
                }
                Value::Array(Array {
                    elem_type,
                    len: len as usize,
                    raw: &self.data[start..self.pos],
                    offset: self.base + start,
                })
            }
        })
    }
}

/// Builds GGUF files in memory: for tests, and for writing small models.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<u8>,
    n_kv: u64,
    tensors: Vec<(String, GgmlType, Vec<u64>, Vec<u8>)>,
    alignment: usize,
}

/// A metadata value to write.
pub enum WriteValue<'s> {
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(&'s str),
    StrArray(&'s [&'s str]),
    I32Array(&'s [i32]),
    F32Array(&'s [f32]),
}

impl GgufWriter {
    pub fn new() -> Self {
        GgufWriter {
            alignment: DEFAULT_ALIGNMENT,
            ..Default::default()
        }
    }

    fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
        buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
        buf.extend_from_slice(s);
    }

    /// Adds a metadata entry.
    pub fn kv(&mut self, key: &str, value: WriteValue<'_>) -> &mut Self {
        let b = &mut self.metadata;
        Self::put_str(b, key.as_bytes());
        match value {
            WriteValue::U32(v) => {
                b.extend_from_slice(&4u32.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::I32(v) => {
                b.extend_from_slice(&5u32.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::U64(v) => {
                b.extend_from_slice(&10u32.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::F32(v) => {
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            WriteValue::Bool(v) => {
                b.extend_from_slice(&7u32.to_le_bytes());
                b.push(v as u8);
            }
            WriteValue::Str(s) => {
                b.extend_from_slice(&8u32.to_le_bytes());
                Self::put_str(b, s.as_bytes());
            }
            WriteValue::StrArray(a) => {
                b.extend_from_slice(&9u32.to_le_bytes());
                b.extend_from_slice(&8u32.to_le_bytes());
                b.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for s in a {
                    Self::put_str(b, s.as_bytes());
                }
            }
            WriteValue::I32Array(a) => {
                b.extend_from_slice(&9u32.to_le_bytes());
                b.extend_from_slice(&5u32.to_le_bytes());
                b.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for v in a {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
            WriteValue::F32Array(a) => {
                b.extend_from_slice(&9u32.to_le_bytes());
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for v in a {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        self.n_kv += 1;
        self
    }

    /// Adds a tensor; `data` must already be encoded in `ty` and hold exactly
    /// the elements of `dims` (innermost first).
    pub fn tensor(&mut self, name: &str, ty: GgmlType, dims: &[u64], data: Vec<u8>) -> &mut Self {
        self.tensors.push((name.into(), ty, dims.to_vec(), data));
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.n_kv.to_le_bytes());
        out.extend_from_slice(&self.metadata);
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, ty, dims, data) in &self.tensors {
            Self::put_str(&mut out, name.as_bytes());
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&ty.code().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).next_multiple_of(self.alignment as u64);
        }
        let data_start = out.len().next_multiple_of(self.alignment);
        out.resize(data_start, 0);
        for ((_, _, _, data), off) in self.tensors.iter().zip(offsets) {
            out.resize(data_start + off as usize, 0);
            out.extend_from_slice(data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = GgufWriter::new();
        w.kv("general.architecture", WriteValue::Str("llama"))
            .kv("llama.block_count", WriteValue::U32(2))
            .kv("llama.rope.freq_base", WriteValue::F32(10000.0))
            .kv(
                "tokenizer.ggml.tokens",
                WriteValue::StrArray(&["a", "b", "<s>"]),
            )
            .kv(
                "tokenizer.ggml.token_type",
                WriteValue::I32Array(&[1, 1, 3]),
            )
            .tensor("t0", GgmlType::F32, &[4, 2], vec![0u8; 32])
            .tensor("t1", GgmlType::Q8_0, &[32], vec![7u8; 34]);
        w.to_bytes()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.architecture(), Some("llama"));
        assert_eq!(g.get_u64("llama.block_count").unwrap(), Some(2));
        assert_eq!(g.get_f32("llama.rope.freq_base").unwrap(), Some(10000.0));
        let toks = g.get_array("tokenizer.ggml.tokens").unwrap().unwrap();
        let toks: Vec<&[u8]> = toks.strings().unwrap().collect();
        assert_eq!(toks, vec![&b"a"[..], b"b", b"<s>"]);
        let types: Vec<i64> = g
            .get_array("tokenizer.ggml.token_type")
            .unwrap()
            .unwrap()
            .integers()
            .unwrap()
            .collect();
        assert_eq!(types, vec![1, 1, 3]);
        assert_eq!(g.tensors().len(), 2);
        let t1 = g.tensor("t1").unwrap();
        assert_eq!(t1.ty, GgmlType::Q8_0);
        assert_eq!(t1.data, &[7u8; 34][..]);
        assert_eq!(t1.offset % 32, 0);
        assert_eq!(g.tensor("t0").unwrap().n_rows(), 2);
        assert_eq!(g.parameter_count(), 8 + 32);
        assert!(matches!(
            g.get_u64("general.architecture"),
            Err(GgufError::WrongType { .. })
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let r = Gguf::parse(&bytes[..len]);
            assert!(r.is_err(), "truncated to {len} bytes parsed");
        }
    }

    #[test]
    fn corruption_never_panics() {
        let bytes = sample();
        // Flip every byte of the header and tables in several ways; the parser
        // must return (Ok or Err) without panicking.
        let mut seed = 0x1234_5678u32;
        for i in 0..bytes.len() {
            for x in [0xffu8, 0x80, 0x01] {
                let mut b = bytes.clone();
                b[i] ^= x;
                let _ = Gguf::parse(&b);
            }
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            let mut b = bytes.clone();
            b[i] = (seed >> 24) as u8;
            let _ = Gguf::parse(&b);
        }
    }

    #[test]
    fn hostile_counts_are_rejected() {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(Gguf::parse(&b), Err(GgufError::Truncated { .. })));
        assert_eq!(
            Gguf::parse(b"GGUX\x03\0\0\0").unwrap_err(),
            GgufError::BadMagic
        );
        let mut v = b"GGUF".to_vec();
        v.extend_from_slice(&9u32.to_le_bytes());
        assert_eq!(
            Gguf::parse(&v).unwrap_err(),
            GgufError::UnsupportedVersion(9)
        );
    }

    #[test]
    fn tensor_out_of_bounds() {
        let mut w = GgufWriter::new();
        w.tensor("big", GgmlType::F32, &[1 << 20], vec![0u8; 16]);
        let err = Gguf::parse(&w.to_bytes()).unwrap_err();
        assert!(matches!(err, GgufError::Truncated { .. }), "{err}");
        let msg = alloc::format!("{err}");
        assert!(msg.contains("tensor `big`"), "{msg}");
    }
}
