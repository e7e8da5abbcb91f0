//! A GGUF file from nobody knows where, through every step the kernel takes
//! at boot: parse, `support::check`, hyperparameters, the model on its
//! tensors, the tokenizer, the chat template. Each step must give a value
//! or an error with a message, never panic; and what the checks accept must
//! load.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_loader::conversation;
use model_loader::gguf::Gguf;
use model_loader::hparams::HParams;
use model_loader::model::Model;
use model_loader::support;
use model_loader::tokenizer::{Detokenizer, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let gguf = match Gguf::parse(data) {
        Ok(g) => g,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for (key, value) in gguf.metadata() {
        let _ = (key.len(), value.as_str(), value.as_u64(), value.as_f32());
        if let Some(a) = value.as_array() {
            let _ = a.iter().count();
        }
    }
    let _ = gguf.parameter_count();
    let problems = support::check(&gguf);
    for p in &problems {
        let _ = p.to_string();
    }
    let hp = HParams::from_gguf(&gguf);
    if let Err(e) = &hp {
        let _ = e.to_string();
    }
    let model = Model::from_gguf(&gguf);
    match &model {
        Ok(m) => {
            // The embedding of the first and the last token.
            let mut row = vec![0f32; m.hparams.n_embd];
            for t in [0, m.tok_embd.n_rows.saturating_sub(1) as u32] {
                let _ = m.embed(t, &mut row);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if problems.is_empty() {
        // What `support::check` accepts, the engine loads.
        assert!(hp.is_ok(), "checked but the hyperparameters fail: {hp:?}");
        if let Err(e) = &model {
            panic!("checked but the model does not load: {e}");
        }
    }
    match Tokenizer::from_gguf(&gguf) {
        Ok(tok) => {
            let _ = tok.describe();
            let ids = tok.encode("Hello <|im_start|>world\n\t1234 ünï", true, true);
            let mut d = Detokenizer::new(&tok, true);
            for &id in &ids {
                let _ = d.push(id);
            }
            let _ = d.finish();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let (template, notice) = conversation::template_for(&gguf);
    let _ = notice;
    let _ = template.render(&[model_loader::chat::Message::user("hi")], true);
});
