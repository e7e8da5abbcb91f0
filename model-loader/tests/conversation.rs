//! The conversation engine on SmolLM2 (ChatML with real special tokens):
//! the cache holds the template's tokenization of the conversation, a
//! context overflow drops turns and rebuilds correctly, and `/complete`
//! is llama.cpp's greedy continuation. Uses the best backend available
//! (the scalar one is fast enough for SmolLM2).

mod common;

use model_loader::chat::{ChatTemplate, Message};
use model_loader::conversation::{self, Conversation, Io, Options, Stop};
use model_loader::gguf::Gguf;
use model_loader::model::Model;
use model_loader::quant::{self, Backend};
use model_loader::session::Session;
use model_loader::tokenizer::Tokenizer;

#[derive(Default)]
struct RecordIo {
    text: String,
    notices: Vec<String>,
    clock: u64,
}

impl Io for RecordIo {
    fn text(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn notice(&mut self, s: &str) {
        self.notices.push(s.into());
    }
    fn now_us(&mut self) -> u64 {
        self.clock += 10;
        self.clock
    }
}

struct Smol {
    model: Model<'static>,
    tok: Tokenizer,
    template: ChatTemplate,
}

fn smollm2() -> Smol {
    let bytes: &'static [u8] = Box::leak(common::read_model(common::SMOLLM2).into_boxed_slice());
    let g = Gguf::parse(bytes).unwrap();
    let (template, notice) = conversation::template_for(&g);
    assert_eq!(notice, None);
    Smol {
        model: Model::from_gguf(&g).unwrap(),
        tok: Tokenizer::from_gguf(&g).unwrap(),
        template,
    }
}

/// The scalar reference: its results do not depend on how tokens are split
/// into batches, so the cache bookkeeping can be checked exactly. (The SIMD
/// backends compute prefill batches and single tokens with different
/// kernels whose results differ slightly; over a long conversation the
/// logits then drift from a fresh prefill's (by 0.65 at logit scale ~20
/// with avx512vnni on SmolLM2), which says nothing about the bookkeeping.)
fn backend() -> &'static Backend {
    &quant::SCALAR
}

fn options(n_ctx: usize, max_reply: usize) -> Options {
    let mut o = Options {
        n_ctx,
        max_reply_tokens: max_reply,
        ..Options::default()
    };
    o.sampler.seed = 11;
    o
}

/// The cache holds exactly `tokens()` (once the last turn's close, fed at
/// the next message, is flushed): prefilling them afresh gives the
/// conversation's last logits (exactly with the scalar backend, whose
/// results do not depend on the batch split).
fn assert_cache_matches_tokens(c: &mut Conversation<'_, '_>) {
    c.flush().unwrap();
    let mut fresh = Session::new(c.model(), backend(), c.n_ctx(), 64).unwrap();
    let want = fresh.prefill(c.tokens(), None).unwrap();
    let got = c.logits();
    if backend().name == "scalar" {
        assert_eq!(want, got);
    } else {
        let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = want
            .iter()
            .zip(got)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-3 * scale, "logits differ by {diff}");
    }
}

/// With real special tokens, the whole conversation's tokens are the
/// tokenization of its rendering, except that the replies are the tokens
/// as generated: checked as text (the tokens decode to the rendering) and
/// as tokens (without the replies, they are the tokenization of the
/// rendering with empty replies).
fn assert_history_is_the_template(c: &Conversation<'_, '_>, tok: &Tokenizer) {
    let mut full = vec![Message::system(c.system_prompt())];
    let mut empty = full.clone();
    let close_len = tok.encode("<|im_end|>\n", false, true).len();
    assert_eq!(close_len, 2);
    let mut at = c.system_prefix().1.len();
    let mut without = c.tokens()[..at].to_vec();
    for t in c.turns() {
        full.push(Message::user(&t.user));
        full.push(Message::assistant(&t.reply));
        empty.push(Message::user(&t.user));
        empty.push(Message::assistant(""));
        let end = at + t.n_tokens;
        let reply_at = end - close_len - t.reply_tokens.len();
        assert_eq!(&c.tokens()[reply_at..end - close_len], &t.reply_tokens[..]);
        without.extend_from_slice(&c.tokens()[at..reply_at]);
        without.extend_from_slice(&c.tokens()[end - close_len..end]);
        at = end;
    }
    assert_eq!(at, c.tokens().len());
    assert_eq!(
        tok.decode(c.tokens(), true).unwrap(),
        c.template().render(&full, false)
    );
    assert_eq!(
        without,
        tok.encode(&c.template().render(&empty, false), true, true)
    );
}

#[test]
fn smollm2_turns_and_overflow() {
    let s = smollm2();
    let mut io = RecordIo::default();
    let n_ctx = 200;
    let mut c = Conversation::new(
        &s.model,
        &s.tok,
        s.template.clone(),
        backend(),
        options(n_ctx, 24),
        None,
        &mut io,
    )
    .unwrap();
    let (prefix_text, prefix) = c.system_prefix();
    assert!(prefix_text.starts_with("<|im_start|>system\nYou are a small language model"));
    assert_eq!(prefix[0], s.tok.token_id("<|im_start|>").unwrap());
    eprintln!("system prefix: {} tokens", prefix.len());

    let questions = [
        "Hello! Who are you?",
        "What is a kernel?",
        "Name a colour.",
        "What is 3 + 4?",
        "Say something short.",
        "Thanks!",
    ];
    let mut dropped = 0;
    for (i, q) in questions.iter().enumerate() {
        io.text.clear();
        let r = c.reply(q, &mut io).unwrap();
        eprintln!("{q} -> {:?} [{}]", io.text, r.summary());
        assert_eq!(c.turns().last().unwrap().reply, io.text);
        assert!(r.generated <= 24);
        assert!(c.tokens().len() <= n_ctx);
        dropped += r.dropped_turns;
        assert_eq!(c.turns().len() + dropped, i + 1);
        assert_history_is_the_template(&c, &s.tok);
    }
    assert!(dropped > 0, "no overflow");
    assert_eq!(io.notices.len(), c.totals().rebuilds);
    assert!(io.notices[0].starts_with("context full: dropped "));
    assert_cache_matches_tokens(&mut c);

    // An interrupted reply is closed and the conversation goes on.
    struct StopAfter(RecordIo, usize);
    impl Io for StopAfter {
        fn text(&mut self, s: &str) {
            self.0.text(s);
            self.1 = self.1.saturating_sub(1);
        }
        fn notice(&mut self, s: &str) {
            self.0.notice(s)
        }
        fn interrupted(&mut self) -> bool {
            self.1 == 0
        }
        fn now_us(&mut self) -> u64 {
            self.0.now_us()
        }
    }
    c.reset();
    assert_eq!(c.tokens(), c.system_prefix().1);
    let mut stop = StopAfter(RecordIo::default(), 2);
    let r = c
        .reply("Write a long poem about the sea.", &mut stop)
        .unwrap();
    assert_eq!((r.stop, r.generated), (Stop::Interrupted, 2));
    c.reply("Shorter, please.", &mut io).unwrap();
    assert_history_is_the_template(&c, &s.tok);
    assert_cache_matches_tokens(&mut c);
}

/// `/complete` against llama.cpp's greedy tokens (up to the first near
/// tie, where rounding may legitimately pick the other token), and
/// against a plain session.
#[test]
fn smollm2_complete_is_llama_cpp_greedy() {
    let s = smollm2();
    let mut io = RecordIo::default();
    let c = Conversation::new(
        &s.model,
        &s.tok,
        s.template.clone(),
        backend(),
        options(512, 16),
        None,
        &mut io,
    )
    .unwrap();
    let path = common::reference_dir()
        .join("golden")
        .join(common::SMOLLM2.replace(".gguf", ".jsonl"));
    let golden = std::fs::read_to_string(path).unwrap();
    for line in golden.lines().take(3) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let prompt = v["prompt"].as_str().unwrap();
        let ids = |k: &str| -> Vec<u32> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        let margins: Vec<f64> = v["margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let sure = margins
            .iter()
            .position(|&m| m < 0.1)
            .unwrap_or(margins.len());
        let n = sure.min(24);
        let r = c.complete(prompt, n, &mut io).unwrap();
        assert_eq!(r.prompt_ids, ids("prompt_ids"), "{prompt:?}");
        assert_eq!(r.ids[..], ids("gen_ids")[..n], "{prompt:?}");
        eprintln!("{prompt:?}: {} tokens agree with llama.cpp", n);
    }
    assert!(
        c.tokens() == c.system_prefix().1,
        "the conversation was not touched"
    );
}

/// A message read ahead while it is typed (`Conversation::prepare`) gets
/// the reply it would get without, to the last bit of the logits, with
/// every backend: the read-ahead feeds the prefill's own batches.
#[test]
fn smollm2_read_ahead_changes_no_bit_of_the_reply() {
    let s = smollm2();
    for be in quant::available() {
        let new = || {
            let mut o = options(400, 10);
            o.max_batch = 4;
            o.sampler.temperature = 0.0;
            let mut io = RecordIo::default();
            Conversation::new(&s.model, &s.tok, s.template.clone(), be, o, None, &mut io).unwrap()
        };
        let (mut a, mut b) = (new(), new());
        let mut io = RecordIo::default();
        for c in [&mut a, &mut b] {
            c.reply("Hello! Who are you?", &mut io).unwrap();
        }
        // Typed with a pause, changed, typed on and left.
        let typing = [
            ("", false),
            ("What is the capital", false),
            ("What is the capital", true),
            ("What is the capital of Fr", false),
            ("What is the largest city of France?", false),
            ("What is the largest city of France?", true),
        ];
        for (typed, whole) in typing {
            while b.prepare(typed, whole, None).unwrap() != conversation::Prepared::Ready {}
        }
        let sent = "What is the largest city of France?";
        let ra = a.reply(sent, &mut io).unwrap();
        let rb = b.reply(sent, &mut io).unwrap();
        assert_eq!(rb.prompt_tokens, 0, "{}", be.name);
        assert_eq!(rb.prepared, ra.prompt_tokens, "{}", be.name);
        assert_eq!(
            a.turns()[1].reply_tokens,
            b.turns()[1].reply_tokens,
            "{}",
            be.name
        );
        assert_eq!(a.tokens(), b.tokens());
        let same = a
            .logits()
            .iter()
            .zip(b.logits())
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{}: the logits differ", be.name);
        // Read ahead, then sent otherwise.
        for typed in ["Thanks, and of Germany?", "Thanks"] {
            while b.prepare(typed, true, None).unwrap() != conversation::Prepared::Ready {}
        }
        let sent = "Thanks, and of Spain?";
        a.reply(sent, &mut io).unwrap();
        let rb = b.reply(sent, &mut io).unwrap();
        assert!(
            rb.prepared > 0 && rb.prompt_tokens > 0,
            "{}: {rb:?}",
            be.name
        );
        assert_eq!(
            a.turns()[2].reply_tokens,
            b.turns()[2].reply_tokens,
            "{}",
            be.name
        );
        let same = a
            .logits()
            .iter()
            .zip(b.logits())
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{}: the logits differ after an edit", be.name);
    }
}
