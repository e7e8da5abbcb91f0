//! Inputs the fuzz targets found crashing, replayed as they were found
//! (they also stay in the targets' seed corpora, so `cargo xtask fuzz`
//! replays them too).

use model_loader::gguf::Gguf;
use model_loader::tokenizer::{Detokenizer, Tokenizer};

/// A vocabulary whose special token is a lone UTF-8 continuation byte
/// (`\xbc`): encoding "ü" split the character at it and panicked. Such
/// tokens are now left out of special-token matching.
#[test]
fn special_token_inside_a_character() {
    let data = include_bytes!("../fuzz/seeds/gguf/crash-special-token-mid-char.gguf");
    let gguf = Gguf::parse(data).expect("the crashing file parses");
    let tok = Tokenizer::from_gguf(&gguf).expect("and has a tokenizer");
    let ids = tok.encode("Hello <|im_start|>world\n\t1234 ünï", true, true);
    let mut d = Detokenizer::new(&tok, true);
    for &id in &ids {
        let _ = d.push(id);
    }
    let _ = d.finish();
}
