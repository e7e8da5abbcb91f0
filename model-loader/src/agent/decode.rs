//! Lazy constrained decoding of calls (after llama.cpp's lazy grammars:
//! free text until a trigger, then the grammar).
//!
//! - Free text is sampled as usual, except that the reply's first token is
//!   chosen greedily (it decides between answering and calling).
//! - A call opens with the `<tool_call>` token (Hermes) or with a bare `{`
//!   at the start of the reply or after a ```` ``` ```` fence (the Coder
//!   model writes bare or fenced JSON). From the `{` on, each token is
//!   chosen greedily and must keep the call valid ([`Dfa`]): the best
//!   token is checked first, and only when it is rejected is the state's
//!   mask ([`MaskCache`]) used. Bytes the grammar forces are appended
//!   without asking the model, as one batch.
//! - The command's name is chosen against a prior ([`Grammar::prior`]):
//!   the first token of the name is the candidate whose probability the
//!   message raised most over a content-free message's, not the most
//!   likely one (the first tool in the list is likely whatever the
//!   message). When no candidate gained [`NAME_MIN_GAIN`] and the model
//!   is not [`NAME_SURE_P`] sure, the call is abandoned: the reply starts
//!   again ([`Step::Restart`]) as plain text, with call openers masked.
//!   A candidate whose registry description shares more of the message's
//!   words than the choice's is chosen instead, if it would be kept
//!   (`CallDecoder::described`: "What time is it?" is `date`, "the
//!   current date and time of day", not `uptime`, the model's 0.91).
//!   When the person's message names a file ([`CallDecoder::file_named`]),
//!   a read or write command that takes a path needs only to have gained
//!   at all ([`FILE_NAME_MIN_GAIN`]), and when no name was likely, the
//!   one of those the message raised most is tried
//!   (`CallDecoder::path_fallback`; its arguments are still checked
//!   against what the person said, `ground`).
//! - When the call is complete, its closing (`\n</tool_call>` or the
//!   closing fence) is appended and the reply ends: one call per turn.
//! - Unconstrained ([`CallDecoder::unconstrained`], for the evaluation's
//!   "without grammar" column), the call is decoded greedily until its
//!   braces balance and then parsed as written.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::grammar::{Dfa, DEAD};
use super::ground;
use super::mask::{Mask, MaskCache, TokenTable};
use crate::conversation::{Decoder, Step};
use crate::sampler::Sampler;
use crate::tokenizer::Tokenizer;
use klib::registry::Tier;

/// The call grammar of one registry for one tokenizer: built once.
pub struct Grammar {
    /// Calls to every command offered to the model.
    pub dfa: Dfa,
    /// Calls to the read and write commands only: used once untrusted
    /// text (a command's output) is in the context during a message, so
    /// that text cannot steer the model into proposing a destructive or
    /// power command (the person can still type one).
    pub safe_dfa: Dfa,
    pub safe_cache: MaskCache,
    pub table: TokenTable,
    pub cache: MaskCache,
    /// `<tool_call>` and `</tool_call>`, when the vocabulary has them.
    pub open_tag: Option<u32>,
    /// Microseconds spent in grammar work (checks, masks), when timed.
    pub spent_us: u64,
    /// The model's log-probabilities for the first token of a command's
    /// name after a content-free message ([`NamePrior`]): the name is
    /// chosen by how much the message raises a token's probability over
    /// this, not by its probability alone (see [`CallDecoder`]).
    pub prior: Option<Vec<f32>>,
    /// The names (and aliases) of the read and write commands that take a
    /// path (a destructive call needs the full gain).
    path_names: Vec<&'static str>,
    /// The names and aliases of every command offered.
    names: Vec<&'static str>,
    /// Per command offered: its names and aliases, the topic words of
    /// those and of its description ([`ground::topic_words`]), and
    /// whether it runs another command (`after`, `every`).
    topics: Vec<(Vec<&'static str>, Vec<String>, bool)>,
    /// Per token: whether it would open a call or a pseudo-call (the
    /// format's tag or another control token, or text starting with `{`,
    /// a fence or `<`); masked where a reply must be plain text.
    opens_call: Vec<bool>,
}

impl Grammar {
    pub fn new<'s>(
        tok: &Tokenizer,
        specs: impl Iterator<Item = &'s klib::registry::Spec>,
    ) -> Grammar {
        let specs: Vec<&klib::registry::Spec> = specs.collect();
        let safe = specs
            .iter()
            .copied()
            .filter(|s| matches!(s.tier, Tier::Read | Tier::Write));
        let table = TokenTable::new(tok);
        let open_tag = tok.token_id("<tool_call>");
        let opens_call = (0..tok.vocab_size() as u32)
            .map(|t| {
                let special = tok.is_control(t) || tok.special_tokens().contains(&t);
                if Some(t) == open_tag || (special && !tok.is_eog(t)) {
                    return true;
                }
                let b = table.bytes(t);
                // `<`: the model writes the format's tags as text too
                // (`<tool_response>` then a call).
                b.iter()
                    .find(|c| !c.is_ascii_whitespace())
                    .is_some_and(|c| matches!(c, b'{' | b'`' | b'<'))
            })
            .collect();
        let names_of =
            |s: &&klib::registry::Spec| core::iter::once(s.name).chain(s.aliases.iter().copied());
        let path_names = specs
            .iter()
            .filter(|s| matches!(s.tier, Tier::Read | Tier::Write))
            .filter(|s| s.args.iter().any(|a| a.kind == klib::registry::Kind::Path))
            .flat_map(names_of)
            .collect();
        let names = specs.iter().flat_map(names_of).collect();
        let topics = specs
            .iter()
            .map(|s| {
                let names: Vec<&str> = names_of(s).collect();
                let words = ground::spec_words(s);
                let runs = s
                    .args
                    .iter()
                    .any(|a| a.kind == klib::registry::Kind::Command);
                (names, words, runs)
            })
            .collect();
        Grammar {
            path_names,
            names,
            topics,
            safe_dfa: Dfa::for_commands(safe),
            safe_cache: MaskCache::default(),
            dfa: Dfa::for_commands(specs.iter().copied()),
            table,
            cache: MaskCache::default(),
            open_tag,
            spent_us: 0,
            prior: None,
            opens_call,
        }
    }

    /// The tokens allowed from state `s` of the automaton for every
    /// command, or of the one for read and write commands only (`safe`);
    /// built once per state.
    pub fn mask(&mut self, safe: bool, s: u32) -> &Mask {
        let (dfa, cache) = if safe {
            (&self.safe_dfa, &mut self.safe_cache)
        } else {
            (&self.dfa, &mut self.cache)
        };
        cache.get(&self.table, dfa, s)
    }
}

/// Name tokens less likely than this are not candidates for the
/// calibrated choice (a rare token's gain over the prior is noise).
pub const NAME_MIN_P: f32 = 0.02;
/// A call is abandoned for a plain answer when its best name gained less
/// than this (natural log: e-fold) over the prior...
pub const NAME_MIN_GAIN: f32 = 1.0;
/// ... unless the model is at least this sure of it (the first tool in
/// the list is already likely without a message, so even a request that
/// names it cannot raise it e-fold). A name this likely is chosen
/// whatever the others gained.
pub const NAME_SURE_P: f32 = 0.9;
/// When the message names a file, a read or write command that takes a
/// path is kept if its name gained this much (any rise over the prior):
/// "Show me plan.txt" gave `cat` at +0.5, "Copy the content of notes.txt
/// into backup.txt" at +0.7, both below [`NAME_MIN_GAIN`], and were
/// answered with made-up text.
pub const FILE_NAME_MIN_GAIN: f32 = 0.0;

/// `logits` as log-probabilities.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| libm::expf(l - max)).sum();
    let ln = libm::logf(sum);
    logits.iter().map(|&l| l - max - ln).collect()
}

/// Measures [`Grammar::prior`]: as the decoder of a reply to a
/// content-free message, it writes `{"name": "` and keeps the
/// log-probabilities of the next token.
pub struct NamePrior {
    opening: Vec<u32>,
    pub logprobs: Option<Vec<f32>>,
}

impl NamePrior {
    /// The content-free message.
    pub const MESSAGE: &'static str = "N/A";

    pub fn new(tok: &Tokenizer) -> NamePrior {
        NamePrior {
            opening: tok.encode("{\"name\": \"", false, false),
            logprobs: None,
        }
    }
}

impl Decoder for NamePrior {
    fn next(&mut self, logits: &[f32], _: &[u32], _: &mut Sampler) -> Step {
        if self.opening.is_empty() {
            self.logprobs = Some(log_softmax(logits));
            return Step::End;
        }
        Step::Tokens(core::mem::take(&mut self.opening))
    }
}

/// Where a reply is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Free,
    /// Inside a call, in this automaton state (constrained) or with this
    /// brace depth (unconstrained).
    Call(u32),
    /// The call and its closing are appended: the reply ends.
    Done,
}

/// One generated token, for `/explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub token: u32,
    /// Its probability (softmax of the logits); 1 when forced.
    pub p: f32,
    /// The best alternatives and their probabilities.
    pub top: Vec<(u32, f32)>,
    /// Inside a call: how many tokens the grammar allowed (0: not asked,
    /// the first choice was valid), or `usize::MAX` when forced.
    pub allowed: usize,
}

/// How a reply ended, as far as calls go.
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutcome {
    /// No call: plain text.
    None,
    /// A complete call: its JSON text (from `{` to `}`).
    Call(String),
    /// A call was opened but is not valid JSON or was cut off.
    Malformed(String),
}

/// The decoder of one reply.
pub struct CallDecoder<'g, 't> {
    g: &'g mut Grammar,
    tok: &'t Tokenizer,
    constrained: bool,
    /// Only read and write commands may be called.
    safe: bool,
    mode: Mode,
    /// The reply's bytes so far.
    text: Vec<u8>,
    /// Where the call's `{` is in `text`.
    call_start: Option<usize>,
    /// How the call was opened: by the tag, inside a fence, bare.
    by_tag: bool,
    fenced: bool,
    first: bool,
    /// The choices made (when `explain`).
    pub trace: Vec<Choice>,
    explain: bool,
    clock: Option<fn() -> u64>,
    /// At the name's first token (with a prior): each candidate token,
    /// its probability and its log-probability gain over the prior.
    pub name_scores: Vec<(u32, f32, f32)>,
    /// The reply is plain text: a call it opened was abandoned.
    no_calls: bool,
    /// A call was abandoned ([`CallDecoder::abandoned`]).
    abandoned: bool,
    /// The person's message names a file ([`CallDecoder::file_named`]).
    file_named: bool,
    /// The topic words of the person's message ([`CallDecoder::asked`]).
    asked: Vec<String>,
    /// How many of `asked` the best matching command that does not run
    /// another shares: what a command that runs one (`after`, `every`)
    /// adds to its own match.
    asked_inner: usize,
    /// The calls the message made already ([`CallDecoder::after_calls`]).
    earlier: Vec<String>,
    /// A repeat of one of `earlier` was chosen again as an answer.
    answered_instead: bool,
}

impl<'g, 't> CallDecoder<'g, 't> {
    pub fn new(g: &'g mut Grammar, tok: &'t Tokenizer) -> Self {
        CallDecoder {
            g,
            tok,
            constrained: true,
            safe: false,
            mode: Mode::Free,
            text: Vec::new(),
            call_start: None,
            by_tag: false,
            fenced: false,
            first: true,
            trace: Vec::new(),
            explain: false,
            clock: None,
            name_scores: Vec::new(),
            no_calls: false,
            abandoned: false,
            file_named: false,
            asked: Vec::new(),
            asked_inner: 0,
            earlier: Vec::new(),
            answered_instead: false,
        }
    }

    /// The message made these calls already (their JSON text, as
    /// [`CallOutcome::Call`] gave it): a reply that repeats one of them
    /// exactly is chosen again as a plain answer. After a command's
    /// result the model nearly always proposes the same call again
    /// instead of answering.
    pub fn after_calls<'c>(mut self, calls: impl IntoIterator<Item = &'c str>) -> Self {
        self.earlier = calls.into_iter().map(String::from).collect();
        self
    }

    /// Whether the reply repeated a call of the message and was chosen
    /// again as a plain answer ([`CallDecoder::after_calls`]).
    pub fn answered_instead(&self) -> bool {
        self.answered_instead
    }

    /// Without the grammar: calls decoded greedily as the model writes them.
    pub fn unconstrained(mut self) -> Self {
        self.constrained = false;
        self
    }

    /// Only read and write commands may be called (see [`Grammar::safe_dfa`]).
    pub fn read_write_only(mut self) -> Self {
        self.safe = true;
        self
    }

    fn dfa(&self) -> &Dfa {
        if self.safe {
            &self.g.safe_dfa
        } else {
            &self.g.dfa
        }
    }

    /// The person's message names a file (`notes.txt`, `/drafts/a`): a
    /// command that takes a path is kept with a smaller gain
    /// ([`FILE_NAME_MIN_GAIN`]).
    pub fn file_named(mut self, yes: bool) -> Self {
        self.file_named = yes;
        self
    }

    /// The person's message, whose words are matched against the
    /// commands' descriptions when the name is chosen
    /// ([`CallDecoder::described`]).
    pub fn asked(mut self, request: &str) -> Self {
        self.asked = ground::topic_words(request);
        self.asked_inner = self
            .g
            .topics
            .iter()
            .filter(|(.., runs)| !runs)
            .map(|(_, words, _)| ground::topic_overlap(&self.asked, words))
            .max()
            .unwrap_or(0);
        self
    }

    /// Token `t`'s letters: the part of it that can be in a name.
    fn letters(&self, t: u32) -> &[u8] {
        let b = self.g.table.bytes(t);
        let end = b
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-'))
            .unwrap_or(b.len());
        &b[..end]
    }

    /// The names of the commands offered that may start with token `t`'s
    /// letters.
    fn names_from(&self, t: u32) -> impl Iterator<Item = &'static str> + '_ {
        let stem = self.letters(t);
        self.g
            .names
            .iter()
            .copied()
            .filter(move |n| !stem.is_empty() && n.as_bytes().starts_with(stem))
    }

    /// How many of the message's topic words the description of the
    /// command that token `t` starts matches: the command whose name `t`
    /// spells whole (`time`, not `timer`), else the one command it may
    /// start (0 when it may start several). A command that runs another
    /// (`after`) also counts the best match of the commands it may run:
    /// "After 2 minutes, list the files" is about `after` and `ls`.
    pub(super) fn described(&self, t: u32) -> usize {
        let names: Vec<&str> = self.names_from(t).collect();
        let whole = names.iter().find(|n| n.len() == self.letters(t).len());
        let mut specs = self.g.topics.iter().filter(|(ns, ..)| match whole {
            Some(w) => ns.contains(w),
            None => names.iter().any(|n| ns.contains(n)),
        });
        match (specs.next(), specs.next()) {
            (Some((_, words, runs)), None) => {
                let inner = if *runs { self.asked_inner } else { 0 };
                ground::topic_overlap(&self.asked, words) + inner
            }
            _ => 0,
        }
    }

    /// Whether every name that may start with token `t` is one of a read
    /// or write command that takes a path (`cat`, `ls`; not `d`, which
    /// may become `dir` or `disks`).
    fn takes_path(&self, t: u32) -> bool {
        let mut starting = self.names_from(t).peekable();
        starting.peek().is_some() && starting.all(|n| self.g.path_names.contains(&n))
    }

    /// Records every choice with its probability and alternatives.
    pub fn explained(mut self) -> Self {
        self.explain = true;
        self
    }

    /// Times the grammar work with `clock` (microseconds) into
    /// [`Grammar::spent_us`].
    pub fn timed(mut self, clock: fn() -> u64) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How the reply ended, as far as calls go.
    pub fn outcome(&self) -> CallOutcome {
        let Some(start) = self.call_start else {
            return CallOutcome::None;
        };
        let body = String::from_utf8_lossy(&self.text[start..]).into_owned();
        if self.constrained {
            match self.mode {
                Mode::Done => {
                    let end = body.rfind('}').map_or(body.len(), |i| i + 1);
                    CallOutcome::Call(body[..end].into())
                }
                _ => CallOutcome::Malformed(body),
            }
        } else {
            match super::json::parse_prefix(&body) {
                Ok((_, n)) => CallOutcome::Call(body[..n].into()),
                Err(_) => CallOutcome::Malformed(body),
            }
        }
    }

    /// Whether a call was opened and abandoned because the message gave
    /// no reason for it (its best name gained too little over the prior):
    /// the reply was chosen again as plain text.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Whether the reply's text so far is (or may become) a call, so the
    /// console should not show it as an answer.
    pub fn in_call(&self) -> bool {
        self.call_start.is_some()
    }

    fn now(&self) -> u64 {
        self.clock.map_or(0, |c| c())
    }

    fn record(&mut self, logits: &[f32], token: u32, allowed: usize) {
        if !self.explain {
            return;
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|&l| libm::expf(l - max)).sum();
        let p = |t: u32| {
            logits
                .get(t as usize)
                .map_or(0.0, |&l| libm::expf(l - max) / sum)
        };
        let mut top: Vec<(u32, f32)> = Vec::new();
        for (t, &l) in logits.iter().enumerate() {
            if top.len() < 3 || l > logits[top[2].0 as usize] {
                top.push((t as u32, l));
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                top.truncate(3);
            }
        }
        let top = top.into_iter().map(|(t, _)| (t, p(t))).collect();
        self.trace.push(Choice {
            token,
            p: p(token),
            top,
            allowed,
        });
    }

    fn forced_record(&mut self, tokens: &[u32]) {
        if self.explain {
            for &t in tokens {
                self.trace.push(Choice {
                    token: t,
                    p: 1.0,
                    top: Vec::new(),
                    allowed: usize::MAX,
                });
            }
        }
    }

    /// Appends `tokens` to the reply text.
    fn push_text(&mut self, tokens: &[u32]) {
        for &t in tokens {
            if !self.tok.is_control(t) {
                self.text
                    .extend_from_slice(self.tok.token_bytes(t).unwrap_or_default());
            }
        }
    }

    /// Where a call would open if `text` were the reply: the index of a
    /// `{` at the start of the content or right after a fence opening.
    fn trigger(text: &[u8]) -> Option<(usize, bool)> {
        let s = core::str::from_utf8(text)
            .ok()
            .or_else(|| core::str::from_utf8(&text[..text.len().saturating_sub(3)]).ok())?;
        let lead = s.len() - s.trim_start().len();
        let t = s.trim_start();
        if t.starts_with('{') {
            return Some((lead, false));
        }
        // After a tag of the format written as text (the model sometimes
        // writes `<tool_response>` or `<tool_call>` as plain text).
        for tag in ["<tool_call>", "<tool_response>", "<tools>"] {
            if let Some(after) = t.strip_prefix(tag) {
                let ws = after.len() - after.trim_start().len();
                if after.trim_start().starts_with('{') {
                    return Some((s.len() - after.len() + ws, false));
                }
            }
        }
        // A fence anywhere at the start of a line.
        let mut from = 0;
        while let Some(i) = s[from..].find("```") {
            let at = from + i;
            if at == 0 || s.as_bytes()[at - 1] == b'\n' {
                let after = &s[at + 3..];
                let after_lang = after.strip_prefix("json").unwrap_or(after);
                let ws = after_lang.len() - after_lang.trim_start().len();
                if after_lang.trim_start().starts_with('{') {
                    return Some((s.len() - after_lang.len() + ws, true));
                }
            }
            from = at + 3;
        }
        None
    }

    /// The tokens of forced `bytes` (none when they are not whole UTF-8).
    fn encode_forced(&self, bytes: &[u8]) -> Vec<u32> {
        match core::str::from_utf8(bytes) {
            Ok(s) if !s.is_empty() => self.tok.encode(s, false, false),
            _ => Vec::new(),
        }
    }

    /// After the call's automaton state `s`: the forced bytes' tokens, and
    /// the closing if the call is complete.
    fn continue_call(&mut self, s: u32, out: &mut Vec<u32>) {
        let forced = self.dfa().forced(s);
        let toks = self.encode_forced(&forced);
        let s = if toks.is_empty() {
            s
        } else {
            self.dfa().walk(s, &forced)
        };
        self.forced_record(&toks);
        self.push_text(&toks);
        out.extend_from_slice(&toks);
        if self.dfa().accepts(s) {
            self.close(out);
        } else {
            self.mode = Mode::Call(s);
        }
    }

    /// The call is complete: append its closing, end the reply.
    fn close(&mut self, out: &mut Vec<u32>) {
        let closing = if self.by_tag {
            "\n</tool_call>"
        } else if self.fenced {
            "\n```"
        } else {
            ""
        };
        if !closing.is_empty() {
            let toks = self.tok.encode(closing, false, true);
            self.forced_record(&toks);
            self.push_text(&toks);
            out.extend_from_slice(&toks);
        }
        self.mode = Mode::Done;
    }

    fn greedy(logits: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    }

    /// The state after `t` from `s`, or [`DEAD`] (also when `t` goes on
    /// after the call is complete).
    fn check(&self, s: u32, t: u32) -> u32 {
        let b = self.g.table.bytes(t);
        if b.is_empty() {
            return DEAD;
        }
        let mut st = s;
        for (i, &byte) in b.iter().enumerate() {
            st = self.dfa().step(st, byte);
            if st == DEAD || (self.dfa().accepts(st) && i + 1 < b.len()) {
                return DEAD;
            }
        }
        st
    }

    fn free_step(&mut self, logits: &[f32], history: &[u32], sampler: &mut Sampler) -> Step {
        let mut t = if self.first && self.no_calls {
            self.greedy_text(logits)
        } else if self.first {
            Self::greedy(logits)
        } else {
            sampler.sample(logits, history)
        };
        if self.no_calls && self.opens_call(t) && (self.first || Some(t) == self.g.open_tag) {
            t = self.greedy_text(logits);
        }
        self.first = false;
        self.record(logits, t, 0);
        if self.tok.is_eog(t) {
            return Step::End;
        }
        if self.no_calls {
            // A plain answer: braces and fences are only text.
            self.push_text(&[t]);
            return Step::Tokens(vec![t]);
        }
        if Some(t) == self.g.open_tag {
            // `<tool_call>`: the call follows on the next line.
            // The opening and the bytes the grammar forces after it are
            // tokenized together, as the model itself would write them
            // (`\n`, `{"`, `name`, `":`, ` "`): tokens split at other
            // places read to the model as a different text.
            self.by_tag = true;
            let mut out = vec![t];
            self.call_start = Some(self.text.len() + 1);
            let mut text = alloc::vec::Vec::from(&b"\n{"[..]);
            let s = if self.constrained {
                let forced = self.dfa().forced(Dfa::START);
                text.extend_from_slice(&forced);
                self.dfa().walk(Dfa::START, &forced)
            } else {
                Dfa::START
            };
            let open = self.encode_forced(&text);
            self.forced_record(&open);
            self.push_text(&open);
            out.extend_from_slice(&open);
            self.mode = if self.constrained {
                Mode::Call(s)
            } else {
                Mode::Call(1)
            };
            return Step::Tokens(out);
        }
        let before = self.text.len();
        self.push_text(&[t]);
        let Some((brace, fenced)) = Self::trigger(&self.text) else {
            return Step::Tokens(vec![t]);
        };
        self.fenced = fenced;
        self.call_start = Some(brace);
        if !self.constrained {
            self.mode = Mode::Call(0);
            return self.unconstrained_track(vec![t]);
        }
        let t0 = self.now();
        let s = self.dfa().walk(Dfa::START, &self.text[brace + 1..]);
        let mut out = Vec::new();
        if s != DEAD {
            out.push(t);
            if self.dfa().accepts(s) {
                self.close(&mut out);
            } else {
                self.continue_call(s, &mut out);
            }
        } else {
            // The token opened a call but went on invalidly: keep what
            // came before its `{`, then the grammar takes over.
            self.text.truncate(before);
            let bytes = self.tok.token_bytes(t).unwrap_or_default();
            let upto = (brace + 1).saturating_sub(before).min(bytes.len());
            let keep = String::from_utf8_lossy(&bytes[..upto]).into_owned();
            let toks = self.tok.encode(&keep, false, false);
            self.push_text(&toks);
            out.extend_from_slice(&toks);
            self.continue_call(Dfa::START, &mut out);
        }
        self.g.spent_us += self.now().saturating_sub(t0);
        Step::Tokens(out)
    }

    /// Whether the call's next bytes are its command's name.
    fn at_name_start(&self) -> bool {
        let Some(start) = self.call_start else {
            return false;
        };
        let t = &self.text[start..];
        t.ends_with(b"\"name\": \"") || t.ends_with(b"\"name\":\"")
    }

    /// The first token of the command's name, chosen against the prior:
    /// among the allowed tokens the message made at least
    /// [`NAME_MIN_P`] likely, the one whose log-probability rose most
    /// over [`Grammar::prior`], with its probability and gain. None
    /// without a prior; `Some(None)` without a candidate.
    #[allow(clippy::type_complexity)]
    fn calibrated_name(
        &mut self,
        s: u32,
        logits: &[f32],
    ) -> Option<Option<(u32, usize, f32, f32)>> {
        let prior = self.g.prior.as_ref()?;
        let lp = log_softmax(logits);
        let floor = libm::logf(NAME_MIN_P);
        // The likely tokens with their gains, then those the grammar allows.
        let likely: Vec<(u32, f32, f32)> = lp
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l >= floor)
            .map(|(t, &l)| {
                let gain = l - prior.get(t).copied().unwrap_or(0.0);
                (t as u32, libm::expf(l), gain)
            })
            .collect();
        let mask = self.g.mask(self.safe, s);
        let mut best: Option<(u32, f32, f32)> = None;
        let mut sure: Option<(u32, f32, f32)> = None;
        let mut scores = Vec::new();
        for (t, p, gain) in likely {
            if !mask.allows(t) {
                continue;
            }
            scores.push((t, p, gain));
            if best.is_none_or(|(_, _, g)| gain > g) {
                best = Some((t, p, gain));
            }
            if p >= NAME_SURE_P {
                sure = Some((t, p, gain));
            }
        }
        let allowed = mask.count();
        self.name_scores = scores;
        // A name the model is sure of stays its choice ("How much RAM
        // ...": `mem` at 0.96 gained less than `cpu` at 0.02).
        let mut best = sure.or(best);
        // A candidate whose description the message's words match better
        // than the choice's wins, if it would be kept ("What time is it?":
        // `uptime` at 0.91, `time` at 0.07, an alias of `date`, "the
        // current date and time of day").
        if let Some((t, ..)) = best {
            let described: Vec<usize> = self
                .name_scores
                .iter()
                .map(|s| self.described(s.0))
                .collect();
            let top = described.iter().copied().max().unwrap_or(0);
            let mut at_top = described.iter().enumerate().filter(|&(_, &n)| n == top);
            if let (Some((i, _)), None) = (at_top.next(), at_top.next()) {
                let c = self.name_scores[i];
                let chosen = self.name_scores.iter().position(|s| s.0 == t);
                let chosen = chosen.map_or_else(|| self.described(t), |j| described[j]);
                if top > chosen && self.keeps(c.0, c.1, c.2) {
                    best = Some(c);
                }
            }
        }
        let kept = best.is_some_and(|(t, p, g)| self.keeps(t, p, g));
        if !kept && self.file_named {
            if let Some(f) = self.path_fallback(s, &lp) {
                if f.2 >= FILE_NAME_MIN_GAIN {
                    self.name_scores.push(f);
                    best = Some(f);
                }
            }
        }
        Some(best.map(|(t, p, g)| (t, allowed, p, g)))
    }

    /// Whether the name starting with token `t`, at probability `p` and
    /// `gain` over the prior, is kept rather than the call abandoned.
    fn keeps(&self, t: u32, p: f32, gain: f32) -> bool {
        let min_gain = if self.file_named && self.takes_path(t) {
            FILE_NAME_MIN_GAIN
        } else {
            NAME_MIN_GAIN
        };
        p >= NAME_SURE_P || gain >= min_gain
    }

    /// For a message that names a file, when no likely name would be kept:
    /// the allowed first token of a read or write command that takes a
    /// path whose probability the message raised most over the prior,
    /// with its probability and gain ("Add 'walk the dog' to my todo list
    /// in todo.txt": the model's names were the file's).
    fn path_fallback(&mut self, s: u32, lp: &[f32]) -> Option<(u32, f32, f32)> {
        let allowed: Vec<u32> = {
            let mask = self.g.mask(self.safe, s);
            (0..lp.len() as u32).filter(|&t| mask.allows(t)).collect()
        };
        let prior = self.g.prior.as_ref()?;
        allowed
            .into_iter()
            .filter(|&t| self.takes_path(t))
            .map(|t| {
                let l = lp[t as usize];
                (
                    t,
                    libm::expf(l),
                    l - prior.get(t as usize).copied().unwrap_or(0.0),
                )
            })
            .max_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// Whether the call opened at the start of the reply (nothing but
    /// white space or a fence before it), so that the reply can be chosen
    /// again as a plain answer.
    fn opened_at_start(&self) -> bool {
        let Some(start) = self.call_start else {
            return false;
        };
        let before = String::from_utf8_lossy(&self.text[..start]);
        let t = before.trim();
        let t = t.strip_prefix("```").unwrap_or(t);
        let t = t.strip_prefix("json").unwrap_or(t);
        !self.no_calls && t.trim().is_empty()
    }

    /// Whether the reply is a complete call that repeats one the message
    /// made already.
    fn repeats(&self) -> bool {
        self.mode == Mode::Done
            && !self.no_calls
            && match self.outcome() {
                CallOutcome::Call(c) => self.earlier.contains(&c),
                _ => false,
            }
    }

    /// Abandons the call: the reply starts again, as plain text.
    fn restart(&mut self) -> Step {
        self.mode = Mode::Free;
        self.first = true;
        self.no_calls = true;
        self.text.clear();
        self.call_start = None;
        self.by_tag = false;
        self.fenced = false;
        self.trace.clear();
        self.abandoned = true;
        Step::Restart
    }

    /// Whether token `t` would open a call or a pseudo-call (see
    /// `Grammar::opens_call`).
    fn opens_call(&self, t: u32) -> bool {
        self.g.opens_call.get(t as usize).copied().unwrap_or(false)
    }

    /// The most likely token that does not open a call.
    fn greedy_text(&self, logits: &[f32]) -> u32 {
        let mut best: Option<(u32, f32)> = None;
        for (i, &l) in logits.iter().enumerate() {
            if best.is_none_or(|(_, b)| l > b) && !self.opens_call(i as u32) {
                best = Some((i as u32, l));
            }
        }
        best.map_or(0, |(t, _)| t)
    }

    fn call_step(&mut self, s: u32, logits: &[f32]) -> Step {
        let t0 = self.now();
        if self.at_name_start() {
            match self.calibrated_name(s, logits) {
                None => {}
                Some(Some((t, _, p, gain)))
                    if !self.keeps(t, p, gain) && self.opened_at_start() =>
                {
                    self.g.spent_us += self.now().saturating_sub(t0);
                    return self.restart();
                }
                Some(None) if self.opened_at_start() => {
                    self.g.spent_us += self.now().saturating_sub(t0);
                    return self.restart();
                }
                Some(Some((t, allowed, _, _))) => {
                    let st = self.check(s, t);
                    self.record(logits, t, allowed);
                    return self.after_call_token(t, st, t0);
                }
                Some(None) => {}
            }
        }
        let first = Self::greedy(logits);
        let mut allowed = 0;
        let (t, st) = match self.check(s, first) {
            DEAD => {
                let mask = self.g.mask(self.safe, s);
                allowed = mask.count();
                match mask.argmax(logits) {
                    Some(t) => (t, self.check(s, t)),
                    None => {
                        self.g.spent_us += self.now().saturating_sub(t0);
                        return Step::End;
                    }
                }
            }
            st => (first, st),
        };
        self.record(logits, t, allowed);
        self.after_call_token(t, st, t0)
    }

    /// Appends the call's token `t`, which leads to state `st`.
    fn after_call_token(&mut self, t: u32, st: u32, t0: u64) -> Step {
        self.push_text(&[t]);
        let mut out = vec![t];
        if st == DEAD {
            // Cannot happen (the mask holds only valid tokens): end here,
            // the call counts as malformed.
            return Step::End;
        }
        if self.dfa().accepts(st) {
            self.close(&mut out);
        } else {
            self.continue_call(st, &mut out);
        }
        self.g.spent_us += self.now().saturating_sub(t0);
        Step::Tokens(out)
    }

    /// Unconstrained: the call ends when its braces balance.
    fn unconstrained_track(&mut self, out: Vec<u32>) -> Step {
        let start = self.call_start.unwrap_or(0);
        let mut depth = 0i32;
        let mut in_str = false;
        let mut esc = false;
        for &b in &self.text[start..] {
            if in_str {
                match (esc, b) {
                    (true, _) => esc = false,
                    (false, b'\\') => esc = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.mode = Mode::Done;
                        return Step::Tokens(out);
                    }
                }
                _ => {}
            }
        }
        self.mode = Mode::Call(depth as u32);
        Step::Tokens(out)
    }
}

impl Decoder for CallDecoder<'_, '_> {
    /// The call and its closing are chosen: the reply ends at once (the
    /// call is shown before its closing goes through the model).
    fn finished(&self) -> bool {
        self.mode == Mode::Done
    }

    fn next(&mut self, logits: &[f32], history: &[u32], sampler: &mut Sampler) -> Step {
        let step = self.choose(logits, history, sampler);
        if self.repeats() {
            // Its tokens are not fed: the reply starts again as an answer.
            let abandoned = self.abandoned;
            let step = self.restart();
            self.abandoned = abandoned;
            self.answered_instead = true;
            return step;
        }
        step
    }
}

impl CallDecoder<'_, '_> {
    fn choose(&mut self, logits: &[f32], history: &[u32], sampler: &mut Sampler) -> Step {
        match self.mode {
            Mode::Done => Step::End,
            Mode::Free => self.free_step(logits, history, sampler),
            Mode::Call(s) if self.constrained => self.call_step(s, logits),
            Mode::Call(_) => {
                let t = Self::greedy(logits);
                self.record(logits, t, 0);
                if self.tok.is_eog(t) {
                    return Step::End;
                }
                self.push_text(&[t]);
                self.unconstrained_track(vec![t])
            }
        }
    }
}
