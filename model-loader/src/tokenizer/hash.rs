//! Two small open-addressing hash tables (no_std has no `HashMap`): token
//! text -> id, and token-id pair -> BPE merge.

use alloc::vec;
use alloc::vec::Vec;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A hash of a byte string (multiply-rotate over 8-byte words).
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = K ^ (b.len() as u64);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(r);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 32)
}

/// Number of slots for `n` keys (load factor at most 1/2), as a power of two.
fn slots_for(n: usize) -> usize {
    (n.max(4) * 2).next_power_of_two()
}

/// Index from byte strings (owned elsewhere, found by id) to their ids.
#[derive(Debug, Clone)]
pub struct TextIndex {
    /// id + 1, or 0 for an empty slot.
    slots: Vec<u32>,
    mask: usize,
}

impl TextIndex {
    /// Builds the index of ids `0..n`. `text(id)` gives each key. On a
    /// duplicate key, returns the two ids that share it.
    pub fn build<'a>(n: u32, text: impl Fn(u32) -> &'a [u8]) -> Result<TextIndex, (u32, u32)> {
        let size = slots_for(n as usize);
        let mut idx = TextIndex {
            slots: vec![0; size],
            mask: size - 1,
        };
        for id in 0..n {
            let key = text(id);
            let mut i = hash_bytes(key) as usize & idx.mask;
            loop {
                let s = idx.slots[i];
                if s == 0 {
                    idx.slots[i] = id + 1;
                    break;
                }
                if text(s - 1) == key {
                    return Err((s - 1, id));
                }
                i = (i + 1) & idx.mask;
            }
        }
        Ok(idx)
    }

    /// The id whose text is `key`.
    pub fn get<'a>(&self, key: &[u8], text: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        let mut i = hash_bytes(key) as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if text(s - 1) == key {
                return Some(s - 1);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// A BPE merge: its rank (priority, lower first) and the merged token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub rank: u32,
    pub result: u32,
}

/// Map from a pair of token ids to the merge of that pair.
#[derive(Debug, Clone)]
pub struct PairMap {
    /// `left << 32 | right`, or `u64::MAX` for an empty slot.
    keys: Vec<u64>,
    values: Vec<Merge>,
    shift: u32,
    len: usize,
}

impl PairMap {
    pub fn with_capacity(n: usize) -> PairMap {
        let size = slots_for(n);
        PairMap {
            keys: vec![u64::MAX; size],
            values: vec![Merge { rank: 0, result: 0 }; size],
            shift: 64 - size.trailing_zeros(),
            len: 0,
        }
    }

    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(K) >> self.shift) as usize
    }

    /// Inserts unless the pair is already present (the first merge of a
    /// pair wins, as in llama.cpp). Returns whether it was inserted.
    pub fn insert(&mut self, left: u32, right: u32, merge: Merge) -> bool {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let key = (left as u64) << 32 | right as u64;
        let mask = self.keys.len() - 1;
        let mut i = self.slot(key);
        loop {
            if self.keys[i] == u64::MAX {
                self.keys[i] = key;
                self.values[i] = merge;
                self.len += 1;
                return true;
            }
            if self.keys[i] == key {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let mut bigger = PairMap::with_capacity(self.keys.len());
        for (k, v) in self.keys.iter().zip(&self.values) {
            if *k != u64::MAX {
                bigger.insert((*k >> 32) as u32, *k as u32, *v);
            }
        }
        *self = bigger;
    }

    pub fn get(&self, left: u32, right: u32) -> Option<Merge> {
        let key = (left as u64) << 32 | right as u64;
        let mask = self.keys.len() - 1;
        let mut i = self.slot(key);
        loop {
            let k = self.keys[i];
            if k == u64::MAX {
                return None;
            }
            if k == key {
                return Some(self.values[i]);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_index() {
        let words: [&[u8]; 5] = [b"a", b"b", b"ab", b"", b"a much longer key here"];
        let idx = TextIndex::build(5, |i| words[i as usize]).unwrap();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(idx.get(w, |i| words[i as usize]), Some(i as u32));
        }
        assert_eq!(idx.get(b"c", |i| words[i as usize]), None);
        let dup: [&[u8]; 3] = [b"x", b"y", b"x"];
        assert_eq!(
            TextIndex::build(3, |i| dup[i as usize]).unwrap_err(),
            (0, 2)
        );
    }

    #[test]
    fn pair_map_grows_and_keeps_first() {
        let mut m = PairMap::with_capacity(1);
        for i in 0..1000u32 {
            assert!(m.insert(
                i,
                i + 1,
                Merge {
                    rank: i,
                    result: i * 2
                }
            ));
        }
        assert!(!m.insert(
            5,
            6,
            Merge {
                rank: 99,
                result: 0
            }
        ));
        assert_eq!(m.len(), 1000);
        assert_eq!(
            m.get(5, 6),
            Some(Merge {
                rank: 5,
                result: 10
            })
        );
        assert_eq!(m.get(6, 5), None);
    }
}
