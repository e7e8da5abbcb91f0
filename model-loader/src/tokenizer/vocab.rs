//! The token table: texts, types (attributes), scores, and text -> id lookup.

use alloc::format;
use alloc::vec::Vec;

use super::hash::TextIndex;
use super::TokenizerError;
use crate::gguf::{Gguf, ValueType};

/// A token's type, as `tokenizer.ggml.token_type` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Undefined,
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    pub fn from_code(code: i64) -> TokenType {
        match code {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }
}

/// Token attributes (llama.cpp's `llama_token_attr` bits we use). A token
/// can gain `CONTROL` when llama.cpp's heuristics recognise it by its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr(pub u8);

impl Attr {
    pub const UNKNOWN: u8 = 1 << 0;
    pub const UNUSED: u8 = 1 << 1;
    pub const NORMAL: u8 = 1 << 2;
    pub const CONTROL: u8 = 1 << 3;
    pub const USER_DEFINED: u8 = 1 << 4;
    pub const BYTE: u8 = 1 << 5;

    fn from_type(t: TokenType) -> Attr {
        Attr(match t {
            TokenType::Undefined => 0,
            TokenType::Normal => Self::NORMAL,
            TokenType::Unknown => Self::UNKNOWN,
            TokenType::Control => Self::CONTROL,
            TokenType::UserDefined => Self::USER_DEFINED,
            TokenType::Unused => Self::UNUSED,
            TokenType::Byte => Self::BYTE,
        })
    }

    pub fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }
}

/// The vocabulary of a GGUF file.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// All token texts, concatenated.
    text: Vec<u8>,
    /// `offs[id]..offs[id + 1]` is token `id`'s text.
    offs: Vec<u32>,
    types: Vec<TokenType>,
    attrs: Vec<Attr>,
    /// Empty when the file has no scores (all 0).
    scores: Vec<f32>,
    index: TextIndex,
}

/// More tokens than this is corruption (ids must fit in u32 with room).
const MAX_TOKENS: usize = 1 << 24;

impl Vocab {
    /// Reads `tokenizer.ggml.tokens`, `.token_type` and `.scores`.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Vocab, TokenizerError> {
        let key = "tokenizer.ggml.tokens";
        let tokens = g.get_array(key)?.ok_or(TokenizerError::Missing(key))?;
        let strings = tokens.strings().ok_or(TokenizerError::WrongType {
            key,
            expected: "an array of strings",
        })?;
        let n = tokens.len();
        if n == 0 {
            return Err(TokenizerError::Invalid(format!("{key} is empty")));
        }
        if n > MAX_TOKENS {
            return Err(TokenizerError::Invalid(format!(
                "{key} has {n} tokens (at most {MAX_TOKENS} supported)"
            )));
        }
        let mut text = Vec::new();
        let mut offs = Vec::with_capacity(n + 1);
        offs.push(0u32);
        for (i, s) in strings.enumerate() {
            if s.is_empty() {
                // llama.cpp renames empty tokens so that they can never match.
                text.extend_from_slice(format!("[EMPTY_{i}]").as_bytes());
            } else {
                text.extend_from_slice(s);
            }
            let end = u32::try_from(text.len())
                .map_err(|_| TokenizerError::Invalid(format!("{key} is too large")))?;
            offs.push(end);
        }

        let types = match g.get_array("tokenizer.ggml.token_type")? {
            None => alloc::vec![TokenType::Normal; n],
            Some(a) => {
                let ints = a.integers().ok_or(TokenizerError::WrongType {
                    key: "tokenizer.ggml.token_type",
                    expected: "an array of integers",
                })?;
                if a.len() < n {
                    return Err(TokenizerError::Invalid(format!(
                        "tokenizer.ggml.token_type has {} entries for {n} tokens",
                        a.len()
                    )));
                }
                ints.take(n).map(TokenType::from_code).collect()
            }
        };
        let attrs = types.iter().map(|&t| Attr::from_type(t)).collect();

        let scores = match g.get_array("tokenizer.ggml.scores")? {
            None => Vec::new(),
            Some(a) => {
                if a.len() < n {
                    return Err(TokenizerError::Invalid(format!(
                        "tokenizer.ggml.scores has {} entries for {n} tokens",
                        a.len()
                    )));
                }
                match a.elem_type() {
                    ValueType::F32 => a.f32s().map(|it| it.take(n).collect()).unwrap_or_default(),
                    ValueType::I32 => a
                        .integers()
                        .map(|it| it.take(n).map(|v| v as f32).collect())
                        .unwrap_or_default(),
                    _ => {
                        return Err(TokenizerError::WrongType {
                            key: "tokenizer.ggml.scores",
                            expected: "an array of f32 or i32",
                        })
                    }
                }
            }
        };

        let index = TextIndex::build(n as u32, |id| {
            &text[offs[id as usize] as usize..offs[id as usize + 1] as usize]
        })
        .map_err(|(a, b)| TokenizerError::DuplicateToken {
            first: a,
            second: b,
        })?;

        Ok(Vocab {
            text,
            offs,
            types,
            attrs,
            scores,
            index,
        })
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// The text of token `id` (`id` must be in range).
    pub fn text(&self, id: u32) -> &[u8] {
        let i = id as usize;
        &self.text[self.offs[i] as usize..self.offs[i + 1] as usize]
    }

    pub fn get_text(&self, id: u32) -> Option<&[u8]> {
        ((id as usize) < self.len()).then(|| self.text(id))
    }

    /// The id of the token whose text is `text`.
    pub fn id(&self, text: &[u8]) -> Option<u32> {
        self.index.get(text, |id| self.text(id))
    }

    pub fn token_type(&self, id: u32) -> TokenType {
        self.types[id as usize]
    }

    pub fn attr(&self, id: u32) -> Attr {
        self.attrs[id as usize]
    }

    pub fn add_attr(&mut self, id: u32, bits: u8) {
        self.attrs[id as usize].0 |= bits;
    }

    pub fn score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(0.0)
    }
}
