//! The SentencePiece tokenizer (`llama` model, byte fallback): encode
//! arbitrary text, decode arbitrary ids (see `llm_fuzz::tokenizer_input`).
//! No exact round trip: SentencePiece adds a leading space and maps
//! unknown characters through byte tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_loader::tokenizer::Tokenizer;
use std::sync::OnceLock;

static TOK: OnceLock<Tokenizer> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let tok = TOK.get_or_init(|| llm_fuzz::tokenizer(&llm_fuzz::reference_vocab("llama-spm")));
    llm_fuzz::tokenizer_input(tok, data, false);
});
