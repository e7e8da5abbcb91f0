//! Which tokens keep a call valid: the token mask of an automaton state.
//!
//! As llguidance's token trie, but flat: the vocabulary's byte strings are
//! sorted once ([`TokenTable`]), so walking them in order with the length
//! of the common prefix with the previous token visits the implicit trie
//! depth-first; the automaton's state at each depth is kept on a stack,
//! and a dead prefix skips every token that shares it. Control tokens
//! (`<|im_end|>`, `<tool_call>`, ...) are never allowed inside a call.
//! Masks are cached per state ([`MaskCache`]); the decoder asks for one
//! only when the token it chose first is rejected.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::grammar::{Dfa, DEAD};
use crate::tokenizer::Tokenizer;

/// The vocabulary sorted by bytes.
pub struct TokenTable {
    /// Token ids in byte order.
    order: Vec<u32>,
    /// Common prefix length with the previous token in `order`.
    lcp: Vec<u16>,
    bytes: Vec<Vec<u8>>,
    n_vocab: usize,
}

impl TokenTable {
    pub fn new(tok: &Tokenizer) -> TokenTable {
        let n = tok.vocab_size();
        let bytes: Vec<Vec<u8>> = (0..n as u32)
            .map(|t| {
                if tok.is_control(t) {
                    Vec::new()
                } else {
                    tok.token_bytes(t).map(|b| b.to_vec()).unwrap_or_default()
                }
            })
            .collect();
        let mut order: Vec<u32> = (0..n as u32)
            .filter(|&t| !bytes[t as usize].is_empty())
            .collect();
        order.sort_by(|&a, &b| bytes[a as usize].cmp(&bytes[b as usize]));
        let mut lcp = vec![0u16; order.len()];
        for i in 1..order.len() {
            let (a, b) = (&bytes[order[i - 1] as usize], &bytes[order[i] as usize]);
            lcp[i] = a.iter().zip(b).take_while(|(x, y)| x == y).count() as u16;
        }
        TokenTable {
            order,
            lcp,
            bytes,
            n_vocab: n,
        }
    }

    /// The bytes of token `t` (empty for control tokens).
    pub fn bytes(&self, t: u32) -> &[u8] {
        self.bytes.get(t as usize).map_or(&[], |b| b)
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// The tokens whose bytes can follow in state `s` of `dfa`, as a bit
    /// set over token ids.
    pub fn mask(&self, dfa: &Dfa, s: u32) -> Mask {
        let mut bits = vec![0u64; self.n_vocab.div_ceil(64)];
        // states[d]: the automaton's state after the first d bytes of the
        // current token.
        let mut states: Vec<u32> = vec![s];
        // A prefix of this length died: skip tokens sharing it.
        let mut dead_len = usize::MAX;
        for (i, &t) in self.order.iter().enumerate() {
            let b = &self.bytes[t as usize];
            let lcp = self.lcp[i] as usize;
            if lcp >= dead_len {
                continue;
            }
            dead_len = usize::MAX;
            states.truncate(lcp + 1);
            let mut st = states[lcp];
            let mut ok = true;
            for (d, &byte) in b.iter().enumerate().skip(lcp) {
                st = dfa.step(st, byte);
                if st == DEAD {
                    dead_len = d + 1;
                    ok = false;
                    break;
                }
                // Bytes after an accepting state are not part of the call.
                // (A longer token with this prefix sorts after the token
                // that ends here, so the prefix itself is dead from now on.)
                if dfa.accepts(st) && d + 1 < b.len() {
                    dead_len = d + 1;
                    ok = false;
                    break;
                }
                states.push(st);
            }
            if ok {
                bits[t as usize / 64] |= 1 << (t % 64);
            }
        }
        Mask { bits }
    }
}

/// A set of allowed tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    bits: Vec<u64>,
}

impl Mask {
    pub fn allows(&self, t: u32) -> bool {
        self.bits
            .get(t as usize / 64)
            .is_some_and(|w| w & (1 << (t % 64)) != 0)
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The allowed token with the highest logit.
    pub fn argmax(&self, logits: &[f32]) -> Option<u32> {
        let mut best: Option<(u32, f32)> = None;
        for (wi, &w) in self.bits.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let t = wi * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                if let Some(&l) = logits.get(t) {
                    if best.is_none_or(|(_, b)| l > b) {
                        best = Some((t as u32, l));
                    }
                }
            }
        }
        best.map(|(t, _)| t)
    }
}

/// Masks computed so far, per automaton state (bounded: cleared when full).
#[derive(Default)]
pub struct MaskCache {
    masks: BTreeMap<u32, Mask>,
    /// Masks computed (cache misses), for the statistics.
    pub computed: usize,
}

/// Masks kept at most (each is vocabulary/8 bytes: 19 KiB for Qwen).
const MAX_MASKS: usize = 256;

impl MaskCache {
    pub fn get(&mut self, table: &TokenTable, dfa: &Dfa, s: u32) -> &Mask {
        if !self.masks.contains_key(&s) {
            if self.masks.len() >= MAX_MASKS {
                self.masks.clear();
            }
            self.computed += 1;
            self.masks.insert(s, table.mask(dfa, s));
        }
        &self.masks[&s]
    }
}
