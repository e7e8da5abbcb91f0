//! From tokens back to text: every token's bytes (llama.cpp's
//! `token_to_piece`), and a streaming decoder that only ever emits complete
//! UTF-8.

use alloc::string::String;
use alloc::vec::Vec;

use super::spm::SPACE;
use super::unicode::char_to_byte;
use super::vocab::{Attr, Vocab};
use super::{TokenId, Tokenizer, TokenizerError};

/// The decoded bytes of every token, concatenated, and their offsets.
pub(super) fn build_pieces(
    vocab: &Vocab,
    spm: bool,
) -> Result<(Vec<u8>, Vec<u32>), TokenizerError> {
    let mut pieces = Vec::new();
    let mut offs = Vec::with_capacity(vocab.len() + 1);
    offs.push(0u32);
    for id in 0..vocab.len() as u32 {
        let text = vocab.text(id);
        let attr = vocab.attr(id);
        if attr.has(Attr::CONTROL | Attr::UNKNOWN | Attr::USER_DEFINED) {
            pieces.extend_from_slice(text);
        } else if attr.has(Attr::NORMAL) {
            if spm {
                unescape_spaces(text, &mut pieces);
            } else {
                decode_byte_level(text, &mut pieces);
            }
        } else if attr.has(Attr::BYTE) {
            match parse_byte_token(text) {
                Some(b) => pieces.push(b),
                None => pieces.extend_from_slice(text),
            }
        }
        // Unused and undefined tokens decode to nothing, as in llama.cpp.
        offs.push(
            u32::try_from(pieces.len())
                .map_err(|_| TokenizerError::Invalid("the vocabulary is too large".into()))?,
        );
    }
    Ok((pieces, offs))
}

/// `▁` -> space.
fn unescape_spaces(text: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(SPACE) {
            out.push(b' ');
            i += SPACE.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
}

/// GPT-2 characters -> bytes. A character that stands for no byte (a
/// malformed vocabulary) is kept as its UTF-8.
fn decode_byte_level(text: &[u8], out: &mut Vec<u8>) {
    match core::str::from_utf8(text) {
        Ok(s) => {
            for c in s.chars() {
                match char_to_byte(c) {
                    Some(b) => out.push(b),
                    None => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        Err(_) => out.extend_from_slice(text),
    }
}

/// `<0xAB>` -> 0xAB.
fn parse_byte_token(text: &[u8]) -> Option<u8> {
    let hex = text.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    let s = core::str::from_utf8(hex).ok()?;
    if s.len() != 2 {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

/// Turns a stream of token ids into text, emitting only complete UTF-8
/// characters: bytes of a character split across tokens are held until the
/// character is complete. Invalid sequences become U+FFFD.
///
/// ```text
/// let mut d = Detokenizer::new(&tok, false);
/// for id in generated { print!("{}", d.push(id)?); }
/// print!("{}", d.finish());
/// ```
pub struct Detokenizer<'t> {
    tok: &'t Tokenizer,
    render_special: bool,
    /// Bytes received but not yet emitted (an incomplete character).
    pending: Vec<u8>,
    out: String,
}

impl<'t> Detokenizer<'t> {
    /// `render_special`: emit control tokens (`<|im_end|>`...) as their
    /// text; otherwise they produce nothing.
    pub fn new(tok: &'t Tokenizer, render_special: bool) -> Detokenizer<'t> {
        Detokenizer {
            tok,
            render_special,
            pending: Vec::new(),
            out: String::new(),
        }
    }

    /// Adds a token; returns the text that became complete with it.
    pub fn push(&mut self, id: TokenId) -> Result<&str, TokenizerError> {
        let bytes = self.tok.token_bytes(id)?;
        self.out.clear();
        if !self.render_special && self.tok.is_control(id) {
            return Ok(&self.out);
        }
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            match core::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    self.out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    if let Ok(s) = core::str::from_utf8(&self.pending[start..start + valid]) {
                        self.out.push_str(s);
                    }
                    start += valid;
                    match e.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => break,
                        Some(n) => {
                            self.out.push('\u{FFFD}');
                            start += n;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        Ok(&self.out)
    }

    /// Ends the stream: any incomplete character left becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }

    /// Whether bytes of an incomplete character are being held.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
