//! The model disk format: a GGUF file plus what the kernel should not have
//! to compute at boot, in one image that the kernel recognises by looking.
//!
//! Why not the raw GGUF alone? Three reasons earn this format its place:
//! - **The system prompt's KV cache travels with the model.** Prefilling the
//!   fixed system prompt costs minutes under QEMU's TCG with the larger
//!   model; the host computes it once, with the same engine, when the disk is
//!   built, and the kernel restores it instead.
//! - **Alignment.** The GGUF starts at a 2 MiB boundary of the disk, so the
//!   kernel can map the weights with 2 MiB pages that line up with disk
//!   reads.
//! - **Identification.** A small checksummed header names the model and the
//!   sections, so the kernel finds the model among several disks (or in the
//!   boot ramdisk) by reading one sector, and rejects a damaged header
//!   before touching anything else.
//!
//! A raw GGUF is still accepted everywhere (the kernel then prefills the
//! system prompt itself on first use).
//!
//! Layout (all integers little endian):
//! ```text
//! 0       header (HEADER_LEN bytes): see `Header`
//! 2 MiB   the GGUF file, unchanged
//! ...     optional prefix section at a 4 KiB boundary after the GGUF:
//!           magic "LLMPRFX1", u32 version
//!           u64 text length, text bytes      (the system prompt as rendered)
//!           u64 backend-name length, bytes   (the engine backend that computed it)
//!           u64 token count, u32 ids
//!           u64 KV length, KV bytes          (`KvCache::serialize`)
//!           optional: u64 length, f32 values (the agent's name prior:
//!                     log-probabilities over the vocabulary, see
//!                     `agent::decode::Grammar::prior`; absent in packs
//!                     written before it existed)
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// First bytes of a pack.
pub const MAGIC: &[u8; 8] = b"LLMPACK1";
const PREFIX_MAGIC: &[u8; 8] = b"LLMPRFX1";
/// The header occupies the first 4 KiB (one page; several disk sectors).
pub const HEADER_LEN: usize = 4096;
/// Where the GGUF starts.
pub const GGUF_OFFSET: u64 = 2 << 20;
const VERSION: u32 = 1;
const NAME_LEN: usize = 64;

/// What is wrong with a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackError {
    /// Not a pack at all (no magic); may still be a raw GGUF.
    NotAPack,
    UnsupportedVersion(u32),
    /// The header checksum does not match: the header is damaged.
    BadChecksum,
    /// A section lies outside the image (truncated or corrupt).
    OutOfBounds {
        what: &'static str,
        end: u64,
        len: u64,
    },
    /// The prefix section is malformed.
    BadPrefix(&'static str),
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::NotAPack => write!(f, "not a model pack (no LLMPACK1 header)"),
            PackError::UnsupportedVersion(v) => {
                write!(f, "model pack version {v} is not supported")
            }
            PackError::BadChecksum => write!(f, "model pack header is damaged (checksum mismatch)"),
            PackError::OutOfBounds { what, end, len } => write!(
                f,
                "model pack truncated: the {what} ends at byte {end} but the image has {len} bytes"
            ),
            PackError::BadPrefix(why) => write!(f, "model pack prefix section: {why}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PackError {}

/// The decoded header: where the sections are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// A short model name (e.g. `qwen-coder`), for messages.
    pub name: String,
    pub gguf_offset: u64,
    pub gguf_len: u64,
    /// Zero length when the pack has no prefix.
    pub prefix_offset: u64,
    pub prefix_len: u64,
}

impl Header {
    /// Total image length the header describes.
    pub fn image_len(&self) -> u64 {
        let gguf_end = self.gguf_offset + self.gguf_len;
        if self.prefix_len == 0 {
            gguf_end
        } else {
            gguf_end.max(self.prefix_offset + self.prefix_len)
        }
    }

    /// Decodes and checks the first [`HEADER_LEN`] bytes of an image. `len`
    /// is the size of the whole image (disk or ramdisk), to check that every
    /// section fits.
    pub fn parse(bytes: &[u8], len: u64) -> Result<Header, PackError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(PackError::NotAPack);
        }
        let bytes = &bytes[..HEADER_LEN];
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            return Err(PackError::UnsupportedVersion(version));
        }
        let stored = u64_at(HEADER_LEN - 8);
        if stored != checksum(&bytes[..HEADER_LEN - 8]) {
            return Err(PackError::BadChecksum);
        }
        let name_bytes = &bytes[48..48 + NAME_LEN];
        let name_end = name_bytes.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        let name = String::from_utf8_lossy(&name_bytes[..name_end]).into_owned();
        let h = Header {
            name,
            gguf_offset: u64_at(16),
            gguf_len: u64_at(24),
            prefix_offset: u64_at(32),
            prefix_len: u64_at(40),
        };
        let end = |o: u64, l: u64| o.checked_add(l).unwrap_or(u64::MAX);
        let gguf_end = end(h.gguf_offset, h.gguf_len);
        if h.gguf_offset < HEADER_LEN as u64 || gguf_end > len {
            return Err(PackError::OutOfBounds {
                what: "GGUF",
                end: gguf_end,
                len,
            });
        }
        let prefix_end = end(h.prefix_offset, h.prefix_len);
        if h.prefix_len != 0 && (h.prefix_offset < gguf_end || prefix_end > len) {
            return Err(PackError::OutOfBounds {
                what: "prefix section",
                end: prefix_end,
                len,
            });
        }
        Ok(h)
    }

    /// Encodes the header block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = alloc::vec![0u8; HEADER_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.gguf_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.gguf_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.prefix_offset.to_le_bytes());
        b[40..48].copy_from_slice(&self.prefix_len.to_le_bytes());
        let name = self.name.as_bytes();
        let n = name.len().min(NAME_LEN - 1);
        b[48..48 + n].copy_from_slice(&name[..n]);
        let sum = checksum(&b[..HEADER_LEN - 8]);
        b[HEADER_LEN - 8..].copy_from_slice(&sum.to_le_bytes());
        b
    }
}

/// FNV-1a, 64 bit: enough to catch a damaged header.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A precomputed prompt prefix: the text, its tokens and their KV cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix<'a> {
    pub text: &'a str,
    pub backend: &'a str,
    pub tokens: Vec<u32>,
    pub kv: &'a [u8],
    /// The agent's name prior for this system prompt, as little-endian
    /// f32 (empty when the pack has none).
    pub prior: &'a [u8],
}

impl<'a> Prefix<'a> {
    /// Decodes a prefix section.
    pub fn parse(bytes: &'a [u8]) -> Result<Prefix<'a>, PackError> {
        let mut r = Cursor { b: bytes, pos: 0 };
        if r.take(8)? != PREFIX_MAGIC {
            return Err(PackError::BadPrefix("bad magic"));
        }
        let version = u32::from_le_bytes(r.take(4)?.try_into().unwrap());
        if version != VERSION {
            return Err(PackError::BadPrefix("unsupported version"));
        }
        let text = core::str::from_utf8(r.section()?)
            .map_err(|_| PackError::BadPrefix("text is not UTF-8"))?;
        let backend = core::str::from_utf8(r.section()?)
            .map_err(|_| PackError::BadPrefix("backend name is not UTF-8"))?;
        let n = r.u64()?;
        let ids = r.take(
            n.checked_mul(4)
                .ok_or(PackError::BadPrefix("token count overflows"))?,
        )?;
        let tokens = ids
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let kv = r.section()?;
        let prior = if r.pos < r.b.len() { r.section()? } else { &[] };
        if prior.len() % 4 != 0 {
            return Err(PackError::BadPrefix("prior is not a whole number of f32"));
        }
        Ok(Prefix {
            text,
            backend,
            tokens,
            kv,
            prior,
        })
    }

    /// The name prior as log-probabilities, if the pack has one for a
    /// vocabulary of `n_vocab` tokens.
    pub fn prior_logprobs(&self, n_vocab: usize) -> Option<Vec<f32>> {
        (self.prior.len() == n_vocab * 4 && n_vocab > 0).then(|| {
            self.prior
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        })
    }

    /// `logprobs` as the bytes of [`Prefix::prior`].
    pub fn prior_bytes(logprobs: &[f32]) -> Vec<u8> {
        logprobs.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Encodes a prefix section.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b =
            Vec::with_capacity(64 + self.text.len() + self.tokens.len() * 4 + self.kv.len());
        b.extend_from_slice(PREFIX_MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        for s in [self.text.as_bytes(), self.backend.as_bytes()] {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s);
        }
        b.extend_from_slice(&(self.tokens.len() as u64).to_le_bytes());
        for t in &self.tokens {
            b.extend_from_slice(&t.to_le_bytes());
        }
        b.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        b.extend_from_slice(self.kv);
        if !self.prior.is_empty() {
            b.extend_from_slice(&(self.prior.len() as u64).to_le_bytes());
            b.extend_from_slice(self.prior);
        }
        b
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], PackError> {
        if n > (self.b.len() - self.pos) as u64 {
            return Err(PackError::BadPrefix("truncated"));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, PackError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn section(&mut self) -> Result<&'a [u8], PackError> {
        let n = self.u64()?;
        self.take(n)
    }
}

/// Lays out a pack around a GGUF of `gguf_len` bytes and an optional encoded
/// prefix section of `prefix_len` bytes: returns the header (the GGUF goes at
/// `gguf_offset`, the prefix at `prefix_offset`).
pub fn layout(name: &str, gguf_len: u64, prefix_len: u64) -> Header {
    let gguf_end = GGUF_OFFSET + gguf_len;
    Header {
        name: name.into(),
        gguf_offset: GGUF_OFFSET,
        gguf_len,
        prefix_offset: if prefix_len == 0 {
            0
        } else {
            gguf_end.next_multiple_of(4096)
        },
        prefix_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = layout("qwen-coder", 1000, 300);
        let bytes = h.to_bytes();
        assert_eq!(Header::parse(&bytes, h.image_len()).unwrap(), h);
        assert_eq!(h.prefix_offset % 4096, 0);
        // Truncated image.
        assert!(matches!(
            Header::parse(&bytes, h.image_len() - 1),
            Err(PackError::OutOfBounds {
                what: "prefix section",
                ..
            })
        ));
        // Any flipped byte is caught.
        for i in 8..HEADER_LEN {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Header::parse(&b, u64::MAX).is_err(), "byte {i}");
        }
        assert_eq!(Header::parse(b"GGUF", 4), Err(PackError::NotAPack));
    }

    #[test]
    fn prefix_round_trip_and_truncation() {
        let kv = [1u8, 2, 3, 4, 5];
        let p = Prefix {
            text: "system",
            backend: "avx2",
            tokens: alloc::vec![7, 8, 9],
            kv: &kv,
            prior: &[],
        };
        let bytes = p.to_bytes();
        assert_eq!(Prefix::parse(&bytes).unwrap(), p);
        assert_eq!(p.prior_logprobs(2), None);
        for n in 0..bytes.len() {
            assert!(Prefix::parse(&bytes[..n]).is_err(), "truncated to {n}");
        }
        // With a name prior: it round-trips; cut inside it, the section
        // is an error; cut before it, a section without one.
        let prior = Prefix::prior_bytes(&[-0.5, -2.25]);
        let q = Prefix {
            prior: &prior,
            ..p.clone()
        };
        let with = q.to_bytes();
        assert_eq!(Prefix::parse(&with).unwrap(), q);
        assert_eq!(q.prior_logprobs(2), Some(alloc::vec![-0.5, -2.25]));
        assert_eq!(q.prior_logprobs(3), None);
        for n in bytes.len() + 1..with.len() {
            assert!(Prefix::parse(&with[..n]).is_err(), "truncated to {n}");
        }
        assert_eq!(Prefix::parse(&with[..bytes.len()]).unwrap(), p);
        let mut odd = with.clone();
        odd.truncate(with.len() - 1);
        let at = bytes.len();
        odd[at..at + 8].copy_from_slice(&7u64.to_le_bytes());
        assert!(Prefix::parse(&odd).is_err());
    }
}
