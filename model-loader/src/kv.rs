//! The key/value cache: f16 (as llama.cpp), laid out `[layer][kv_head]
//! [position][head_dim]` so that one head's keys (and values) for all
//! positions are contiguous.
//!
//! The cache of a fixed prefix (e.g. a system prompt) can be saved with
//! [`KvCache::serialize`] and restored with [`KvCache::deserialize_into`]
//! (after which decoding continues from that position).

use alloc::vec;
use alloc::vec::Vec;

use half::f16;

use crate::model::ModelError;

const MAGIC: &[u8; 4] = b"KVC1";

/// `n` copies of `x`, or [`ModelError::OutOfMemory`] (never an abort):
/// for buffers whose size depends on a request.
pub fn try_filled<T: Clone>(n: usize, x: T) -> Result<Vec<T>, ModelError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| ModelError::OutOfMemory {
            bytes: n.saturating_mul(core::mem::size_of::<T>()),
        })?;
    v.resize(n, x);
    Ok(v)
}
const HEADER_LEN: usize = 4 + 4 * 5;

/// The per-layer key and value history of one sequence.
#[derive(Debug, Clone)]
pub struct KvCache {
    n_layer: usize,
    n_kv_head: usize,
    head_dim: usize,
    n_ctx: usize,
    n_tokens: usize,
    keys: Vec<f16>,
    values: Vec<f16>,
}

impl KvCache {
    /// An empty cache for up to `n_ctx` positions (allocated now).
    pub fn new(n_layer: usize, n_kv_head: usize, head_dim: usize, n_ctx: usize) -> Self {
        let n = n_layer * n_kv_head * n_ctx * head_dim;
        KvCache {
            n_layer,
            n_kv_head,
            head_dim,
            n_ctx,
            n_tokens: 0,
            keys: vec![f16::ZERO; n],
            values: vec![f16::ZERO; n],
        }
    }

    /// [`KvCache::new`], or [`ModelError::OutOfMemory`] when the memory
    /// cannot be allocated.
    pub fn try_new(
        n_layer: usize,
        n_kv_head: usize,
        head_dim: usize,
        n_ctx: usize,
    ) -> Result<Self, ModelError> {
        let n = n_layer * n_kv_head * n_ctx * head_dim;
        Ok(KvCache {
            n_layer,
            n_kv_head,
            head_dim,
            n_ctx,
            n_tokens: 0,
            keys: try_filled(n, f16::ZERO)?,
            values: try_filled(n, f16::ZERO)?,
        })
    }

    /// Bytes this cache holds (keys and values for every position).
    pub fn bytes(&self) -> usize {
        Self::bytes_needed(self.n_layer, self.n_kv_head, self.head_dim, self.n_ctx)
    }

    /// Replaces the contents with the first `n` positions of `src` (a
    /// cache of the same model, of any capacity): the cache then holds
    /// exactly those positions.
    pub fn copy_prefix_from(&mut self, src: &KvCache, n: usize) -> Result<(), ModelError> {
        if (src.n_layer, src.n_kv_head, src.head_dim)
            != (self.n_layer, self.n_kv_head, self.head_dim)
        {
            return Err(ModelError::BadKvCache(
                "copied from a model of another shape",
            ));
        }
        if n > src.n_tokens || n > self.n_ctx {
            return Err(ModelError::BadKvCache(
                "more positions than the source holds or this cache fits",
            ));
        }
        let len = n * self.head_dim;
        for l in 0..self.n_layer {
            for h in 0..self.n_kv_head {
                let (to, from) = (self.base(l, h), src.base(l, h));
                self.keys[to..to + len].copy_from_slice(&src.keys[from..from + len]);
                self.values[to..to + len].copy_from_slice(&src.values[from..from + len]);
            }
        }
        self.n_tokens = n;
        Ok(())
    }

    /// Bytes a cache of these dimensions takes.
    pub fn bytes_needed(n_layer: usize, n_kv_head: usize, head_dim: usize, n_ctx: usize) -> usize {
        2 * 2 * n_layer * n_kv_head * n_ctx * head_dim
    }

    /// Positions filled.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Capacity in positions.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Forgets every position from `n` on.
    pub fn truncate(&mut self, n: usize) {
        self.n_tokens = self.n_tokens.min(n);
    }

    /// Marks positions `..n` as filled (after the forward pass stored them).
    pub(crate) fn set_n_tokens(&mut self, n: usize) {
        self.n_tokens = n.min(self.n_ctx);
    }

    #[inline(always)]
    fn base(&self, layer: usize, head: usize) -> usize {
        (layer * self.n_kv_head + head) * self.n_ctx * self.head_dim
    }

    /// Stores the keys and values of all heads (`n_kv_head * head_dim` each)
    /// of one position.
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let hd = self.head_dim;
        for h in 0..self.n_kv_head {
            let at = self.base(layer, h) + pos * hd;
            for (o, &x) in self.keys[at..at + hd].iter_mut().zip(&k[h * hd..]) {
                *o = f16::from_f32(x);
            }
            for (o, &x) in self.values[at..at + hd].iter_mut().zip(&v[h * hd..]) {
                *o = f16::from_f32(x);
            }
        }
    }

    /// Keys of positions `..n_pos` of one head.
    #[inline(always)]
    pub fn keys(&self, layer: usize, head: usize, n_pos: usize) -> &[f16] {
        let b = self.base(layer, head);
        &self.keys[b..b + n_pos * self.head_dim]
    }

    /// Values of positions `..n_pos` of one head.
    #[inline(always)]
    pub fn values(&self, layer: usize, head: usize, n_pos: usize) -> &[f16] {
        let b = self.base(layer, head);
        &self.values[b..b + n_pos * self.head_dim]
    }

    /// Size of [`KvCache::serialize`]'s output for `n` positions.
    pub fn serialized_len(&self, n: usize) -> usize {
        HEADER_LEN + 2 * 2 * self.n_layer * self.n_kv_head * n * self.head_dim
    }

    /// The first `n` positions (at most those filled), with a header naming
    /// the dimensions.
    pub fn serialize(&self, n: usize) -> Vec<u8> {
        let n = n.min(self.n_tokens);
        let mut out = Vec::with_capacity(self.serialized_len(n));
        out.extend_from_slice(MAGIC);
        for v in [self.n_layer, self.n_kv_head, self.head_dim, n, 0] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        for l in 0..self.n_layer {
            for h in 0..self.n_kv_head {
                for x in self.keys(l, h, n).iter().chain(self.values(l, h, n)) {
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
        }
        out
    }

    /// Replaces the contents with a [`KvCache::serialize`] output; the cache
    /// then holds exactly its positions.
    pub fn deserialize_into(&mut self, bytes: &[u8]) -> Result<(), ModelError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(ModelError::BadKvCache("not a saved KV cache"));
        }
        let word = |i: usize| {
            let o = 4 + 4 * i;
            u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        };
        if word(0) != self.n_layer || word(1) != self.n_kv_head || word(2) != self.head_dim {
            return Err(ModelError::BadKvCache("saved for a model of another shape"));
        }
        let n = word(3);
        if n > self.n_ctx {
            return Err(ModelError::BadKvCache(
                "more positions than this context holds",
            ));
        }
        if bytes.len() != self.serialized_len(n) {
            return Err(ModelError::BadKvCache("wrong length"));
        }
        let mut at = HEADER_LEN;
        let hd = self.head_dim;
        for l in 0..self.n_layer {
            for h in 0..self.n_kv_head {
                let b = self.base(l, h);
                for dst in [&mut self.keys, &mut self.values] {
                    for o in dst[b..b + n * hd].iter_mut() {
                        *o = f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
                        at += 2;
                    }
                }
            }
        }
        self.n_tokens = n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_prefix_and_fallible_allocation() {
        let mut kv = KvCache::new(2, 3, 4, 8);
        for pos in 0..6 {
            for l in 0..2 {
                let k: Vec<f32> = (0..12).map(|i| (100 * l + 10 * pos + i) as f32).collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                kv.store(l, pos, &k, &v);
            }
        }
        kv.set_n_tokens(6);
        let mut small = KvCache::try_new(2, 3, 4, 5).unwrap();
        assert_eq!(small.bytes(), KvCache::bytes_needed(2, 3, 4, 5));
        small.copy_prefix_from(&kv, 4).unwrap();
        assert_eq!(small.n_tokens(), 4);
        for l in 0..2 {
            for h in 0..3 {
                assert_eq!(small.keys(l, h, 4), kv.keys(l, h, 4));
                assert_eq!(small.values(l, h, 4), kv.values(l, h, 4));
            }
        }
        assert!(small.copy_prefix_from(&kv, 6).is_err(), "does not fit");
        assert!(
            small
                .copy_prefix_from(&KvCache::new(2, 3, 4, 8), 1)
                .is_err(),
            "not filled"
        );
        assert!(
            small
                .copy_prefix_from(&KvCache::new(2, 2, 4, 8), 0)
                .is_err(),
            "other shape"
        );
        // An allocation that cannot succeed is an error, not an abort.
        assert_eq!(
            try_filled(usize::MAX / 4, 0u32).unwrap_err(),
            ModelError::OutOfMemory {
                bytes: usize::MAX / 4 * 4
            }
        );
        assert!(matches!(
            KvCache::try_new(1, 1, 1, usize::MAX / 4),
            Err(ModelError::OutOfMemory { .. })
        ));
    }

    #[test]
    fn store_read_truncate_and_round_trip() {
        let mut kv = KvCache::new(2, 3, 4, 8);
        for pos in 0..5 {
            for l in 0..2 {
                let k: Vec<f32> = (0..12).map(|i| (100 * l + 10 * pos + i) as f32).collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                kv.store(l, pos, &k, &v);
            }
        }
        kv.set_n_tokens(5);
        assert_eq!(kv.keys(1, 2, 5)[4 * 3 + 1].to_f32(), (100 + 30 + 9) as f32);
        assert_eq!(kv.values(0, 1, 5)[4].to_f32(), -(10 + 4) as f32);

        let saved = kv.serialize(3);
        assert_eq!(saved.len(), kv.serialized_len(3));
        let mut other = KvCache::new(2, 3, 4, 16);
        other.deserialize_into(&saved).unwrap();
        assert_eq!(other.n_tokens(), 3);
        for l in 0..2 {
            for h in 0..3 {
                assert_eq!(other.keys(l, h, 3), kv.keys(l, h, 3));
                assert_eq!(other.values(l, h, 3), kv.values(l, h, 3));
            }
        }
        kv.truncate(2);
        assert_eq!(kv.n_tokens(), 2);
        assert_eq!(kv.serialize(10).len(), kv.serialized_len(2));

        let mut wrong = KvCache::new(2, 2, 4, 16);
        assert!(wrong.deserialize_into(&saved).is_err());
        let mut small = KvCache::new(2, 3, 4, 2);
        assert!(small.deserialize_into(&saved).is_err());
        assert!(other.deserialize_into(&saved[..saved.len() - 1]).is_err());
        assert!(other.deserialize_into(b"junk").is_err());
    }
}
