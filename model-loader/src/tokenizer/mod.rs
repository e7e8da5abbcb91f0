//! Tokenizers built from GGUF metadata, reproducing llama.cpp exactly:
//! byte-level BPE (`gpt2` model; `gpt2`, `qwen2`, `smollm` and `default`
//! pre-tokenizers) and SentencePiece-style BPE (`llama` model).
//!
//! ```text
//! let tok = Tokenizer::from_gguf(&gguf)?;
//! let ids = tok.encode("<|im_start|>user\nHi<|im_end|>\n", true, true);
//! let mut out = Detokenizer::new(&tok, false);
//! for &id in &ids { print!("{}", out.push(id)?); }
//! ```
//!
//! Module map: `vocab` (token table and lookup), `hash` (no_std hash
//! tables), `unicode` + `unicode_tables` (code point classes),
//! `pretokenize` (word splitting), `bpe` and `spm` (the merge algorithms),
//! `special` (special-token partition), `detok` (streaming decoder).

mod bpe;
mod detok;
mod hash;
pub mod pretokenize;
mod special;
mod spm;
pub mod unicode;
mod unicode_tables;
mod vocab;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use detok::Detokenizer;
pub use pretokenize::PreTokenizer;
pub use special::Fragment;
pub use vocab::TokenType;

use crate::gguf::{Gguf, GgufError};
use vocab::{Attr, Vocab};

/// A token id.
pub type TokenId = u32;

/// Why a tokenizer cannot be built, or a token id is rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenizerError {
    /// A metadata value has the wrong type or the file is malformed.
    Gguf(GgufError),
    /// A required metadata key is missing.
    Missing(&'static str),
    /// A metadata value has another type than expected.
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    /// `tokenizer.ggml.model` names a tokenizer we do not implement.
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer we do not implement.
    UnsupportedPre(String),
    /// Two tokens have the same text.
    DuplicateToken { first: u32, second: u32 },
    /// A merge rule is malformed or names something that is not a token.
    BadMerge {
        rank: u32,
        text: String,
        reason: String,
    },
    /// Some other inconsistency in the metadata.
    Invalid(String),
    /// A token id outside the vocabulary.
    BadTokenId { id: u32, vocab_size: usize },
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::Gguf(e) => write!(f, "{e}"),
            TokenizerError::Missing(k) => write!(f, "metadata `{k}` is missing"),
            TokenizerError::WrongType { key, expected } => {
                write!(f, "metadata `{key}` is not {expected}")
            }
            TokenizerError::UnsupportedModel(m) => write!(
                f,
                "tokenizer model `{m}` is not supported (supported: gpt2 = byte-level BPE, llama = SentencePiece)"
            ),
            TokenizerError::UnsupportedPre(p) => write!(
                f,
                "pre-tokenizer `{p}` is not supported (supported: gpt-2, qwen2, smollm, default)"
            ),
            TokenizerError::DuplicateToken { first, second } => {
                write!(f, "tokens {first} and {second} have the same text")
            }
            TokenizerError::BadMerge { rank, text, reason } => {
                write!(f, "merge #{rank} `{text}`: {reason}")
            }
            TokenizerError::Invalid(s) => write!(f, "{s}"),
            TokenizerError::BadTokenId { id, vocab_size } => {
                write!(f, "token id {id} is out of range (vocabulary of {vocab_size})")
            }
        }
    }
}

impl From<GgufError> for TokenizerError {
    fn from(e: GgufError) -> Self {
        TokenizerError::Gguf(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TokenizerError {}

/// The tokenizer algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// Byte-level BPE (`gpt2`), with its pre-tokenizer.
    Bpe(PreTokenizer),
    /// SentencePiece BPE (`llama`).
    Spm,
}

#[derive(Debug, Clone)]
enum Algo {
    Bpe(bpe::Bpe, PreTokenizer),
    Spm { byte_tokens: [u32; 256] },
}

/// A tokenizer: encodes text to token ids and gives each token's bytes.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    algo: Algo,
    specials: special::Specials,
    /// Decoded bytes of every token (special tokens rendered as their text).
    pieces: Vec<u8>,
    piece_offs: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    /// End-of-generation tokens, sorted.
    eog: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    model_name: String,
    pre_name: String,
}

/// Texts llama.cpp recognises as end-of-turn tokens, in our order of
/// preference when several exist (llama.cpp takes whichever its hash map
/// yields first).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Texts that end generation (llama.cpp's list, for the models we run).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<｜end▁of▁sentence｜>",
];

impl Tokenizer {
    /// Builds the tokenizer described by the metadata of `g`.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Tokenizer, TokenizerError> {
        let model = g
            .get_str("tokenizer.ggml.model")?
            .ok_or(TokenizerError::Missing("tokenizer.ggml.model"))?;
        let pre_name = g.get_str("tokenizer.ggml.pre")?.unwrap_or("");
        let mut vocab = Vocab::from_gguf(g)?;
        let n = vocab.len();

        // Defaults per model type, then metadata (llama.cpp's `load`).
        let (mut bos, mut eos, mut unk, mut add_bos, mut add_space_prefix);
        let kind = match model {
            "gpt2" => {
                let pre = PreTokenizer::from_name(pre_name)
                    .ok_or_else(|| TokenizerError::UnsupportedPre(pre_name.into()))?;
                (bos, eos, unk) = (Some(11), Some(11), None);
                add_bos = false;
                add_space_prefix = false;
                TokenizerKind::Bpe(pre)
            }
            "llama" => {
                (bos, eos, unk) = (Some(1), Some(2), Some(0));
                add_bos = true;
                add_space_prefix = true;
                TokenizerKind::Spm
            }
            other => return Err(TokenizerError::UnsupportedModel(other.into())),
        };
        if let Some(v) = g.get_bool("tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }
        let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let read_id = |key: &str, default: Option<u32>| -> Result<Option<u32>, TokenizerError> {
            let default = in_range(default);
            Ok(match g.get_u64(key)? {
                Some(v) if (v as usize) < n => Some(v as u32),
                _ => default,
            })
        };
        bos = read_id("tokenizer.ggml.bos_token_id", bos)?;
        eos = read_id("tokenizer.ggml.eos_token_id", eos)?;
        unk = read_id("tokenizer.ggml.unknown_token_id", unk)?;
        let mut eot = read_id("tokenizer.ggml.eot_token_id", None)?;
        let mut eom = read_id("tokenizer.ggml.eom_token_id", None)?;
        let pad = read_id("tokenizer.ggml.padding_token_id", None)?;
        let mut fim_pad = read_id("tokenizer.ggml.fim_pad_token_id", None)?;
        let mut fim_rep = read_id("tokenizer.ggml.fim_rep_token_id", None)?;
        let mut fim_sep = read_id("tokenizer.ggml.fim_sep_token_id", None)?;
        if let Some(v) = g.get_bool("tokenizer.ggml.add_bos_token")? {
            add_bos = v;
        }
        let add_eos = g.get_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        if add_bos && bos.is_none() {
            return Err(TokenizerError::Invalid(
                "tokenizer.ggml.add_bos_token is true but there is no BOS token".into(),
            ));
        }
        if add_eos && eos.is_none() {
            return Err(TokenizerError::Invalid(
                "tokenizer.ggml.add_eos_token is true but there is no EOS token".into(),
            ));
        }

        // Special tokens recognised by their text; they become control tokens.
        let detect = |slot: &mut Option<u32>, texts: &[&str], vocab: &mut Vocab| {
            if slot.is_some() {
                return;
            }
            if let Some(id) = texts.iter().find_map(|t| vocab.id(t.as_bytes())) {
                *slot = Some(id);
                vocab.add_attr(id, Attr::CONTROL);
            }
        };
        detect(&mut eot, EOT_TEXTS, &mut vocab);
        detect(&mut eom, EOM_TEXTS, &mut vocab);
        for texts in [FIM_PRE_TEXTS, FIM_SUF_TEXTS, FIM_MID_TEXTS] {
            detect(&mut None, texts, &mut vocab);
        }
        detect(&mut fim_pad, FIM_PAD_TEXTS, &mut vocab);
        detect(&mut fim_rep, FIM_REP_TEXTS, &mut vocab);
        detect(&mut fim_sep, FIM_SEP_TEXTS, &mut vocab);
        let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep, eos, eot, eom]
            .into_iter()
            .flatten()
            .collect();
        for t in EOG_TEXTS {
            if let Some(id) = vocab.id(t.as_bytes()) {
                vocab.add_attr(id, Attr::CONTROL);
                eog.push(id);
            }
        }
        eog.sort_unstable();
        eog.dedup();

        let algo = match kind {
            TokenizerKind::Bpe(pre) => Algo::Bpe(bpe::Bpe::from_gguf(g, &vocab)?, pre),
            TokenizerKind::Spm => Algo::Spm {
                byte_tokens: spm::byte_tokens(&vocab, unk),
            },
        };
        let specials = special::Specials::new(&vocab);
        let (pieces, piece_offs) = detok::build_pieces(&vocab, matches!(kind, TokenizerKind::Spm))?;

        Ok(Tokenizer {
            vocab,
            algo,
            specials,
            pieces,
            piece_offs,
            bos,
            eos,
            eot,
            unk,
            pad,
            eog,
            add_bos,
            add_eos,
            add_space_prefix,
            model_name: model.into(),
            pre_name: pre_name.into(),
        })
    }

    /// Tokenizes `text`.
    ///
    /// * `add_special`: add BOS (and EOS) where the model's metadata asks
    ///   for it (`tokenizer.ggml.add_bos_token`, default true for
    ///   SentencePiece, false for byte-level BPE) — llama.cpp's
    ///   `add_special`.
    /// * `parse_special`: recognise control tokens such as `<|im_start|>`
    ///   in the text (user-defined tokens are always recognised).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<TokenId> {
        let mut out = Vec::new();
        let mut frags = Vec::new();
        self.specials
            .partition(&self.vocab, text, parse_special, &mut frags);
        if add_special && self.add_bos {
            if let Some(b) = self.bos {
                out.push(b);
            }
        }
        match &self.algo {
            Algo::Bpe(bpe, pre) => {
                let mut words = Vec::new();
                let mut ps = pretokenize::Scratch::default();
                let mut bs = bpe::Scratch::default();
                for f in &frags {
                    match *f {
                        Fragment::Token(id) => out.push(id),
                        Fragment::Text(a, b) => {
                            words.clear();
                            let part = &text[a..b];
                            pretokenize::split(*pre, part, &mut ps, &mut words);
                            for &(s, e) in &words {
                                bpe.encode_word(&part.as_bytes()[s..e], &mut bs, &mut out);
                            }
                        }
                    }
                }
            }
            Algo::Spm { byte_tokens } => {
                let mut ss = spm::Scratch::default();
                let mut escaped = core::mem::take(&mut ss.escaped);
                // A space is prefixed to the first text and to text after a
                // special token.
                let mut prev_special = true;
                for f in &frags {
                    match *f {
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                        Fragment::Text(a, b) => {
                            let prefix = self.add_space_prefix && prev_special;
                            spm::escape(&text[a..b], prefix, &mut escaped);
                            spm::encode(&self.vocab, byte_tokens, &escaped, &mut ss, &mut out);
                            prev_special = false;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            if let Some(e) = self.eos {
                out.push(e);
            }
        }
        out
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The algorithm (and pre-tokenizer) of this tokenizer.
    pub fn kind(&self) -> TokenizerKind {
        match &self.algo {
            Algo::Bpe(_, pre) => TokenizerKind::Bpe(*pre),
            Algo::Spm { .. } => TokenizerKind::Spm,
        }
    }

    /// `tokenizer.ggml.model` and `tokenizer.ggml.pre` as found in the file.
    pub fn model_names(&self) -> (&str, &str) {
        (&self.model_name, &self.pre_name)
    }

    /// Number of BPE merge rules (0 for SentencePiece).
    pub fn n_merges(&self) -> usize {
        match &self.algo {
            Algo::Bpe(b, _) => b.n_merges(),
            Algo::Spm { .. } => 0,
        }
    }

    pub fn bos(&self) -> Option<TokenId> {
        self.bos
    }

    pub fn eos(&self) -> Option<TokenId> {
        self.eos
    }

    /// The end-of-turn token (`tokenizer.ggml.eot_token_id`, else found by
    /// its text: `<|im_end|>`, `<|eot_id|>`, ...).
    pub fn eot(&self) -> Option<TokenId> {
        self.eot
    }

    pub fn unk(&self) -> Option<TokenId> {
        self.unk
    }

    pub fn pad(&self) -> Option<TokenId> {
        self.pad
    }

    /// Whether [`Tokenizer::encode`] with `add_special` prepends BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// Whether SentencePiece text gets a leading space.
    pub fn adds_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// The tokens that end generation (EOS, EOT, `<|im_end|>`,
    /// `<|endoftext|>`, FIM separators...), as llama.cpp determines them.
    pub fn eog_ids(&self) -> &[TokenId] {
        &self.eog
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// The type stored in the file for `id`.
    pub fn token_type(&self, id: TokenId) -> Option<TokenType> {
        ((id as usize) < self.vocab.len()).then(|| self.vocab.token_type(id))
    }

    /// Whether `id` is a control or unknown token: such tokens decode to
    /// nothing unless special tokens are rendered.
    pub fn is_control(&self, id: TokenId) -> bool {
        (id as usize) < self.vocab.len() && self.vocab.attr(id).has(Attr::CONTROL | Attr::UNKNOWN)
    }

    /// The special tokens that prompts may contain, longest first.
    pub fn special_tokens(&self) -> &[TokenId] {
        self.specials.ids()
    }

    /// The raw vocabulary text of `id` (e.g. `Ġthe`, `▁the`, `<0x0A>`).
    pub fn token_text(&self, id: TokenId) -> Option<&[u8]> {
        self.vocab.get_text(id)
    }

    /// The token whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<TokenId> {
        self.vocab.id(text.as_bytes())
    }

    /// The bytes `id` stands for in decoded text (byte-level characters
    /// mapped back to bytes, `▁` to a space, `<0xXX>` to its byte, special
    /// tokens as their text). May be part of a UTF-8 character.
    pub fn token_bytes(&self, id: TokenId) -> Result<&[u8], TokenizerError> {
        let i = id as usize;
        if i >= self.vocab.len() {
            return Err(TokenizerError::BadTokenId {
                id,
                vocab_size: self.vocab.len(),
            });
        }
        Ok(&self.pieces[self.piece_offs[i] as usize..self.piece_offs[i + 1] as usize])
    }

    /// The bytes of `ids` concatenated, control tokens included only when
    /// `render_special`. SentencePiece's added leading space is removed, as
    /// llama.cpp's `llama_detokenize` does.
    pub fn decode_bytes(
        &self,
        ids: &[TokenId],
        render_special: bool,
    ) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::new();
        let mut strip = self.add_space_prefix;
        for &id in ids {
            let b = self.token_bytes(id)?;
            if !render_special && self.is_control(id) {
                strip = false;
                continue;
            }
            let b = if strip && b.first() == Some(&b' ') {
                &b[1..]
            } else {
                b
            };
            strip = false;
            out.extend_from_slice(b);
        }
        Ok(out)
    }

    /// [`Tokenizer::decode_bytes`] as a string (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[TokenId], render_special: bool) -> Result<String, TokenizerError> {
        let b = self.decode_bytes(ids, render_special)?;
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// A one-line description, e.g. `gpt2 (byte-level BPE, pre qwen2), 151936 tokens`.
    pub fn describe(&self) -> String {
        match self.kind() {
            TokenizerKind::Bpe(p) => format!(
                "gpt2 (byte-level BPE, pre {}), {} tokens, {} merges",
                p.name(),
                self.vocab_size(),
                self.n_merges()
            ),
            TokenizerKind::Spm => format!("llama (SentencePiece), {} tokens", self.vocab_size()),
        }
    }
}
