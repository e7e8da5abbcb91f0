//! The tokenizer against llama.cpp: its tokenizer test vectors
//! (`shared/reference/tokenizer`) and the prompt tokenizations of the golden
//! outputs of the real models (`shared/reference/golden`).

mod common;

use model_loader::gguf::Gguf;
use model_loader::tokenizer::Tokenizer;

/// Runs every test string of `ggml-vocab-{name}.gguf.inp` and compares with
/// `.out` (no BOS, special tokens not parsed, as llama.cpp's
/// test-tokenizer-0). Returns (passed, total).
fn check_vocab(name: &str) -> (usize, usize) {
    let dir = common::reference_dir().join("tokenizer");
    let base = dir.join(format!("ggml-vocab-{name}.gguf"));
    let bytes = std::fs::read(&base).unwrap();
    let gguf = Gguf::parse(&bytes).unwrap();
    let tok = Tokenizer::from_gguf(&gguf).unwrap();
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).unwrap();
    let out = std::fs::read_to_string(base.with_extension("gguf.out")).unwrap();
    let mut inputs: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    assert_eq!(
        inputs.pop(),
        Some(""),
        "the .inp file ends with a separator"
    );
    let expected: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        inputs.len(),
        expected.len(),
        "{name}: .inp and .out disagree"
    );
    let mut failures = Vec::new();
    for (text, want) in inputs.iter().zip(&expected) {
        let got = tok.encode(text, false, false);
        if &got != want {
            failures.push(format!("{text:?}\n   want {want:?}\n   got  {got:?}"));
        }
        // Decoding gives the text back (SentencePiece drops the added space).
        let back = tok.decode(&got, false).unwrap();
        assert_eq!(&back, text, "{name}: round trip of {text:?}");
    }
    let passed = inputs.len() - failures.len();
    eprintln!("{name}: {passed}/{} vectors pass", inputs.len());
    assert!(
        failures.is_empty(),
        "{name}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (passed, inputs.len())
}

#[test]
fn vectors_gpt2() {
    assert_eq!(check_vocab("gpt-2"), (46, 46));
}

#[test]
fn vectors_llama_spm() {
    assert_eq!(check_vocab("llama-spm"), (46, 46));
}

#[test]
fn vectors_qwen2() {
    assert_eq!(check_vocab("qwen2"), (46, 46));
}

/// The golden prompts: special tokens parsed, BOS where the model asks.
fn check_golden(model_file: &str, golden_file: &str) {
    let bytes = common::read_model(model_file);
    let gguf = Gguf::parse(&bytes).unwrap();
    let tok = Tokenizer::from_gguf(&gguf).unwrap();
    let cases = common::read_golden(golden_file);
    assert!(!cases.is_empty());
    for case in &cases {
        let t = std::time::Instant::now();
        let got = tok.encode(&case.prompt, true, true);
        let dt = t.elapsed();
        assert_eq!(
            got, case.prompt_ids,
            "{model_file}: prompt {:?}",
            case.prompt
        );
        assert_eq!(tok.decode(&got, true).unwrap(), case.prompt);
        eprintln!("{model_file}: {} tokens in {dt:?}", got.len());
    }
}

#[test]
fn golden_smollm2() {
    check_golden(common::SMOLLM2, "smollm2-135m-instruct-q4_1.jsonl");
}

#[test]
fn golden_qwen_coder() {
    check_golden(
        common::QWEN_CODER,
        "qwen2.5-coder-0.5b-instruct-q4_k_m.jsonl",
    );
}
