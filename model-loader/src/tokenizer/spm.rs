//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`), as llama.cpp's
//! `llm_tokenizer_spm`: spaces become `▁` (with a leading one when
//! `add_space_prefix`), characters are merged pairwise by the score of the
//! token they form (highest first, leftmost on ties), and what is left
//! without a token falls back to `<0xXX>` byte tokens.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Ordering;

use super::vocab::Vocab;

const NONE: u32 = u32::MAX;

/// `▁` (U+2581), SentencePiece's escaped space.
pub const SPACE: &[u8] = "\u{2581}".as_bytes();

/// The byte-fallback tokens: `<0xXX>`, else the one-byte text, else `unk`.
pub fn byte_tokens(vocab: &Vocab, unk: Option<u32>) -> [u32; 256] {
    let mut t = [NONE; 256];
    for (b, slot) in t.iter_mut().enumerate() {
        let hex = alloc::format!("<0x{b:02X}>");
        *slot = vocab
            .id(hex.as_bytes())
            .or_else(|| vocab.id(&[b as u8]))
            .or(unk)
            .unwrap_or(NONE);
    }
    t
}

/// Replaces spaces by `▁` in `text` (after an optional leading space).
pub fn escape(text: &str, prefix_space: bool, out: &mut Vec<u8>) {
    out.clear();
    if prefix_space {
        out.extend_from_slice(SPACE);
    }
    for &b in text.as_bytes() {
        if b == b' ' {
            out.extend_from_slice(SPACE);
        } else {
            out.push(b);
        }
    }
}

/// Appends the tokens of `text` (already escaped).
pub fn encode(
    vocab: &Vocab,
    byte_tokens: &[u32; 256],
    text: &[u8],
    s: &mut Scratch,
    out: &mut Vec<u32>,
) {
    if text.is_empty() {
        return;
    }
    s.syms.clear();
    s.heap.clear();
    let mut off = 0usize;
    while off < text.len() {
        let len = utf8_len(text[off]).min(text.len() - off);
        let i = s.syms.len() as u32;
        s.syms.push(Sym {
            start: off as u32,
            len: len as u32,
            prev: if i == 0 { NONE } else { i - 1 },
            next: if off + len < text.len() { i + 1 } else { NONE },
        });
        off += len;
    }
    for i in 1..s.syms.len() as u32 {
        try_add(vocab, text, s, i - 1, i);
    }
    while let Some(e) = s.heap.pop() {
        let (l, r) = (e.left as usize, e.right as usize);
        if s.syms[l].len == 0 || s.syms[r].len == 0 || s.syms[l].len + s.syms[r].len != e.size {
            continue;
        }
        s.syms[l].len += s.syms[r].len;
        s.syms[r].len = 0;
        let next = s.syms[r].next;
        s.syms[l].next = next;
        if next != NONE {
            s.syms[next as usize].prev = e.left;
        }
        let prev = s.syms[l].prev;
        if prev != NONE {
            try_add(vocab, text, s, prev, e.left);
        }
        if next != NONE {
            try_add(vocab, text, s, e.left, next);
        }
    }
    let mut i = 0u32;
    while i != NONE {
        let sym = s.syms[i as usize];
        let piece = &text[sym.start as usize..(sym.start + sym.len) as usize];
        match vocab.id(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece {
                    let id = byte_tokens[b as usize];
                    if id != NONE {
                        out.push(id);
                    }
                }
            }
        }
        i = sym.next;
    }
}

fn try_add(vocab: &Vocab, text: &[u8], s: &mut Scratch, left: u32, right: u32) {
    let (a, b) = (s.syms[left as usize], s.syms[right as usize]);
    let start = a.start as usize;
    let end = (b.start + b.len) as usize;
    if let Some(id) = vocab.id(&text[start..end]) {
        s.heap.push(Entry {
            score: vocab.score(id),
            left,
            right,
            size: a.len + b.len,
        });
    }
}

/// The length of a UTF-8 sequence from its first byte (1 for stray bytes),
/// as llama.cpp's `unicode_len_utf8`.
fn utf8_len(b: u8) -> usize {
    match b >> 4 {
        0xC | 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    }
}

#[derive(Debug, Clone, Copy)]
struct Sym {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

/// A candidate merge: highest score first, then leftmost.
#[derive(Debug, Clone, Copy)]
struct Entry {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// Reusable buffers for [`encode`].
#[derive(Default)]
pub struct Scratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Entry>,
    pub escaped: Vec<u8>,
}
