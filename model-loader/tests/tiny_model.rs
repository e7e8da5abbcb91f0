//! The tiny random model with the real GPT-2 vocabulary (llama.cpp's
//! `ggml-vocab-gpt-2.gguf` from the shared reference data, or
//! `$LLM_TINY_VOCAB`): small, loads, tokenizes text and generates.

use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::quant::SCALAR;
use model_loader::sampler::Sampler;
use model_loader::session::Session;
use model_loader::tokenizer::Tokenizer;

#[test]
fn tiny_model_with_gpt2_vocab() {
    let path = std::env::var("LLM_TINY_VOCAB")
        .unwrap_or_else(|_| "/work/shared/reference/tokenizer/ggml-vocab-gpt-2.gguf".into());
    let vb = std::fs::read(&path).unwrap_or_else(|e| panic!("vocabulary {path} is missing: {e}"));
    let vocab = Gguf::parse(&vb).unwrap();
    let bytes = model_loader::tiny::write(1, &vocab).unwrap();
    assert!(bytes.len() < 8 << 20, "{} bytes", bytes.len());
    let g = Gguf::parse(&bytes).unwrap();
    let model = Model::from_gguf(&g).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(model.hparams.n_vocab, 50257);
    let ids = tok.encode("Hello world, this is a test.", true, true);
    // Same tokenization as the vocabulary file's own tokenizer.
    assert_eq!(
        ids,
        Tokenizer::from_gguf(&vocab)
            .unwrap()
            .encode("Hello world, this is a test.", true, true)
    );
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "Hello world, this is a test."
    );
    let mut s = Session::new(&model, &SCALAR, 128, 32).unwrap();
    let mut sampler = Sampler::greedy();
    let mut next = sampler.sample(s.prefill(&ids, None).unwrap(), &ids);
    let mut gen = vec![];
    for _ in 0..16 {
        gen.push(next);
        next = sampler.sample(s.decode_step(next).unwrap(), &[]);
    }
    assert!(gen.iter().all(|&t| (t as usize) < 50257));
    eprintln!(
        "tiny model: {} bytes, generated {:?}",
        bytes.len(),
        tok.decode(&gen, false).unwrap()
    );
}
