//! Shared by the fuzz targets: the real vocabularies the tokenizer targets
//! run on, and the checks every tokenizer target makes.
//!
//! The GPT-2 vocabulary is vendored in `model-loader/data`; the Qwen2 and
//! SentencePiece (llama) ones are llama.cpp's test vocabularies in the
//! shared reference data (`$LLM_REFERENCE_DIR`, else `../shared/reference`
//! next to the checkout, as the engine's tokenizer tests find them).

use model_loader::gguf::Gguf;
use model_loader::tokenizer::{Detokenizer, Tokenizer};
use std::path::PathBuf;

/// The vendored GPT-2 vocabulary-only GGUF.
pub const GPT2_VOCAB: &[u8] = include_bytes!("../../data/ggml-vocab-gpt-2.gguf");

/// `ggml-vocab-NAME.gguf` of llama.cpp's tokenizer test vectors.
pub fn reference_vocab(name: &str) -> Vec<u8> {
    let dir = match std::env::var_os("LLM_REFERENCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference"),
    };
    let path = dir
        .join("tokenizer")
        .join(format!("ggml-vocab-{name}.gguf"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the vocabulary {}: {e} (set LLM_REFERENCE_DIR)",
            path.display()
        )
    })
}

/// The tokenizer of a vocabulary GGUF (the targets build it once).
pub fn tokenizer(bytes: &[u8]) -> Tokenizer {
    let gguf = Gguf::parse(bytes).expect("the vocabulary parses");
    Tokenizer::from_gguf(&gguf).expect("the vocabulary builds a tokenizer")
}

/// One fuzz input against a tokenizer. The first byte selects the mode:
/// - bit 0 set: decode — the rest is a sequence of little-endian `u32` ids
///   (reduced modulo twice the vocabulary, so half of them are out of range),
///   decoded whole and streamed through a [`Detokenizer`];
/// - otherwise encode the rest as text (lossy UTF-8), with `add_special`
///   (bit 1) and `parse_special` (bit 2), then decode the ids. Every id must
///   be in the vocabulary, and when `exact_round_trip` (byte-level BPE) and no
///   special tokens are involved, decoding gives the text back.
///
/// Streamed and whole decoding agree, except that a whole SentencePiece
/// decoding drops the space the tokenizer adds in front (llama.cpp's
/// `llama_detokenize`), which a stream of generated tokens keeps.
pub fn tokenizer_input(tok: &Tokenizer, data: &[u8], exact_round_trip: bool) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let n_vocab = tok.vocab_size();
    if mode & 1 != 0 {
        let ids: Vec<u32> = rest
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()) % (2 * n_vocab as u32).max(1))
            .collect();
        let render_special = mode & 2 != 0;
        let whole = tok.decode(&ids, render_special);
        let valid = ids.iter().all(|&id| (id as usize) < n_vocab);
        assert_eq!(whole.is_ok(), valid, "decode of {ids:?}: {whole:?}");
        let mut detok = Detokenizer::new(tok, render_special);
        let mut streamed = String::new();
        for &id in &ids {
            match detok.push(id) {
                Ok(s) => streamed.push_str(s),
                Err(_) => assert!(id as usize >= n_vocab, "id {id} rejected"),
            }
        }
        streamed.push_str(&detok.finish());
        if let Ok(whole) = whole {
            let spm_space = !exact_round_trip && streamed.strip_prefix(' ') == Some(&whole);
            assert!(
                streamed == whole || spm_space,
                "streamed {streamed:?} and whole {whole:?} decoding differ for {ids:?}"
            );
        }
        return;
    }
    let text = String::from_utf8_lossy(rest);
    let (add_special, parse_special) = (mode & 2 != 0, mode & 4 != 0);
    let ids = tok.encode(&text, add_special, parse_special);
    assert!(
        ids.iter().all(|&id| (id as usize) < n_vocab),
        "encode gave an id outside the vocabulary: {ids:?}"
    );
    let back = tok
        .decode(&ids, parse_special)
        .expect("ids from encode decode");
    if exact_round_trip && !add_special && !parse_special {
        assert_eq!(back, text, "round trip of {text:?} via {ids:?}");
    }
}
