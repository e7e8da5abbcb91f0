//! `model-loader tiny`, `pack` and `chat`: the tiny model is the library's,
//! a pack parses and holds the GGUF byte for byte, its prefix restores to
//! the same state as a fresh prefill (tiny model and SmolLM2), bad input is
//! refused without leaving files behind, and `chat` answers on stdin.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use model_loader::conversation::{self, Conversation, Io, Options, PrefixSource};
use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::pack::{self, Header};
use model_loader::pack_file::ModelImage;
use model_loader::quant::SCALAR;
use model_loader::sampler::Sampler;
use model_loader::session::Session;
use model_loader::tokenizer::Tokenizer;

const BIN: &str = env!("CARGO_BIN_EXE_model-loader");
static VOCAB: &[u8] = include_bytes!("../data/ggml-vocab-gpt-2.gguf");

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("model-loader-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LLM_BACKEND", "scalar")
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args, None);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Quiet;
impl Io for Quiet {
    fn text(&mut self, _: &str) {}
    fn notice(&mut self, s: &str) {
        panic!("unexpected notice: {s}");
    }
    fn now_us(&mut self) -> u64 {
        0
    }
}

/// Checks the pack at `img` against the GGUF at `gguf`, restores its
/// prefix and compares with a freshly computed one after a first turn.
fn check_pack(img: &Path, gguf: &Path) -> usize {
    let image = ModelImage::read(img).unwrap();
    let h = image.header.clone().expect("a pack header");
    let original = std::fs::read(gguf).unwrap();
    assert_eq!(h.gguf_offset, pack::GGUF_OFFSET);
    assert_eq!(
        image.gguf(),
        &original[..],
        "the GGUF is copied byte for byte"
    );
    let raw = std::fs::read(img).unwrap();
    assert_eq!(Header::parse(&raw, raw.len() as u64).unwrap(), h);
    assert_eq!(raw.len() as u64, h.image_len());
    assert_eq!(h.prefix_offset % 4096, 0);

    let prefix = image.prefix().unwrap().expect("a prefix section");
    assert_eq!(prefix.backend, "scalar");
    let g = Gguf::parse(image.gguf()).unwrap();
    let model = Model::from_gguf(&g).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let (template, _) = conversation::template_for(&g);
    // The pack's system prompt: the registry's commands as tools, in the
    // model's format.
    let system =
        model_loader::agent::registry_system_prompt(model_loader::agent::ToolFormat::from_gguf(&g));
    let opts = || Options {
        n_ctx: 4096,
        max_reply_tokens: 4,
        system_prompt: system.clone(),
        ..Options::default()
    };
    let mut restored = Conversation::new(
        &model,
        &tok,
        template.clone(),
        &SCALAR,
        opts(),
        Some(&prefix),
        &mut Quiet,
    )
    .unwrap();
    assert!(matches!(
        restored.prefix_source(),
        PrefixSource::Restored { .. }
    ));
    assert_eq!(prefix.tokens, restored.system_prefix().1);
    let mut fresh =
        Conversation::new(&model, &tok, template, &SCALAR, opts(), None, &mut Quiet).unwrap();
    restored.reply("Hello", &mut Quiet).unwrap();
    fresh.reply("Hello", &mut Quiet).unwrap();
    assert_eq!(restored.tokens(), fresh.tokens());
    assert_eq!(restored.logits(), fresh.logits());
    prefix.tokens.len()
}

#[test]
fn tiny_pack_and_chat() {
    let d = scratch("tiny");
    let gguf = d.join("tiny.gguf");
    let img = d.join("tiny.img");
    let g = gguf.to_str().unwrap();
    let i = img.to_str().unwrap();

    let out = ok(&["tiny", "--seed", "5", g]);
    assert!(out.contains("wrote"), "{out}");
    let vocab = Gguf::parse(VOCAB).unwrap();
    assert_eq!(
        std::fs::read(&gguf).unwrap(),
        model_loader::tiny::write(5, &vocab).unwrap()
    );

    let out = ok(&["pack", "--name", "tiny", g, i]);
    assert!(out.contains("system prefix:"), "{out}");
    check_pack(&img, &gguf);
    assert_eq!(ModelImage::read(&img).unwrap().header.unwrap().name, "tiny");

    // Without a prefix.
    let bare = d.join("bare.img");
    ok(&["pack", "--no-prefix", g, bare.to_str().unwrap()]);
    let image = ModelImage::read(&bare).unwrap();
    let h = image.header.clone().unwrap();
    assert_eq!((h.prefix_len, h.name.as_str()), (0, "tiny"));
    assert!(image.prefix().unwrap().is_none());
    assert_eq!(image.gguf(), &std::fs::read(&gguf).unwrap()[..]);

    // `chat` on the pack: a reply, `/complete` (a plain greedy run), commands.
    let out = run(
        &["chat", "--max-tokens", "5", i],
        Some("Hello\n/complete -n 6 Once upon a time\n/temp nope\n/stats\n/quit\nnever read\n"),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("restored from the model pack"), "{stderr}");
    assert!(stderr.contains("error: temperature must be"), "{stderr}");
    assert!(
        stdout.contains("context:") && stdout.contains("1 turn"),
        "{stdout}"
    );
    let bytes = std::fs::read(&gguf).unwrap();
    let gg = Gguf::parse(&bytes).unwrap();
    let model = Model::from_gguf(&gg).unwrap();
    let tok = Tokenizer::from_gguf(&gg).unwrap();
    let ids = tok.encode("Once upon a time", true, true);
    let mut s = Session::new(&model, &SCALAR, 64, 64).unwrap();
    let mut sampler = Sampler::greedy();
    let mut next = sampler.sample(s.prefill(&ids, None).unwrap(), &ids);
    let mut gen = vec![next];
    while gen.len() < 6 {
        next = sampler.sample(s.decode_step(next).unwrap(), &[]);
        gen.push(next);
    }
    let text = tok.decode(&gen, false).unwrap();
    assert!(stdout.contains(&text), "{text:?} not in {stdout:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_input_is_refused() {
    let d = scratch("bad");
    let junk = d.join("junk.gguf");
    std::fs::write(&junk, b"not a model at all").unwrap();
    let out_img = d.join("out.img");
    let o = out_img.to_str().unwrap();
    for (args, code) in [
        (vec!["pack", junk.to_str().unwrap(), o], 2),
        (vec!["pack", "--no-prefix", junk.to_str().unwrap(), o], 2),
        (vec!["pack", "/nonexistent/model.gguf", o], 2),
        (vec!["pack", junk.to_str().unwrap()], 3),
        (vec!["pack", "--ctx", "lots", junk.to_str().unwrap(), o], 3),
        (
            vec!["pack", "--backend", "nope", junk.to_str().unwrap(), o],
            3,
        ),
        (vec!["tiny"], 3),
        (vec!["chat", junk.to_str().unwrap()], 2),
        (vec!["chat", "--temp", "-1", junk.to_str().unwrap()], 3),
    ] {
        let out = run(&args, None);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
    assert!(
        std::fs::read_dir(&d).unwrap().count() == 1,
        "only junk.gguf is left"
    );

    // A damaged pack header is refused by `chat`.
    let gguf = d.join("t.gguf");
    ok(&["tiny", gguf.to_str().unwrap()]);
    ok(&["pack", "--no-prefix", gguf.to_str().unwrap(), o]);
    let mut raw = std::fs::read(&out_img).unwrap();
    raw[20] ^= 1;
    std::fs::write(&out_img, &raw).unwrap();
    let out = run(&["chat", o], Some("hi\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn smollm2_pack_prefix_restores() {
    let d = scratch("smol");
    let gguf = common::model_dir().join(common::SMOLLM2);
    assert!(gguf.exists(), "{} is missing", gguf.display());
    let img = d.join("smollm2.img");
    let out = ok(&["pack", gguf.to_str().unwrap(), img.to_str().unwrap()]);
    eprint!("{out}");
    let n = check_pack(&img, &gguf);
    assert!(n > 20, "{n} prefix tokens");
    let _ = std::fs::remove_dir_all(&d);
}
