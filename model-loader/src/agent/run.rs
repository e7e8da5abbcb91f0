//! The agent loop: one person's message may become replies and calls.
//!
//! ```text
//! user message ─► reply ─┬─ text only ───────────────────────► done
//!                        └─ a call ─► shown as `→ /cmd`, confirmed when
//!                           the policy says so, run, audited; its output
//!                           (escaped, ≤ 1000 bytes) goes back in a
//!                           tool-response turn ─► reply ─► ... (≤ 4 calls)
//! ```
//!
//! After a result, Qwen2.5-Coder-0.5B nearly always proposes the same
//! call again instead of answering. A reply that repeats a call of the
//! message exactly is therefore chosen again from its start as a plain
//! answer, which may not open a call ([`CallDecoder::after_calls`]): the
//! model's sentence about the result. A call that repeats an earlier one
//! otherwise (the same command written differently), or comes after
//! [`MAX_CALLS`] calls, is not run: it is shown and audited as skipped,
//! and the message ends there. `cargo xtask eval agent --follow`
//! measures both. A call with a path, time or id the person
//! never mentioned is not run either: the person is asked back
//! ([`ground`]).
//!
//! The loop talks to the operating system only through [`Os`]: run an
//! invocation, ask the person yes/no, append an audit record, show a line.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use klib::registry::{Invocation, Kind, Registry, Tier, Value};

use super::call::{parse_call, CallError};
use super::decode::{CallDecoder, CallOutcome, Choice, Grammar, NamePrior};
use super::escape::{escape_untrusted, truncate};
use super::prompt::{self, ToolFormat};
use super::{ground, schedule};
use crate::conversation::{ConvError, Conversation, Io, ReplyStats, Stop};

/// Calls one message may make at most.
pub const MAX_CALLS: usize = 4;
/// Bytes of a command's output the model gets back at most.
pub const MAX_RESULT: usize = 1000;

/// The person's answer to a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Ctrl-C: cancel the whole request.
    Cancel,
}

/// Who issued a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Person,
    Model,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Person => "person",
            Origin::Model => "model",
        }
    }
}

/// What happened to a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ran without asking (read commands, the person's own commands).
    Ran,
    /// The person said yes.
    Confirmed,
    /// The person said no (or pressed Enter).
    Declined,
    /// Ctrl-C at the question.
    Cancelled,
    /// Not a valid call: not run.
    Invalid,
    /// Valid, but not run: it repeats an earlier call of the message, or
    /// the message made its last allowed call.
    Skipped,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::Ran => "ran",
            Decision::Confirmed => "confirmed",
            Decision::Declined => "declined",
            Decision::Cancelled => "cancelled",
            Decision::Invalid => "invalid",
            Decision::Skipped => "skipped",
        }
    }
}

/// One audit record: a command typed or proposed, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub origin: Origin,
    /// The model's raw call (JSON), or the line the person typed.
    pub raw: String,
    /// The parsed command in canonical form (`/rm -r /drafts`), if valid.
    pub command: Option<String>,
    pub tier: Option<Tier>,
    pub decision: Decision,
    /// `ok`, or the error.
    pub status: Result<(), String>,
    pub duration_us: u64,
}

/// What the agent needs from the operating system.
pub trait Os {
    /// Shows a model's call before it runs (`→ /rm /drafts/old.txt`) and
    /// other one-line notes.
    fn show(&mut self, line: &str);
    /// Whether running `inv` would replace existing data (a write to a
    /// file that exists).
    fn replaces_data(&mut self, _inv: &Invocation) -> bool {
        false
    }
    /// Asks the person `question [y/N]` from the console keys only.
    fn confirm(&mut self, question: &str) -> Answer;
    /// Runs `inv`: its output (the console shows it as it is written), or
    /// the error.
    fn run(&mut self, inv: &Invocation) -> Result<String, String>;
    /// Appends one record to the audit log.
    fn audit(&mut self, record: &Record);
    fn now_us(&mut self) -> u64;
}

/// Whether a call proposed by the model must be confirmed: read commands
/// run; a write asks when it replaces data or when untrusted text entered
/// the context during this message; destructive and power always ask.
pub fn needs_confirmation(tier: Tier, replaces_data: bool, untrusted_seen: bool) -> bool {
    match tier {
        Tier::Read => false,
        Tier::Write => replaces_data || untrusted_seen,
        Tier::Destructive | Tier::Power => true,
    }
}

/// The tier a call is confirmed and logged under: its own, or that of
/// the command it schedules if higher (`/after 10m /shutdown` is a power
/// call).
pub fn effective_tier(reg: &Registry, inv: &Invocation) -> Tier {
    let inner = scheduled(reg, inv).map(|s| s.tier).max();
    inner.map_or(inv.spec.tier, |t| t.max(inv.spec.tier))
}

/// The commands that `inv`'s command arguments run (`/after 1h /mem`:
/// `mem`), those the registry knows.
pub fn scheduled<'r>(
    reg: &'r Registry,
    inv: &'r Invocation,
) -> impl Iterator<Item = &'r klib::registry::Spec> + 'r {
    inv.spec
        .args
        .iter()
        .zip(&inv.values)
        .filter_map(move |(a, v)| match (a.kind, v) {
            (Kind::Command, Some(Value::Str(line))) => {
                let name = line.trim_start().trim_start_matches('/');
                let name = name.split_whitespace().next().unwrap_or("");
                reg.find(name, false)
            }
            _ => None,
        })
}

/// One call of a message, as the agent handled it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallReport {
    pub raw: String,
    pub invocation: Option<Invocation>,
    pub decision: Decision,
    pub status: Result<(), String>,
}

/// How a message was handled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub calls: Vec<CallReport>,
    /// A call that was opened but not valid (unconstrained decoding).
    pub malformed: Vec<String>,
    /// Calls proposed but not run: repeats, or beyond [`MAX_CALLS`].
    pub skipped: Vec<String>,
    /// The last reply's text (shown unless it was a call).
    pub text: String,
    /// Ctrl-C ended the request.
    pub cancelled: bool,
    /// What the last reply cost (tokens, prefill and decode speed).
    pub stats: Option<ReplyStats>,
    /// Tokens of the message read ahead while the person typed it
    /// (`Conversation::prepare`).
    pub prepared: usize,
    /// The last reply repeated a call and was chosen again as the answer
    /// ([`CallDecoder::after_calls`]).
    pub answered_instead: bool,
}

/// The agent of a conversation: the registry's grammar and tool format.
pub struct Agent {
    pub registry: &'static Registry,
    pub grammar: Grammar,
    pub format: ToolFormat,
    /// Calls decoded under the grammar (off: the evaluation's baseline).
    pub constrained: bool,
    /// The last message's generated tokens, for `/explain`.
    pub trace: Vec<Choice>,
    /// Clock for the grammar's cost (microseconds), if any.
    pub clock: Option<fn() -> u64>,
    /// Stop after the first reply (the evaluation scores the first call).
    pub first_reply_only: bool,
    /// Tokens generated and microseconds spent generating them, summed
    /// over every reply (for the grammar's cost).
    pub generated: usize,
    pub decode_us: u64,
    /// The last message's candidates for a call's name: token,
    /// probability and gain over the prior (`CallDecoder::name_scores`),
    /// for `/explain`.
    pub name_scores: Vec<(u32, f32, f32)>,
    /// Whether the last message abandoned a call for a text answer (no
    /// candidate gained enough over the prior).
    pub abandoned: bool,
}

impl Agent {
    /// The last message's name candidates (see [`Agent::name_scores`]),
    /// the largest gain over the prior first.
    pub fn names_by_gain(&self) -> Vec<(u32, f32, f32)> {
        let mut names = self.name_scores.clone();
        names.sort_by(|a, b| b.2.total_cmp(&a.2));
        names
    }

    pub fn new(
        registry: &'static Registry,
        tok: &crate::tokenizer::Tokenizer,
        format: ToolFormat,
    ) -> Agent {
        Agent {
            registry,
            grammar: Grammar::new(tok, registry.for_model()),
            format,
            constrained: true,
            trace: Vec::new(),
            clock: None,
            first_reply_only: false,
            generated: 0,
            decode_us: 0,
            name_scores: Vec::new(),
            abandoned: false,
        }
    }

    /// Measures the grammar's name prior ([`Grammar::prior`]) on `conv`,
    /// which must hold no turn yet (it is left that way). Returns whether
    /// it did.
    pub fn calibrate(
        &mut self,
        conv: &mut Conversation<'_, '_>,
        io: &mut dyn Io,
    ) -> Result<bool, ConvError> {
        if !conv.turns().is_empty() {
            return Ok(false);
        }
        let mut probe = NamePrior::new(conv.tokenizer());
        let mut quiet = Quiet(io);
        let r = conv.reply_with(NamePrior::MESSAGE, &mut quiet, &mut probe);
        conv.reset();
        r?;
        self.grammar.prior = probe.logprobs;
        Ok(self.grammar.prior.is_some())
    }

    /// Handles one message of the person: see the module documentation.
    pub fn handle(
        &mut self,
        conv: &mut Conversation<'_, '_>,
        user: &str,
        io: &mut dyn Io,
        os: &mut dyn Os,
    ) -> Result<Outcome, ConvError> {
        let tok = conv.tokenizer();
        let specials: Vec<Vec<u8>> = tok
            .special_tokens()
            .iter()
            .filter_map(|&t| tok.token_text(t).map(|b| b.to_vec()))
            .collect();
        let mut out = Outcome::default();
        let mut untrusted = false;
        let mut message = String::from(user);
        self.trace.clear();
        self.name_scores.clear();
        self.abandoned = false;
        let file_named = ground::names_a_file(user);
        loop {
            let mut dec = CallDecoder::new(&mut self.grammar, tok)
                .explained()
                .file_named(file_named)
                .asked(user)
                .after_calls(out.calls.iter().map(|c| c.raw.as_str()));
            if !self.constrained {
                dec = dec.unconstrained();
            } else if untrusted {
                dec = dec.read_write_only();
            }
            if let Some(c) = self.clock {
                dec = dec.timed(c);
            }
            let mut held = HoldBack::new(io);
            let stats = conv.reply_with(&message, &mut held, &mut dec)?;
            out.stats = Some(stats);
            out.prepared += stats.prepared;
            let held_text = held.take();
            self.generated += stats.generated;
            self.decode_us += stats.decode_us;
            self.trace.append(&mut dec.trace);
            self.name_scores.append(&mut dec.name_scores);
            self.abandoned |= dec.abandoned();
            out.answered_instead = dec.answered_instead();
            let outcome = dec.outcome();
            if stats.stop == Stop::Interrupted {
                out.cancelled = true;
                return Ok(out);
            }
            let raw = match outcome {
                CallOutcome::None => {
                    io.text(&held_text);
                    out.text = conv
                        .turns()
                        .last()
                        .map_or(String::new(), |t| t.reply.clone());
                    return Ok(out);
                }
                CallOutcome::Malformed(raw) => {
                    os.show(&format!(
                        "(the model wrote an invalid call: {})",
                        one_line(&raw, 80)
                    ));
                    out.malformed.push(raw.clone());
                    os.audit(&Record {
                        origin: Origin::Model,
                        raw,
                        command: None,
                        tier: None,
                        decision: Decision::Invalid,
                        status: Err("malformed call".into()),
                        duration_us: 0,
                    });
                    return Ok(out);
                }
                CallOutcome::Call(raw) => raw,
            };
            let mut parsed = parse_call(self.registry, &raw);
            // How the call was changed as the person asked: shown only if
            // it runs (not for a repeat that is skipped).
            let mut notes = Vec::new();
            if let Ok(inv) = &mut parsed {
                let dropped = ground::drop_unasked_flags(inv, user);
                if !dropped.is_empty() {
                    os.show(&format!(
                        "(not asked for, left out: {})",
                        dropped.join(", ")
                    ));
                }
                if let Some(q) = self.ask_back(conv, &raw, inv, os) {
                    io.text(&q);
                    out.text = q;
                    out.skipped.push(raw);
                    return Ok(out);
                }
                if out.calls.is_empty() {
                    if let Some(s) = schedule::scheduled(self.registry, inv, user) {
                        notes.push(format!(
                            "({} scheduled as asked: {})",
                            inv.command_line(),
                            s.command_line()
                        ));
                        *inv = s;
                    }
                }
                if let Some(a) = ground::append_as_asked(self.registry, inv, user) {
                    notes.push(format!(
                        "(you asked to add, not to replace: {} instead of {})",
                        a.command_line(),
                        inv.command_line()
                    ));
                    *inv = a;
                }
                if let Some(r) = schedule::trimmed_reminder(self.registry, inv, user) {
                    notes.push(format!(
                        "(the reminder's text as you asked: {})",
                        r.command_line()
                    ));
                    *inv = r;
                }
            }
            if let Some(why) = self.skip_reason(&parsed, &out.calls, user) {
                os.show(&format!("({why})"));
                let inv = parsed.as_ref().ok();
                os.audit(&Record {
                    origin: Origin::Model,
                    raw: raw.clone(),
                    command: inv.map(|i| i.command_line()),
                    tier: inv.map(|i| effective_tier(self.registry, i)),
                    decision: Decision::Skipped,
                    status: Err(why.clone()),
                    duration_us: 0,
                });
                out.skipped.push(raw);
                return Ok(out);
            }
            for n in &notes {
                os.show(n);
            }
            let (report, output) = self.one_call(&raw, parsed, &mut untrusted, os);
            let body = match (report.decision, &report.status) {
                (Decision::Declined, _) => "the person declined".to_string(),
                (_, Err(e)) => format!("error: {e}"),
                _ => {
                    let o = if output.trim().is_empty() {
                        "(no output)"
                    } else {
                        &output
                    };
                    escape_untrusted(
                        &truncate(o, MAX_RESULT),
                        specials.iter().map(|s| s.as_slice()),
                    )
                }
            };
            let cancelled = report.decision == Decision::Cancelled;
            out.calls.push(report);
            if cancelled {
                out.cancelled = true;
                return Ok(out);
            }
            if self.first_reply_only {
                return Ok(out);
            }
            message = prompt::response_text(self.format, &body);
        }
    }
}

impl Agent {
    /// Why the model's call `raw` is not run, given the calls `done` so
    /// far in the person's message `request`: it repeats one, the limit is
    /// reached, or, after a first call, it schedules a command the message
    /// does not ask for ([`ground::unasked_scheduled`]).
    pub(crate) fn skip_reason(
        &self,
        call: &Result<Invocation, CallError>,
        done: &[CallReport],
        request: &str,
    ) -> Option<String> {
        if done.len() >= MAX_CALLS {
            return Some(format!("not run: at most {MAX_CALLS} calls per message"));
        }
        let inv = call.as_ref().ok()?;
        if !done.is_empty() {
            if let Some(cmd) = ground::unasked_scheduled(self.registry, inv, request) {
                return Some(format!(
                    "not run: {} schedules {cmd}, which your message does not ask for",
                    inv.command_line()
                ));
            }
        }
        let line = inv.command_line();
        let repeated = done
            .iter()
            .filter_map(|c| c.invocation.as_ref())
            .any(|i| i.command_line() == line);
        repeated.then(|| format!("not run again: {line} was already called for this message"))
    }

    /// When the call `inv` (the model's `raw`) has an argument the person
    /// never mentioned ([`ground`]): shows and audits it as skipped, and
    /// returns the question to ask the person instead.
    fn ask_back(
        &mut self,
        conv: &Conversation<'_, '_>,
        raw: &str,
        inv: &Invocation,
        os: &mut dyn Os,
    ) -> Option<String> {
        let context: Vec<&str> = conv.turns().iter().map(|t| t.user.as_str()).collect();
        let u = ground::ungrounded(inv, &context.join("\n"))?;
        let line = inv.command_line();
        os.show(&format!("(\u{2192} {line}: {})", u.reason()));
        os.audit(&Record {
            origin: Origin::Model,
            raw: raw.into(),
            command: Some(line),
            tier: Some(effective_tier(self.registry, inv)),
            decision: Decision::Skipped,
            status: Err(u.reason()),
            duration_us: 0,
        });
        Some(u.question())
    }

    /// Shows, confirms, runs and audits one call: its report and output.
    fn one_call(
        &mut self,
        raw: &str,
        call: Result<Invocation, CallError>,
        untrusted: &mut bool,
        os: &mut dyn Os,
    ) -> (CallReport, String) {
        let t0 = os.now_us();
        let inv = match call {
            Ok(inv) => inv,
            Err(e) => {
                os.show(&format!("(the model's call is not valid: {e})"));
                let status = Err(e.0);
                os.audit(&Record {
                    origin: Origin::Model,
                    raw: raw.into(),
                    command: None,
                    tier: None,
                    decision: Decision::Invalid,
                    status: status.clone(),
                    duration_us: 0,
                });
                let report = CallReport {
                    raw: raw.into(),
                    invocation: None,
                    decision: Decision::Invalid,
                    status,
                };
                return (report, String::new());
            }
        };
        let line = inv.command_line();
        os.show(&format!("\u{2192} {line}"));
        let tier = effective_tier(self.registry, &inv);
        let ask = needs_confirmation(tier, os.replaces_data(&inv), *untrusted);
        let decision = if ask {
            match os.confirm(&format!("run {line}?")) {
                Answer::Yes => Decision::Confirmed,
                Answer::No => Decision::Declined,
                Answer::Cancel => Decision::Cancelled,
            }
        } else {
            Decision::Ran
        };
        let (status, output) = if matches!(decision, Decision::Ran | Decision::Confirmed) {
            match os.run(&inv) {
                Ok(o) => (Ok(()), o),
                Err(e) => (Err(e), String::new()),
            }
        } else {
            (Ok(()), String::new())
        };
        if !output.trim().is_empty() {
            *untrusted = true;
        }
        let duration_us = os.now_us().saturating_sub(t0);
        os.audit(&Record {
            origin: Origin::Model,
            raw: raw.into(),
            command: Some(line),
            tier: Some(tier),
            decision,
            status: status.clone(),
            duration_us,
        });
        let report = CallReport {
            raw: raw.into(),
            invocation: Some(inv),
            decision,
            status,
        };
        (report, output)
    }
}

/// One line of at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// Passes on only the progress of prefills (for the name prior's probe,
/// whose text is not a reply).
struct Quiet<'a>(&'a mut dyn Io);

impl Io for Quiet<'_> {
    fn text(&mut self, _: &str) {}
    fn notice(&mut self, _: &str) {}
    fn progress(&mut self, done: usize, total: usize) {
        self.0.progress(done, total)
    }
    fn now_us(&mut self) -> u64 {
        self.0.now_us()
    }
}

/// Passes a reply's text to the console, except from where a call may
/// begin (a line starting with `{` or a fence): that part is held until
/// the reply ends; the agent shows it only if it was not a call.
struct HoldBack<'a> {
    inner: &'a mut dyn Io,
    line_start: bool,
    holding: bool,
    held: String,
}

impl<'a> HoldBack<'a> {
    fn new(inner: &'a mut dyn Io) -> Self {
        HoldBack {
            inner,
            line_start: true,
            holding: false,
            held: String::new(),
        }
    }

    fn take(self) -> String {
        self.held
    }
}

impl Io for HoldBack<'_> {
    fn text(&mut self, s: &str) {
        if self.holding {
            self.held.push_str(s);
            return;
        }
        for (i, c) in s.char_indices() {
            if self.line_start && (c == '{' || c == '`') {
                self.holding = true;
                self.inner.text(&s[..i]);
                self.held.push_str(&s[i..]);
                return;
            }
            if c == '\n' {
                self.line_start = true;
            } else if !c.is_whitespace() {
                self.line_start = false;
            }
        }
        self.inner.text(s);
    }
    fn notice(&mut self, s: &str) {
        self.inner.notice(s)
    }
    /// The decoder abandoned a call opened at the reply's start: what was
    /// held is dropped (what was shown before it was white space).
    fn retract(&mut self) {
        self.held.clear();
        self.holding = false;
        self.line_start = true;
    }
    fn progress(&mut self, done: usize, total: usize) {
        self.inner.progress(done, total)
    }
    fn interrupted(&mut self) -> bool {
        self.inner.interrupted()
    }
    fn now_us(&mut self) -> u64 {
        self.inner.now_us()
    }
    fn between_tokens(&mut self) {
        self.inner.between_tokens()
    }
}
