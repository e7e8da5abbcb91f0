//! Splitting a prompt at special tokens before tokenizing the text between
//! them, as llama.cpp's `tokenizer_st_partition`: the special tokens
//! (control, user-defined and unknown ones; control and unknown only when
//! `parse_special`) are taken longest first, and each splits every text
//! fragment left at all its non-overlapping occurrences, left to right.
//!
//! A trie over the special tokens finds, in one pass, which of them occur in
//! the text at all, so a vocabulary with thousands of special tokens costs
//! no more than one with a few.

use alloc::vec;
use alloc::vec::Vec;

use super::vocab::{Attr, Vocab};

/// A piece of a partitioned prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Text to tokenize: a byte range of the prompt.
    Text(usize, usize),
    /// A special token.
    Token(u32),
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// (byte, child node), sorted by byte.
    children: Vec<(u8, u32)>,
    /// Index into `Specials::ids` of the token ending here.
    token: Option<u32>,
}

/// The special tokens of a vocabulary, by priority.
#[derive(Debug, Clone)]
pub struct Specials {
    /// Token ids, longest text first (ties: lower id first).
    ids: Vec<u32>,
    nodes: Vec<Node>,
}

impl Specials {
    pub fn new(vocab: &Vocab) -> Specials {
        let special = Attr::CONTROL | Attr::USER_DEFINED | Attr::UNKNOWN;
        // Only whole UTF-8 texts: a prompt is a `str`, and a special token
        // that is part of a character (a hostile vocabulary's `\xbc`)
        // would split one.
        let mut ids: Vec<u32> = (0..vocab.len() as u32)
            .filter(|&id| vocab.attr(id).has(special))
            .filter(|&id| core::str::from_utf8(vocab.text(id)).is_ok())
            .collect();
        ids.sort_by(|&a, &b| {
            vocab
                .text(b)
                .len()
                .cmp(&vocab.text(a).len())
                .then(a.cmp(&b))
        });
        let mut nodes = vec![Node::default()];
        for (k, &id) in ids.iter().enumerate() {
            let mut n = 0usize;
            for &byte in vocab.text(id) {
                n = match nodes[n].children.binary_search_by_key(&byte, |c| c.0) {
                    Ok(i) => nodes[n].children[i].1 as usize,
                    Err(i) => {
                        let new = nodes.len();
                        nodes.push(Node::default());
                        nodes[n].children.insert(i, (byte, new as u32));
                        new
                    }
                };
            }
            nodes[n].token = Some(k as u32);
        }
        Specials { ids, nodes }
    }

    /// The special token ids, longest first.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Partitions `text` into fragments.
    pub fn partition(
        &self,
        vocab: &Vocab,
        text: &str,
        parse_special: bool,
        out: &mut Vec<Fragment>,
    ) {
        out.clear();
        if text.is_empty() {
            return;
        }
        out.push(Fragment::Text(0, text.len()));
        let bytes = text.as_bytes();
        // Which special tokens occur anywhere in the text.
        let mut present = vec![false; self.ids.len()];
        let mut any = false;
        for start in 0..bytes.len() {
            let mut n = 0usize;
            for &b in &bytes[start..] {
                match self.nodes[n].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => n = self.nodes[n].children[i].1 as usize,
                    Err(_) => break,
                }
                if let Some(k) = self.nodes[n].token {
                    present[k as usize] = true;
                    any = true;
                }
            }
        }
        if !any {
            return;
        }
        let skip = Attr::CONTROL | Attr::UNKNOWN;
        let mut next = Vec::new();
        for (k, &id) in self.ids.iter().enumerate() {
            if !present[k] || (!parse_special && vocab.attr(id).has(skip)) {
                continue;
            }
            let needle = vocab.text(id);
            next.clear();
            for &f in out.iter() {
                let Fragment::Text(mut a, b) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(m) = find(&bytes[a..b], needle) {
                    if m > 0 {
                        next.push(Fragment::Text(a, a + m));
                    }
                    next.push(Fragment::Token(id));
                    a += m + needle.len();
                }
                if a < b {
                    next.push(Fragment::Text(a, b));
                }
            }
            core::mem::swap(out, &mut next);
        }
    }
}

/// The first occurrence of `needle` (not empty) in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        i += hay[i..=last_start].iter().position(|&b| b == first)?;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn find_works() {
        assert_eq!(find(b"hello <|x|> world", b"<|x|>"), Some(6));
        assert_eq!(find(b"<<|x|", b"<|x|>"), None);
        assert_eq!(find(b"ab", b""), None);
        assert_eq!(find(b"aab", b"ab"), Some(1));
    }
}
