//! The library on the two real models: hyperparameters, support check,
//! chat templates, end-of-generation tokens, decoding and speed.

mod common;

use model_loader::chat::{ChatTemplate, Family, Message};
use model_loader::gguf::Gguf;
use model_loader::hparams::HParams;
use model_loader::support;
use model_loader::tokenizer::{Detokenizer, Tokenizer};

#[test]
fn smollm2() {
    let bytes = common::read_model(common::SMOLLM2);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(support::check(&g), vec![]);
    let hp = HParams::from_gguf(&g).unwrap();
    assert_eq!(hp.arch, "llama");
    assert_eq!((hp.n_layer, hp.n_embd, hp.n_ff), (30, 576, 1536));
    assert_eq!(
        (hp.n_head, hp.n_head_kv, hp.head_dim, hp.rope_dim),
        (9, 3, 64, 64)
    );
    assert_eq!((hp.n_ctx_train, hp.n_vocab), (8192, 49152));
    assert_eq!(hp.rope_freq_base, 100000.0);
    assert!(hp.tied_embeddings);

    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(
        (tok.bos(), tok.eos(), tok.eot()),
        (Some(1), Some(2), Some(2))
    );
    assert!(!tok.adds_bos());
    assert_eq!(tok.eog_ids(), &[0, 2, 4]); // <|endoftext|>, <|im_end|>, <reponame>

    let chat = ChatTemplate::from_gguf(&g).unwrap();
    assert_eq!(chat.family, Family::ChatMl);
    assert_eq!(
        chat.render(&[Message::user("What is 2+2?")], true),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    );
    check_chat_matches_golden(&tok, &chat);
    round_trips(&tok);
}

#[test]
fn qwen_coder() {
    let bytes = common::read_model(common::QWEN_CODER);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(support::check(&g), vec![]);
    let hp = HParams::from_gguf(&g).unwrap();
    assert_eq!(hp.arch, "qwen2");
    assert_eq!((hp.n_layer, hp.n_embd, hp.n_ff), (24, 896, 4864));
    assert_eq!((hp.n_head, hp.n_head_kv, hp.head_dim), (14, 2, 64));
    assert_eq!((hp.n_ctx_train, hp.n_vocab), (32768, 151936));
    assert_eq!(hp.rope_freq_base, 1_000_000.0);
    assert!(!hp.tied_embeddings);

    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(
        (tok.bos(), tok.eos(), tok.eot()),
        (Some(151643), Some(151645), Some(151645))
    );
    assert_eq!(tok.eog_ids(), &[151643, 151645, 151662, 151663, 151664]);
    // User-defined tokens are split out even without parse_special.
    let tc = tok.token_id("<tool_call>").unwrap();
    assert_eq!(tok.encode("a<tool_call>", false, false).last(), Some(&tc));
    assert_ne!(tok.encode("<|im_end|>", false, false), vec![151645]);

    let chat = ChatTemplate::from_gguf(&g).unwrap();
    assert_eq!(chat.family, Family::ChatMl);
    assert_eq!(
        chat.render(&[Message::user("hi")], true),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
         <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    check_chat_matches_golden(&tok, &chat);
    round_trips(&tok);
}

/// The golden chat prompt is what the template renders for its messages
/// (minus the final newline of the generation prompt, which the golden
/// prompt leaves out).
fn check_chat_matches_golden(tok: &Tokenizer, chat: &ChatTemplate) {
    let msgs = [
        Message::system("You are a helpful assistant running inside a tiny operating system."),
        Message::user("What is an operating system kernel? Answer in one sentence."),
    ];
    let text = chat.render(&msgs, true);
    let golden = "<|im_start|>system\nYou are a helpful assistant running inside a tiny operating system.<|im_end|>\n<|im_start|>user\nWhat is an operating system kernel? Answer in one sentence.<|im_end|>\n<|im_start|>assistant";
    assert_eq!(text, format!("{golden}\n"));
    let ids = tok.encode(&text, true, true);
    assert_eq!(tok.decode(&ids, true).unwrap(), text);
}

/// Decoding gives back any text (through the streaming decoder too), and a
/// few KB of prompt tokenize in milliseconds.
fn round_trips(tok: &Tokenizer) {
    let mut seed = 0x2545_f491_u64;
    let alphabet: Vec<char> = "aZ09 _-.,;'\"()\n\t\r  \u{a0}\u{3000}éüßøæ€£ØΩжЖ我们天～😁🦙👍🏽\u{200d}\u{301}\u{fffd}<|im_start|><|im_end|>"
        .chars()
        .collect();
    for len in [0usize, 1, 2, 7, 50, 300] {
        for _ in 0..20 {
            let s: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            for special in [false, true] {
                let ids = tok.encode(&s, false, special);
                assert_eq!(tok.decode(&ids, true).unwrap(), s, "{s:?}");
                let mut d = Detokenizer::new(tok, true);
                let mut out = String::new();
                for &id in &ids {
                    out += d.push(id).unwrap();
                }
                out += &d.finish();
                assert_eq!(out, s);
            }
        }
    }
    // A long prompt of prose and code (its timing is printed, not asserted).
    let unit = "The kernel maps the model file, parses its metadata and runs the decoder: \
                fn main() { let x = vec![1, 2, 3]; println!(\"{x:?}\"); }\n\t// 12345 ÄÖÜ 我们\n";
    let text = unit.repeat(8192 / unit.len() + 1);
    let t = std::time::Instant::now();
    let ids = tok.encode(&text, true, true);
    let dt = t.elapsed();
    eprintln!("{} bytes -> {} tokens in {dt:?}", text.len(), ids.len());
    assert_eq!(tok.decode(&ids, true).unwrap(), text);
    // A pathological word: 20000 identical letters, merged in O(n log n).
    let long = "a".repeat(20000);
    let t = std::time::Instant::now();
    let ids = tok.encode(&long, false, false);
    let dt = t.elapsed();
    eprintln!("20000 x 'a' -> {} tokens in {dt:?}", ids.len());
    assert_eq!(tok.decode(&ids, false).unwrap(), long);
}
