//! The Qwen2 byte-level BPE tokenizer (`qwen2` pre-tokenizer, special
//! tokens such as `<|im_start|>`): encode arbitrary text, decode arbitrary
//! ids (see `llm_fuzz::tokenizer_input`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_loader::tokenizer::Tokenizer;
use std::sync::OnceLock;

static TOK: OnceLock<Tokenizer> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let tok = TOK.get_or_init(|| llm_fuzz::tokenizer(&llm_fuzz::reference_vocab("qwen2")));
    llm_fuzz::tokenizer_input(tok, data, true);
});
