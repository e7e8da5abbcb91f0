//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): each byte of a word starts
//! as the token of its GPT-2 character, then adjacent pairs are merged by
//! rank (lowest first, leftmost on ties), as llama.cpp's `llm_tokenizer_bpe`.
//! A binary heap with lazy invalidation keeps a word of n bytes O(n log n).

use alloc::collections::BinaryHeap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;

use super::hash::{Merge, PairMap};
use super::unicode::byte_to_char;
use super::vocab::Vocab;
use super::TokenizerError;
use crate::gguf::Gguf;

const NONE: u32 = u32::MAX;

/// The merge table and the byte -> token map.
#[derive(Debug, Clone)]
pub struct Bpe {
    merges: PairMap,
    /// The token of each byte's GPT-2 character (`NONE` if missing).
    byte_tokens: [u32; 256],
}

impl Bpe {
    /// Reads `tokenizer.ggml.merges` ("left right" per line, by rank). Every
    /// merge must name two tokens whose concatenation is a token.
    pub fn from_gguf(g: &Gguf<'_>, vocab: &Vocab) -> Result<Bpe, TokenizerError> {
        let key = "tokenizer.ggml.merges";
        let arr = g.get_array(key)?.ok_or(TokenizerError::Missing(key))?;
        let lines = arr.strings().ok_or(TokenizerError::WrongType {
            key,
            expected: "an array of strings",
        })?;
        let mut merges = PairMap::with_capacity(arr.len());
        let mut buf = Vec::new();
        for (rank, line) in lines.enumerate() {
            let bad = |reason: String| TokenizerError::BadMerge {
                rank: rank as u32,
                text: String::from_utf8_lossy(line).into_owned(),
                reason,
            };
            // As llama.cpp: split at the first space after the first byte.
            let sp = line
                .iter()
                .skip(1)
                .position(|&b| b == b' ')
                .map(|p| p + 1)
                .ok_or_else(|| bad("no space separates the two parts".into()))?;
            let (l, r) = (&line[..sp], &line[sp + 1..]);
            let id = |s: &[u8]| vocab.id(s);
            let left = id(l).ok_or_else(|| bad(format!("`{}` is not a token", lossy(l))))?;
            let right = id(r).ok_or_else(|| bad(format!("`{}` is not a token", lossy(r))))?;
            buf.clear();
            buf.extend_from_slice(l);
            buf.extend_from_slice(r);
            let result = id(&buf).ok_or_else(|| bad("the merged text is not a token".into()))?;
            merges.insert(
                left,
                right,
                Merge {
                    rank: rank as u32,
                    result,
                },
            );
        }
        let mut byte_tokens = [NONE; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            let mut s = [0u8; 4];
            let ch = byte_to_char(b as u8).encode_utf8(&mut s);
            *slot = vocab.id(ch.as_bytes()).unwrap_or(NONE);
        }
        Ok(Bpe {
            merges,
            byte_tokens,
        })
    }

    pub fn n_merges(&self) -> usize {
        self.merges.len()
    }

    /// Appends the tokens of one pre-tokenized word.
    pub fn encode_word(&self, word: &[u8], s: &mut Scratch, out: &mut Vec<u32>) {
        if word.len() == 1 {
            push_id(out, self.byte_tokens[word[0] as usize]);
            return;
        }
        s.syms.clear();
        s.heap.clear();
        let n = word.len();
        for (i, &b) in word.iter().enumerate() {
            s.syms.push(Sym {
                id: self.byte_tokens[b as usize],
                prev: if i == 0 { NONE } else { i as u32 - 1 },
                next: if i + 1 < n { i as u32 + 1 } else { NONE },
            });
        }
        for i in 0..n as u32 - 1 {
            self.push_pair(s, i, i + 1);
        }
        while let Some(Reverse(e)) = s.heap.pop() {
            let (l, r) = (e.left as usize, e.right as usize);
            // Stale entry: one side was merged since.
            if s.syms[l].id != e.a || s.syms[l].next != e.right || s.syms[r].id != e.b {
                continue;
            }
            let next = s.syms[r].next;
            s.syms[l].id = e.result;
            s.syms[l].next = next;
            s.syms[r].id = NONE;
            s.syms[r].next = NONE;
            if next != NONE {
                s.syms[next as usize].prev = e.left;
            }
            let prev = s.syms[l].prev;
            if prev != NONE {
                self.push_pair(s, prev, e.left);
            }
            if next != NONE {
                self.push_pair(s, e.left, next);
            }
        }
        let mut i = 0u32;
        while i != NONE {
            let sym = s.syms[i as usize];
            push_id(out, sym.id);
            i = sym.next;
        }
    }

    fn push_pair(&self, s: &mut Scratch, left: u32, right: u32) {
        let (a, b) = (s.syms[left as usize].id, s.syms[right as usize].id);
        if a == NONE || b == NONE {
            return;
        }
        if let Some(m) = self.merges.get(a, b) {
            s.heap.push(Reverse(Entry {
                rank: m.rank,
                left,
                right,
                a,
                b,
                result: m.result,
            }));
        }
    }
}

/// A byte with no token (a vocabulary without all 256 byte characters) is
/// dropped, as llama.cpp does.
fn push_id(out: &mut Vec<u32>, id: u32) {
    if id != NONE {
        out.push(id);
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[derive(Debug, Clone, Copy)]
struct Sym {
    id: u32,
    prev: u32,
    next: u32,
}

/// A candidate merge; ordered by (rank, left position).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    rank: u32,
    left: u32,
    right: u32,
    a: u32,
    b: u32,
    result: u32,
}

/// Reusable buffers for [`Bpe::encode_word`].
#[derive(Default)]
pub struct Scratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Reverse<Entry>>,
}
