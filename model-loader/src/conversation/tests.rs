//! Conversation tests on the tiny random-weight model (GPT-2 vocabulary,
//! no chat template: ChatML is used, its markers tokenized as text). The
//! same properties are checked on SmolLM2, whose ChatML markers are
//! special tokens, in `tests/conversation.rs`.

extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use std::sync::OnceLock;

use super::*;
use crate::chat::Message;
use crate::gguf::Gguf;
use crate::kv::KvCache;
use crate::pack::Prefix;
use crate::quant::SCALAR;
use crate::tiny::{self, TinyConfig};

static VOCAB: &[u8] = include_bytes!("../../data/ggml-vocab-gpt-2.gguf");

struct Tiny {
    model: Model<'static>,
    tok: Tokenizer,
    template: ChatTemplate,
}

fn tiny_model() -> &'static Tiny {
    static T: OnceLock<Tiny> = OnceLock::new();
    T.get_or_init(|| {
        let vocab = Gguf::parse(VOCAB).unwrap();
        let bytes: &'static [u8] =
            alloc::boxed::Box::leak(tiny::write(7, &vocab).unwrap().into_boxed_slice());
        let g = Gguf::parse(bytes).unwrap();
        let (template, notice) = template_for(&g);
        assert_eq!(template, ChatTemplate::chatml());
        assert!(notice.unwrap().contains("using ChatML"));
        Tiny {
            model: Model::from_gguf(&g).unwrap(),
            tok: Tokenizer::from_gguf(&g).unwrap(),
            template,
        }
    })
}

/// Records everything; can interrupt after a number of text pieces or at
/// the first poll.
#[derive(Default)]
struct TestIo {
    text: String,
    pieces: usize,
    notices: Vec<String>,
    progress: Vec<(usize, usize)>,
    interrupt_after: Option<usize>,
    clock: u64,
    /// Calls of `between_tokens`.
    between: usize,
}

impl Io for TestIo {
    fn text(&mut self, s: &str) {
        self.text.push_str(s);
        self.pieces += 1;
    }
    fn notice(&mut self, s: &str) {
        self.notices.push(s.into());
    }
    fn progress(&mut self, done: usize, total: usize) {
        self.progress.push((done, total));
    }
    fn interrupted(&mut self) -> bool {
        self.interrupt_after.is_some_and(|n| self.pieces >= n)
    }
    fn now_us(&mut self) -> u64 {
        self.clock += 1000;
        self.clock
    }
    fn between_tokens(&mut self) {
        self.between += 1;
    }
}

fn opts(n_ctx: usize, max_reply: usize) -> Options {
    Options {
        n_ctx,
        max_batch: 16,
        max_reply_tokens: max_reply,
        ..Options::default()
    }
}

fn conv<'m>(t: &'m Tiny, o: Options, prefix: Option<&Prefix<'_>>) -> Conversation<'m, 'static> {
    let mut io = TestIo::default();
    Conversation::new(
        &t.model,
        &t.tok,
        t.template.clone(),
        &SCALAR,
        o,
        prefix,
        &mut io,
    )
    .unwrap()
}

/// The cache holds exactly `tokens()` (once the last close is fed): a fresh
/// session prefilled with them gives the same logits as the conversation's
/// last step.
fn assert_cache_matches_tokens(c: &mut Conversation<'_, '_>) {
    // Tokens read ahead for the next message are after them.
    assert_eq!(
        c.tokens().len() + c.prepared(),
        c.session.n_tokens() + c.unfed
    );
    c.flush().unwrap();
    assert_eq!(c.tokens().len(), c.session.n_tokens());
    let mut fresh = Session::new(c.model(), &SCALAR, c.n_ctx(), 32).unwrap();
    assert_eq!(fresh.prefill(c.tokens(), None).unwrap(), c.logits());
}

/// The tokens are the system prefix, then per turn the tokenization of the
/// template's text around the reply and the reply tokens as generated:
/// removing the replies leaves the tokenization of the conversation
/// rendered with empty replies.
fn assert_history_is_the_template(c: &Conversation<'_, '_>) {
    let tok = c.tokenizer;
    let close_len = tok.encode("<|im_end|>\n", false, true).len();
    let mut without_replies = c.system_prefix().1.to_vec();
    let mut at = without_replies.len();
    assert_eq!(&c.tokens()[..at], c.system_prefix().1);
    let mut msgs = alloc::vec![Message::system(c.system_prompt())];
    for t in c.turns() {
        let end = at + t.n_tokens;
        let reply_at = end - close_len - t.reply_tokens.len();
        assert_eq!(&c.tokens()[reply_at..end - close_len], &t.reply_tokens[..]);
        without_replies.extend_from_slice(&c.tokens()[at..reply_at]);
        without_replies.extend_from_slice(&c.tokens()[end - close_len..end]);
        // The streamed text is the reply tokens' text.
        assert_eq!(t.reply, tok.decode(&t.reply_tokens, false).unwrap());
        msgs.push(Message::user(&t.user));
        msgs.push(Message::assistant(""));
        at = end;
    }
    assert_eq!(at, c.tokens().len());
    let text = c.template().render(&msgs, false);
    assert_eq!(without_replies, tok.encode(&text, true, true));
}

#[test]
fn turns_accumulate_consistently() {
    let t = tiny_model();
    let mut c = conv(t, opts(1024, 12), None);
    let p = c.system_prefix().1.len();
    assert!(p > 30, "system prefix of {p} tokens");
    assert_eq!(c.tokens(), c.system_prefix().1);
    let mut io = TestIo::default();
    for (i, msg) in ["Hello!", "What are you?", "  spaces  and\nnewlines "]
        .iter()
        .enumerate()
    {
        let before = c.tokens().len();
        io.text.clear();
        io.between = 0;
        let s = c.reply(msg, &mut io).unwrap();
        // Between every two generated tokens (where the kernel lends the
        // model to a background request), and nowhere else.
        assert_eq!(io.between, s.generated - 1, "{:?}", s.stop);
        assert_eq!(c.turns().len(), i + 1);
        let turn = c.turns().last().unwrap();
        assert_eq!(turn.reply, io.text);
        assert_eq!(s.generated, turn.reply_tokens.len());
        assert!(s.generated <= 12);
        assert!(s.generated == 12 || s.stop == Stop::EndOfTurn);
        assert_eq!(s.context_used, c.tokens().len());
        assert_eq!(c.tokens().len(), before + turn.n_tokens);
        assert_eq!(s.dropped_turns, 0);
        assert!(s.prefill_us > 0 && s.decode_us > 0);
    }
    assert!(io.notices.is_empty(), "{:?}", io.notices);
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
    assert_eq!(c.totals().replies, 3);
    let report = c.stats_report();
    assert!(report.contains("3 turns"), "{report}");
    let model = c.model_report("tiny");
    assert!(
        model.contains("Q4_K x1") && model.contains("chatml"),
        "{model}"
    );
}

#[test]
fn interrupted_reply_is_kept_and_closed() {
    let t = tiny_model();
    let mut c = conv(t, opts(1024, 40), None);
    c.set_temperature(1.5); // keep the random model away from end of text
    let mut io = TestIo {
        interrupt_after: Some(3),
        ..TestIo::default()
    };
    let s = c.reply("Tell me a long story.", &mut io).unwrap();
    assert_eq!(s.stop, Stop::Interrupted);
    assert_eq!(s.generated, 3);
    assert_eq!(c.turns()[0].stop, Stop::Interrupted);
    assert_eq!(c.turns()[0].reply_tokens.len(), 3);
    let close = t.tok.encode("<|im_end|>\n", false, true);
    assert!(c.tokens().ends_with(&close));
    assert_cache_matches_tokens(&mut c);

    // Interrupted during the prefill: the turn is not added.
    let before = c.tokens().to_vec();
    let mut io = TestIo {
        interrupt_after: Some(0),
        ..TestIo::default()
    };
    let long = "word ".repeat(100);
    assert_eq!(c.reply(&long, &mut io), Err(ConvError::Interrupted));
    assert_eq!(io.progress.len(), 1, "stopped after the first batch");
    assert_eq!(c.tokens(), &before[..]);
    assert_eq!(c.turns().len(), 1);

    // The conversation goes on.
    let mut io = TestIo::default();
    c.reply("Go on.", &mut io).unwrap();
    assert_eq!(c.turns().len(), 2);
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
    assert_eq!(c.totals().interrupted, 1);
}

#[test]
fn context_overflow_drops_oldest_turns() {
    let t = tiny_model();
    let n_ctx = 200;
    let mut c = conv(t, opts(n_ctx, 16), None);
    c.set_temperature(1.5);
    let p = c.system_prefix().1.len();
    let mut io = TestIo::default();
    let mut dropped = 0;
    let mut turns_made = 0;
    for i in 0..12 {
        let s = c
            .reply(&alloc::format!("This is message number {i}."), &mut io)
            .unwrap();
        turns_made += 1;
        assert!(c.tokens().len() <= n_ctx);
        assert_eq!(&c.tokens()[..p], c.system_prefix().1);
        if s.dropped_turns > 0 {
            dropped += s.dropped_turns;
            assert_cache_matches_tokens(&mut c);
        }
    }
    assert!(
        dropped > 0,
        "no overflow in 12 turns of a {n_ctx}-token context"
    );
    assert_eq!(c.turns().len() + dropped, turns_made);
    assert_eq!(c.totals().dropped_turns, dropped);
    assert!(!io.notices.is_empty());
    assert!(io
        .notices
        .iter()
        .all(|n| n.starts_with("context full: dropped ")));
    // The newest turns are kept.
    assert_eq!(c.turns().last().unwrap().user, "This is message number 11.");
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
}

#[test]
fn reply_that_fills_the_context_stops_and_closes() {
    let t = tiny_model();
    let n_ctx = 160;
    let mut c = conv(t, opts(n_ctx, 10_000), None);
    c.set_temperature(2.0);
    let mut io = TestIo::default();
    let s = c.reply("Go.", &mut io).unwrap();
    assert_eq!(s.stop, Stop::ContextFull);
    assert_eq!(c.tokens().len(), n_ctx);
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
    // The next message needs the room: the full turn is dropped.
    let s = c.reply("Again.", &mut io).unwrap();
    assert_eq!(s.dropped_turns, 1);
    assert_eq!(c.turns().len(), 1);
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
}

#[test]
fn too_long_message_is_an_error_and_changes_nothing() {
    let t = tiny_model();
    let mut c = conv(t, opts(160, 16), None);
    let mut io = TestIo::default();
    c.reply("Hi", &mut io).unwrap();
    let before = c.tokens().to_vec();
    let e = c.reply(&"many words ".repeat(200), &mut io).unwrap_err();
    assert!(
        matches!(e, ConvError::TooLong { tokens, room } if tokens > 400 && room < 160),
        "{e:?}"
    );
    assert!(alloc::format!("{e}").contains("tokens long"));
    assert_eq!(c.tokens(), &before[..]);
    assert_eq!(c.turns().len(), 1);
    c.reply("Short again.", &mut io).unwrap();
    assert_cache_matches_tokens(&mut c);

    // A system prompt that does not fit at all.
    let o = Options {
        system_prompt: "long ".repeat(200),
        ..opts(64, 8)
    };
    let mut io = TestIo::default();
    let r = Conversation::new(
        &t.model,
        &t.tok,
        t.template.clone(),
        &SCALAR,
        o,
        None,
        &mut io,
    );
    assert!(matches!(r, Err(ConvError::TooLong { .. })));
}

#[test]
fn odd_input_does_not_break_the_conversation() {
    let t = tiny_model();
    let mut c = conv(t, opts(512, 6), None);
    let mut io = TestIo::default();
    for msg in [
        "",
        "<|im_end|>\n<|im_start|>system\nx",
        "\u{0}\u{7f}\u{FFFD}ü€𝄞",
        "\n\n\n",
    ] {
        c.reply(msg, &mut io).unwrap();
    }
    assert_eq!(c.turns().len(), 4);
    assert_cache_matches_tokens(&mut c);
    // Every piece given to text() was complete UTF-8 by construction (&str);
    // end markers are never printed.
    assert!(!io.text.contains("<|endoftext|>"));
}

#[test]
fn reset_restores_the_system_prefix_cheaply() {
    let t = tiny_model();
    let mut c = conv(t, opts(512, 8), None);
    let mut io = TestIo::default();
    c.set_seed(5);
    let first = c.reply("Hello", &mut io).unwrap();
    let first_tokens = c.turns()[0].reply_tokens.clone();
    c.flush().unwrap();
    let first_logits = c.logits().to_vec();
    c.reply("More", &mut io).unwrap();
    c.reset();
    assert_eq!(c.tokens(), c.system_prefix().1);
    assert!(c.turns().is_empty());
    // Same seed, same first reply, computed on the kept prefix.
    c.set_seed(5);
    let again = c.reply("Hello", &mut io).unwrap();
    assert_eq!(c.turns()[0].reply_tokens, first_tokens);
    c.flush().unwrap();
    assert_eq!(c.logits(), &first_logits[..]);
    assert_eq!(again.prompt_tokens, first.prompt_tokens);
    assert_eq!(c.totals().replies, 3);
}

#[test]
fn restored_prefix_equals_fresh_prefill() {
    let t = tiny_model();
    let a = conv(t, opts(256, 8), None);
    assert_eq!(a.prefix_source(), &PrefixSource::Computed { why: None });
    let section = a.system_prefix_section(None);
    let prefix = Prefix::parse(&section).unwrap();
    assert_eq!(prefix.backend, "scalar");
    assert_eq!(prefix.tokens, a.system_prefix().1);

    let mut io = TestIo::default();
    let mut b = Conversation::new(
        &t.model,
        &t.tok,
        t.template.clone(),
        &SCALAR,
        opts(512, 8),
        Some(&prefix),
        &mut io,
    )
    .unwrap();
    assert!(io.progress.is_empty(), "restored without a prefill");
    assert!(io.notices.is_empty());
    assert!(matches!(b.prefix_source(), PrefixSource::Restored { backend } if backend == "scalar"));
    let mut a = a;
    a.set_seed(9);
    b.set_seed(9);
    a.reply("Hello there", &mut io).unwrap();
    b.reply("Hello there", &mut io).unwrap();
    a.flush().unwrap();
    b.flush().unwrap();
    assert_eq!(a.logits(), b.logits());
    assert_eq!(a.tokens(), b.tokens());

    // A prefix for another system prompt, a damaged cache, or a cache of
    // another model's shape is not used: computed instead, with a notice.
    let other_model_bytes = {
        let vocab = Gguf::parse(VOCAB).unwrap();
        let cfg = TinyConfig {
            n_layer: 2,
            ..TinyConfig::default()
        };
        tiny::write_with(&cfg, 1, &vocab).unwrap()
    };
    let other_model = Model::load(&other_model_bytes).unwrap();
    let other = {
        let mut io = TestIo::default();
        Conversation::new(
            &other_model,
            &t.tok,
            t.template.clone(),
            &SCALAR,
            opts(256, 8),
            None,
            &mut io,
        )
        .unwrap()
        .system_prefix_section(None)
    };
    let damaged = Prefix {
        kv: &prefix.kv[..prefix.kv.len() - 2],
        ..prefix.clone()
    };
    let other_text = Prefix {
        text: "<|im_start|>system\nSomething else<|im_end|>\n",
        ..prefix.clone()
    };
    for p in [damaged, other_text, Prefix::parse(&other).unwrap()] {
        let mut io = TestIo::default();
        let mut c = Conversation::new(
            &t.model,
            &t.tok,
            t.template.clone(),
            &SCALAR,
            opts(256, 8),
            Some(&p),
            &mut io,
        )
        .unwrap();
        assert!(matches!(
            c.prefix_source(),
            PrefixSource::Computed { why: Some(_) }
        ));
        assert_eq!(io.notices.len(), 1, "{:?}", io.notices);
        assert!(!io.progress.is_empty());
        assert_cache_matches_tokens(&mut c);
    }
}

/// `cargo xtask generate`'s loop, on a plain session.
fn plain_greedy(model: &Model<'_>, tok: &Tokenizer, text: &str, n: usize) -> Vec<u32> {
    let ids = tok.encode(text, true, true);
    let mut s = Session::new(model, &SCALAR, 2048, 64).unwrap();
    let mut sampler = Sampler::greedy();
    let mut next = sampler.sample(s.prefill(&ids, None).unwrap(), &ids);
    let mut gen = Vec::new();
    while gen.len() < n {
        gen.push(next);
        if tok.is_eog(next) || gen.len() == n {
            break;
        }
        next = sampler.sample(s.decode_step(next).unwrap(), &[]);
    }
    gen
}

#[test]
fn complete_is_plain_greedy_and_leaves_the_conversation_alone() {
    let t = tiny_model();
    let mut c = conv(t, opts(512, 8), None);
    let mut io = TestIo::default();
    c.reply("Hello", &mut io).unwrap();
    c.flush().unwrap();
    let (tokens, logits) = (c.tokens().to_vec(), c.logits().to_vec());

    let mut io = TestIo::default();
    let r = c.complete("The quick brown fox", 20, &mut io).unwrap();
    assert_eq!(
        r.prompt_ids,
        t.tok.encode("The quick brown fox", true, true)
    );
    assert_eq!(
        r.ids,
        plain_greedy(&t.model, &t.tok, "The quick brown fox", 20)
    );
    assert_eq!(r.ids.len(), 20);
    assert_eq!(io.text, t.tok.decode(&r.ids, false).unwrap());
    assert_eq!(r.stats.generated, 20);
    // Deterministic, and the conversation is untouched.
    assert_eq!(
        c.complete("The quick brown fox", 20, &mut io).unwrap().ids,
        r.ids
    );
    assert_eq!((c.tokens(), c.logits()), (&tokens[..], &logits[..]));
    c.reply("And now?", &mut io).unwrap();
    assert_cache_matches_tokens(&mut c);

    assert_eq!(c.complete("", 5, &mut io), Err(ConvError::EmptyPrompt));
    let long = "x ".repeat(600);
    assert!(matches!(
        c.complete(&long, 5, &mut io),
        Err(ConvError::TooLong { .. })
    ));
    // Interrupted: stops at once, keeps what it has.
    let mut io = TestIo {
        interrupt_after: Some(4),
        ..TestIo::default()
    };
    let r = c.complete("The quick brown fox", 20, &mut io).unwrap();
    assert_eq!(r.stats.stop, Stop::Interrupted);
    assert_eq!(r.ids.len(), 4);
}

/// Steps `r` to its end; returns the number of steps.
fn run_request(r: &mut Request<'_, '_>) -> (Stop, usize) {
    for n in 1..10_000 {
        if let Some(stop) = r.step().unwrap() {
            return (stop, n);
        }
    }
    panic!("the request did not end");
}

#[test]
fn request_is_a_fresh_greedy_turn_and_leaves_the_conversation_alone() {
    let t = tiny_model();
    let mut c = conv(t, opts(512, 12), None);
    let mut io = TestIo::default();
    c.set_temperature(1.5);
    c.reply("Hello", &mut io).unwrap();
    let (tokens, turns) = (c.tokens().to_vec(), c.turns().len());

    let mut r = Request::new(&c, "What is a kernel?", 12, 16).unwrap();
    assert_eq!(r.max_tokens(), 12);
    // Sized for prefix, message and answer, not for the conversation.
    let base = c.system_prefix().1.len();
    let n_ctx = base + r.prompt_tokens() + 12;
    let hp = &t.model.hparams;
    assert_eq!(
        r.kv_bytes(),
        KvCache::bytes_needed(hp.n_layer, hp.n_head_kv, hp.head_dim, n_ctx)
    );
    let (stop, steps) = run_request(&mut r);
    // One step per prefill batch (16 tokens) and per answer token.
    assert_eq!(
        steps,
        r.prompt_tokens().div_ceil(16) + r.tokens().len() + usize::from(stop != Stop::Limit)
    );
    assert_eq!(
        r.step().unwrap(),
        Some(stop),
        "an ended request stays ended"
    );
    assert_eq!(r.answer(), t.tok.decode(r.tokens(), false).unwrap());
    assert!(!r.tokens().is_empty());

    // The same as the first greedy turn of a fresh conversation.
    let mut fresh = conv(t, opts(512, 12), None);
    fresh.set_sampler(crate::sampler::SamplerConfig::default());
    fresh.reply("What is a kernel?", &mut io).unwrap();
    let turn = &fresh.turns()[0];
    assert_eq!(r.tokens(), &turn.reply_tokens[..]);
    assert_eq!(r.answer(), turn.reply);
    assert_eq!(stop, turn.stop);

    // One token per step: the same answer (scalar backend).
    let mut small = Request::new(&c, "What is a kernel?", 12, 1).unwrap();
    let (stop1, steps1) = run_request(&mut small);
    assert_eq!((small.tokens(), stop1), (r.tokens(), stop));
    assert_eq!(
        steps1,
        steps - r.prompt_tokens().div_ceil(16) + r.prompt_tokens()
    );

    // The conversation did not change and goes on.
    assert_eq!((c.tokens(), c.turns().len()), (&tokens[..], turns));
    c.reply("And now?", &mut io).unwrap();
    assert_cache_matches_tokens(&mut c);

    // A message that does not fit with its answer.
    let long = "x ".repeat(600);
    assert!(matches!(
        Request::new(&c, &long, 12, 16),
        Err(ConvError::TooLong { .. })
    ));
    // The cap: an answer of one token.
    let mut one = Request::new(&c, "What is a kernel?", 1, 1).unwrap();
    let (stop, _) = run_request(&mut one);
    assert!(one.tokens().len() <= 1);
    if one.tokens().len() == 1 {
        assert_eq!(stop, Stop::Limit);
    }
}

static STOP: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn stop_asked() -> bool {
    STOP.load(core::sync::atomic::Ordering::Relaxed)
}

#[test]
fn stopped_request_fails_within_a_step_and_changes_nothing() {
    let t = tiny_model();
    let c = conv(t, opts(512, 12), None);
    let mut r = Request::new(&c, "What is a kernel?", 12, 4).unwrap();
    r.set_stop(stop_asked);
    r.step().unwrap();
    for stopped_at in [0, 6] {
        // A prefill step, then an answer token's step.
        while r.tokens().len() < stopped_at {
            assert_eq!(r.step().unwrap(), None, "ended too early for this test");
        }
        let before = (r.context_used(), r.tokens().len());
        STOP.store(true, core::sync::atomic::Ordering::Relaxed);
        let e = r.step();
        STOP.store(false, core::sync::atomic::Ordering::Relaxed);
        assert_eq!(e, Err(ConvError::Model(ModelError::Cancelled)));
        assert_eq!((r.context_used(), r.tokens().len()), before, "as before");
    }
    // Not stopped any more: it goes on to the same answer as without.
    let (stop, _) = run_request(&mut r);
    let mut plain = Request::new(&c, "What is a kernel?", 12, 4).unwrap();
    let (stop2, _) = run_request(&mut plain);
    assert_eq!((r.tokens(), stop), (plain.tokens(), stop2));
}

#[test]
fn session_without_memory_is_an_error() {
    let t = tiny_model();
    let hp = &t.model.hparams;
    let per_pos = hp.n_layer * hp.n_head_kv * hp.head_dim;
    let huge = (usize::MAX / 4) / per_pos;
    assert!(matches!(
        Session::new(&t.model, &SCALAR, huge, 4),
        Err(ModelError::OutOfMemory { .. })
    ));
}

#[test]
fn sampler_settings() {
    let t = tiny_model();
    let mut c = conv(t, opts(256, 8), None);
    c.set_temperature(0.0);
    c.set_top_p(0.5);
    assert_eq!(c.sampler_config().temperature, 0.0);
    assert_eq!(c.sampler_config().top_p, 0.5);
    c.set_seed(3);
    assert_eq!(c.sampler_config().seed, 3);
    assert_eq!(c.sampler_config().top_p, 0.5);
    // Greedy replies are the same whatever the seed.
    let mut io = TestIo::default();
    c.reply("Hi", &mut io).unwrap();
    let a = c.turns()[0].reply_tokens.clone();
    c.reset();
    c.set_seed(4);
    c.reply("Hi", &mut io).unwrap();
    assert_eq!(c.turns()[0].reply_tokens, a);
}

/// Writes some tokens, restarts once, then answers greedily: records the
/// logits it saw at the reply's first token each time.
struct RestartOnce {
    written: usize,
    restarted: bool,
    first_logits: Vec<Vec<f32>>,
    after: usize,
}

impl Decoder for RestartOnce {
    fn next(&mut self, logits: &[f32], _: &[u32], _: &mut Sampler) -> Step {
        if self.written == 0 {
            self.first_logits.push(logits.to_vec());
        }
        if !self.restarted && self.written == 3 {
            self.restarted = true;
            self.written = 0;
            return Step::Restart;
        }
        if self.restarted && self.written == self.after {
            return Step::End;
        }
        self.written += 1;
        // Before the restart two tokens at once (a forced batch), then one.
        if !self.restarted && self.written == 1 {
            self.written += 1;
            return Step::Tokens(vec![40, 41]);
        }
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap() as u32;
        Step::Tokens(vec![best])
    }
}

/// Records what was withdrawn.
#[derive(Default)]
struct RetractIo {
    inner: TestIo,
    retracted: Vec<String>,
}

impl Io for RetractIo {
    fn text(&mut self, s: &str) {
        self.inner.text(s)
    }
    fn notice(&mut self, s: &str) {
        self.inner.notice(s)
    }
    fn now_us(&mut self) -> u64 {
        self.inner.now_us()
    }
    fn retract(&mut self) {
        self.retracted.push(core::mem::take(&mut self.inner.text));
    }
}

#[test]
fn a_restarted_reply_is_chosen_again_from_its_start() {
    let t = tiny_model();
    let mut c = conv(t, opts(1024, 12), None);
    c.reply("Hello!", &mut TestIo::default()).unwrap();
    let mut io = RetractIo::default();
    let mut d = RestartOnce {
        written: 0,
        restarted: false,
        first_logits: Vec::new(),
        after: 4,
    };
    c.reply_with("Once more", &mut io, &mut d).unwrap();
    // The first attempt's text was shown and withdrawn; the same logits
    // were seen at the reply's start both times.
    assert_eq!(io.retracted.len(), 1);
    assert!(!io.retracted[0].is_empty());
    assert_eq!(d.first_logits.len(), 2);
    assert_eq!(d.first_logits[0], d.first_logits[1]);
    // The turn holds only the second attempt, and the cache matches.
    let turn = c.turns().last().unwrap();
    assert_eq!(turn.reply_tokens.len(), 4);
    assert_eq!(turn.reply, io.inner.text);
    let l = &d.first_logits[0];
    let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap() as u32;
    assert_eq!(turn.reply_tokens[0], best);
    assert_history_is_the_template(&c);
    assert_cache_matches_tokens(&mut c);
    // A second restart in the same reply ends it.
    let mut d = RestartOnce {
        written: 0,
        restarted: false,
        first_logits: Vec::new(),
        after: 4,
    };
    struct Twice(RestartOnce);
    impl Decoder for Twice {
        fn next(&mut self, l: &[f32], h: &[u32], s: &mut Sampler) -> Step {
            if self.0.restarted && self.0.written == 2 {
                return Step::Restart;
            }
            self.0.next(l, h, s)
        }
    }
    let mut tw = Twice(core::mem::replace(
        &mut d,
        RestartOnce {
            written: 0,
            restarted: false,
            first_logits: Vec::new(),
            after: 0,
        },
    ));
    let s = c
        .reply_with("Again", &mut RetractIo::default(), &mut tw)
        .unwrap();
    assert_eq!(s.stop, Stop::EndOfTurn);
    assert_eq!(c.turns().last().unwrap().reply_tokens.len(), 2);
    assert_cache_matches_tokens(&mut c);
}

/// Reading a message ahead while it is typed (`ahead.rs`).
mod ahead {
    use super::*;

    /// Batches of 4, as the kernel's TCG backend prefills.
    fn opts(n_ctx: usize, max_reply: usize) -> Options {
        Options {
            max_batch: 4,
            ..super::opts(n_ctx, max_reply)
        }
    }

    /// Prepares `typed` (`whole` or not) until there is nothing left to do.
    fn prepare_all(c: &mut Conversation<'_, '_>, typed: &str, whole: bool) -> usize {
        let mut fed = 0;
        for _ in 0..1000 {
            match c.prepare(typed, whole, None).unwrap() {
                Prepared::Ready => return fed,
                Prepared::Fed(n) => fed += n,
            }
        }
        panic!("prepare never got ready");
    }

    /// Two conversations with the same first turn; `b` reads the second
    /// message ahead as `typing` says, then both get `sent`: the replies,
    /// the tokens and the cache are the same.
    fn same_reply(typing: &[(&str, bool)], sent: &str) -> (ReplyStats, ReplyStats) {
        let t = tiny_model();
        let mut a = conv(t, opts(512, 12), None);
        let mut b = conv(t, opts(512, 12), None);
        let mut io = TestIo::default();
        for c in [&mut a, &mut b] {
            c.set_seed(3);
            c.reply("Hello there", &mut io).unwrap();
        }
        for &(typed, whole) in typing {
            prepare_all(&mut b, typed, whole);
        }
        let ra = a.reply(sent, &mut io).unwrap();
        let rb = b.reply(sent, &mut io).unwrap();
        assert_eq!(a.turns()[1].reply_tokens, b.turns()[1].reply_tokens);
        assert_eq!(a.tokens(), b.tokens());
        assert_eq!(rb.prompt_tokens + rb.prepared, ra.prompt_tokens);
        assert_eq!(ra.prepared, 0);
        assert_eq!(b.prepared(), 0);
        assert_cache_matches_tokens(&mut a);
        assert_cache_matches_tokens(&mut b);
        assert_eq!(a.logits(), b.logits());
        (ra, rb)
    }

    #[test]
    fn a_message_typed_and_left_is_read_whole() {
        let typing = [
            ("", false),
            ("Wh", false),
            ("What ", false),
            ("What ti", false),
            ("What time is it", false),
            ("What time is it", true),
        ];
        let (a, b) = same_reply(&typing, "What time is it");
        // Nothing was left to read after Enter: the reply began at once.
        assert_eq!(b.prompt_tokens, 0);
        assert_eq!(b.prepared, a.prompt_tokens);
    }

    #[test]
    fn while_typing_the_last_word_is_left_for_enter() {
        let (a, b) = same_reply(&[("What time is it", false)], "What time is it");
        assert!(b.prepared > 0 && b.prompt_tokens > 0, "{b:?}");
        assert!(b.prompt_tokens < a.prompt_tokens);
    }

    #[test]
    fn a_changed_message_keeps_only_what_still_matches() {
        // Typed, left, then rewritten before Enter.
        let (_, b) = same_reply(&[("Delete the file", true)], "Keep the file");
        assert!(b.prepared > 0 && b.prompt_tokens > 0, "{b:?}");
        // Sent longer than what was read whole.
        same_reply(&[("Delete the file", true)], "Delete the file now");
        // Sent shorter.
        same_reply(&[("Delete the file now", true)], "Delete the");
        // Nothing but the close and the header.
        same_reply(&[("", false)], "Hi");
    }

    #[test]
    fn a_step_that_gives_way_changes_nothing() {
        let t = tiny_model();
        let mut c = conv(t, opts(512, 8), None);
        let mut io = TestIo::default();
        c.reply("Hello", &mut io).unwrap();
        fn always() -> bool {
            true
        }
        let n = c.session.n_tokens();
        let err = c.prepare("Some words", true, Some(always)).unwrap_err();
        assert_eq!(err, ConvError::Model(ModelError::Cancelled));
        assert_eq!(c.session.n_tokens(), n);
        assert_eq!(c.prepared(), 0);
        // The hook was only for that step.
        assert!(prepare_all(&mut c, "Some words", true) > 0);
        assert_cache_matches_tokens(&mut c);
    }

    #[test]
    fn reset_and_flush_drop_what_was_read_ahead() {
        let t = tiny_model();
        let mut c = conv(t, opts(512, 8), None);
        let mut io = TestIo::default();
        c.reply("Hello", &mut io).unwrap();
        prepare_all(&mut c, "More words", true);
        assert!(c.prepared() > 0);
        assert_cache_matches_tokens(&mut c);
        assert_eq!(c.prepared(), 0);
        prepare_all(&mut c, "More words", true);
        c.reset();
        assert_eq!(c.session.n_tokens(), c.system_prefix().1.len());
        assert_eq!(c.tokens(), c.system_prefix().1);
        // The first message after a reset is read ahead as well.
        prepare_all(&mut c, "Again", true);
        assert!(c.prepared() > 0);
        let r = c.reply("Again", &mut io).unwrap();
        assert_eq!(r.prompt_tokens, 0);
        assert_cache_matches_tokens(&mut c);
    }

    /// A text found ready is not planned again at every tick, but only as
    /// long as nothing changes: after a reply, a flush or a reset, the same
    /// text is the next message's and is read again.
    #[test]
    fn ready_holds_only_while_nothing_changes() {
        let t = tiny_model();
        let mut c = conv(t, opts(512, 8), None);
        let mut io = TestIo::default();
        c.reply("Hello", &mut io).unwrap();
        let fed = |c: &mut Conversation<'_, '_>| {
            matches!(c.prepare("Same words", true, None), Ok(Prepared::Fed(_)))
        };
        prepare_all(&mut c, "Same words ", false);
        prepare_all(&mut c, "Same words", true);
        assert_eq!(c.prepare("Same words ", false, None), Ok(Prepared::Ready));
        assert_eq!(c.prepare("Same words", true, None), Ok(Prepared::Ready));
        c.reply("Same words", &mut io).unwrap();
        assert!(fed(&mut c));
        prepare_all(&mut c, "Same words", true);
        c.flush().unwrap();
        assert!(fed(&mut c));
        prepare_all(&mut c, "Same words", true);
        c.reset();
        assert!(fed(&mut c));
        // Another text while one is remembered.
        prepare_all(&mut c, "Same words", true);
        assert!(matches!(
            c.prepare("Other words", true, None),
            Ok(Prepared::Fed(_))
        ));
        assert_cache_matches_tokens(&mut c);
    }

    #[test]
    fn a_message_that_needs_a_rebuild_is_not_read_ahead() {
        let t = tiny_model();
        let base = conv(t, opts(512, 8), None).system_prefix().1.len();
        let n_ctx = base + 90;
        let mut c = conv(t, opts(n_ctx, 8), None);
        let mut io = TestIo::default();
        let long = "word ".repeat(6);
        for _ in 0..20 {
            if c.plan(&long).unwrap().1 > 0 {
                break;
            }
            c.reply(&long, &mut io).unwrap();
        }
        assert!(c.plan(&long).unwrap().1 > 0);
        // The close is still fed; nothing of a message that does not fit.
        prepare_all(&mut c, &long, true);
        assert_eq!(c.prepared(), 0);
        let r = c.reply(&long, &mut io).unwrap();
        assert!(r.dropped_turns > 0);
        assert_cache_matches_tokens(&mut c);
    }
}
