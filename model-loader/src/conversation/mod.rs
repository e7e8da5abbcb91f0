//! The conversation engine: what the kernel's chat loop calls for each line
//! the person types. Hardware-independent (`no_std + alloc`); the kernel
//! supplies an [`Io`] for the console, the clock and Ctrl-C.
//!
//! A [`Conversation`] owns a [`Session`] whose KV cache always holds exactly
//! [`Conversation::tokens`]: the *system prefix* (the chat template's
//! rendering of the system message), then per turn the user segment, the
//! reply tokens as generated, and the template's close (see [`turns`]).
//!
//! - The system prefix is computed once: restored from a model pack's
//!   prefix section when it matches ([`crate::pack::Prefix`]), otherwise
//!   prefilled. Its positions of the cache are never overwritten, so
//!   [`Conversation::reset`] and context-overflow rebuilds just cut the
//!   cache back to it.
//! - When a turn does not fit, the oldest turns are dropped (down to half
//!   the free context, so that rebuilds stay rare) and the cache rebuilt
//!   from the kept turns; [`Io::notice`] says so.
//! - Replies stream through a [`Detokenizer`] (only complete UTF-8 reaches
//!   [`Io::text`]) and stop at an end-of-generation token, at the
//!   per-reply limit, when the context is full, or when
//!   [`Io::interrupted`] says so. A stopped reply is closed with the
//!   template's close and kept in the history as far as it got.
//! - [`Conversation::complete`] is `/complete`: a raw greedy continuation
//!   in a separate, temporary session (see [`complete`]).
//!
//! ```text
//! // At boot: the model image is a pack (header, GGUF, prefix) or a raw GGUF.
//! let (template, notice) = conversation::template_for(&gguf);
//! let mut conv = Conversation::new(&model, &tok, template, backend,
//!                                  Options::default(), prefix.as_ref(), io)?;
//! // A console line that is not a command (clear the Ctrl-C flag first):
//! match conv.reply(line, io) {
//!     Ok(stats) => dim_line(&stats.summary()),   // after a newline
//!     Err(ConvError::Interrupted) => {}            // Ctrl-C during the prefill
//!     Err(e) => error_line(&e),                    // nothing changed
//! }
//! // `/complete [-n N] TEXT`:
//! let (n, text) = conversation::args::complete(arg)?;
//! let done = conv.complete(text, n, io)?;          // streams; conv untouched
//! // `/reset`, `/stats`, `/model`, `/temp T`, `/top-p P`, `/seed S`:
//! conv.reset(); conv.stats_report(); conv.model_report(name);
//! conv.set_temperature(args::temperature(arg)?); // also top_p, seed
//! ```

mod ahead;
pub mod args;
mod complete;
mod report;
pub mod request;
pub mod stats;
pub mod turns;

#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::chat::{ChatTemplate, Message};
use crate::gguf::Gguf;
use crate::model::{Model, ModelError};
use crate::pack::Prefix;
use crate::parallel::{Team, SERIAL};
use crate::quant::Backend;
use crate::sampler::{Sampler, SamplerConfig};
use crate::session::Session;
use crate::tokenizer::{Detokenizer, Tokenizer};

pub use ahead::Prepared;
pub use complete::{complete, Completion, COMPLETE_BATCH};
pub use request::Request;
pub use stats::{ReplyStats, Stop, Totals};
pub use turns::TemplateError;

/// The system prompt: where the model runs, and that it should be brief.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a small language model running directly on the hardware inside a bare-metal x86_64 kernel; there is no operating system. You talk with a person through a serial console. You have no internet access and no files yet. Answer briefly.";

/// What the conversation needs from its surroundings (the kernel's
/// console, or stdin/stdout on the host).
pub trait Io {
    /// Part of a reply: always complete UTF-8, no end-of-turn markers.
    fn text(&mut self, s: &str);
    /// A message about the conversation itself ("context full: ...").
    fn notice(&mut self, s: &str);
    /// Progress of a prefill: `done` of `total` tokens.
    fn progress(&mut self, _done: usize, _total: usize) {}
    /// Whether the person asked to stop (Ctrl-C). Polled between tokens
    /// and between prefill batches; once it returns true the current reply
    /// stops.
    fn interrupted(&mut self) -> bool {
        false
    }
    /// A monotonic clock in microseconds (for the statistics).
    fn now_us(&mut self) -> u64;
    /// The reply's text so far is withdrawn: the decoder chose again from
    /// the reply's start ([`Step::Restart`]). Only an `Io` that has held
    /// that text back (the agent's) can honour it.
    fn retract(&mut self) {}
    /// Between two generated tokens of a reply (the last one shown, the
    /// next not yet computed): where the kernel lends the model to a
    /// background request for one step. The reply's session is not
    /// touched meanwhile.
    fn between_tokens(&mut self) {}
}

/// What comes next in a reply, as chosen by a [`Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Append these tokens (more than one: fed as one prefill batch); an
    /// end-of-generation token among them ends the reply there.
    Tokens(Vec<u32>),
    /// The reply is complete.
    End,
    /// Forget the reply so far and choose again from its start (the
    /// agent abandons a call the message gave no reason for).
    Restart,
}

/// Chooses a reply's tokens from the logits of the last token fed.
pub trait Decoder {
    /// `history`: every token in the cache (system prefix, turns, the
    /// reply so far).
    fn next(&mut self, logits: &[f32], history: &[u32], sampler: &mut Sampler) -> Step;
    /// Whether the tokens just chosen complete the reply (so that the
    /// reply ends without feeding them: their logits are not needed, and
    /// they are fed with the turn's close before the next message).
    fn finished(&self) -> bool {
        false
    }
}

/// Plain chat: each token drawn by the conversation's sampler.
pub struct Sampled;

impl Decoder for Sampled {
    fn next(&mut self, logits: &[f32], history: &[u32], sampler: &mut Sampler) -> Step {
        Step::Tokens(vec![sampler.sample(logits, history)])
    }
}

/// Why a turn (or the conversation) failed. The conversation stays usable
/// after every error.
#[derive(Debug, Clone, PartialEq)]
pub enum ConvError {
    Model(ModelError),
    Template(TemplateError),
    /// A message (or prompt) of `tokens` tokens when only `room` fit.
    TooLong {
        tokens: usize,
        room: usize,
    },
    /// A `/complete` text that has no tokens.
    EmptyPrompt,
    /// Interrupted before the reply began (during the prefill): the turn
    /// was not added.
    Interrupted,
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvError::Model(e) => write!(f, "{e}"),
            ConvError::Template(e) => write!(f, "{e}"),
            ConvError::TooLong { tokens, room } => write!(
                f,
                "the message is {tokens} tokens long but only {room} fit in the context (with the system prompt and room for a reply)"
            ),
            ConvError::EmptyPrompt => write!(f, "the text has no tokens"),
            ConvError::Interrupted => write!(f, "interrupted"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConvError {}

impl From<ModelError> for ConvError {
    fn from(e: ModelError) -> Self {
        ConvError::Model(e)
    }
}

impl From<TemplateError> for ConvError {
    fn from(e: TemplateError) -> Self {
        ConvError::Template(e)
    }
}

/// Sampling settings for chat: mildly random, with a light repetition
/// penalty (small models loop without one).
pub fn chat_sampler_defaults() -> SamplerConfig {
    SamplerConfig {
        temperature: 0.7,
        top_k: 40,
        top_p: 0.9,
        repeat_penalty: 1.1,
        repeat_last_n: 64,
        seed: 0,
    }
}

/// Settings of a [`Conversation`].
#[derive(Clone)]
pub struct Options {
    /// Context length (KV cache positions).
    pub n_ctx: usize,
    /// Prefill batch size.
    pub max_batch: usize,
    /// Tokens one reply may have at most.
    pub max_reply_tokens: usize,
    pub system_prompt: String,
    pub sampler: SamplerConfig,
    /// The workers the matrix products are split over (the results do not
    /// depend on it).
    pub team: &'static dyn Team,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("n_ctx", &self.n_ctx)
            .field("max_batch", &self.max_batch)
            .field("max_reply_tokens", &self.max_reply_tokens)
            .field("system_prompt", &self.system_prompt)
            .field("sampler", &self.sampler)
            .field("team_workers", &self.team.workers())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            n_ctx: 2048,
            max_batch: 64,
            max_reply_tokens: 512,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            sampler: chat_sampler_defaults(),
            team: &SERIAL,
        }
    }
}

/// The chat template of a model, or ChatML with a notice explaining why
/// (no template, or a family we do not know).
pub fn template_for(g: &Gguf<'_>) -> (ChatTemplate, Option<String>) {
    match ChatTemplate::from_gguf(g) {
        Ok(t) => (t, None),
        Err(e) => (ChatTemplate::chatml(), Some(format!("{e}; using ChatML"))),
    }
}

/// Where the system prefix's cache came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixSource {
    /// Restored from a model pack (computed there by the named backend).
    Restored { backend: String },
    /// Prefilled by this conversation (`why`: why no saved one was used).
    Computed { why: Option<String> },
}

/// One exchange: the user's message and the reply as far as it got.
#[derive(Debug, Clone)]
pub struct Turn {
    pub user: String,
    /// The reply's text as streamed.
    pub reply: String,
    /// The reply's tokens exactly as generated (no end-of-generation token).
    pub reply_tokens: Vec<u32>,
    /// Tokens this turn occupies in the cache (user segment, reply, close).
    pub n_tokens: usize,
    pub stop: Stop,
}

/// The token layout of turns to prefill.
struct Plan {
    /// Tokens to append to the cache: the kept turns (when rebuilding) and
    /// the new user segment.
    tokens: Vec<u32>,
    /// Tokens of each kept turn, in order.
    kept_lens: Vec<usize>,
    /// The new turn's user segment length (at the end of `tokens`).
    seg_len: usize,
    /// The new turn's close.
    close: Vec<u32>,
}

/// A chat with a model: see the module documentation.
pub struct Conversation<'m, 'a> {
    session: Session<'m, 'a>,
    tokenizer: &'m Tokenizer,
    template: ChatTemplate,
    system: String,
    prefix_text: String,
    prefix_tokens: Vec<u32>,
    prefix_source: PrefixSource,
    /// The tokens of the conversation: the KV cache holds all of them but
    /// the last `unfed`.
    tokens: Vec<u32>,
    /// The last turn's closing tokens (and its last reply tokens, if the
    /// decoder ended the reply without feeding them) are not in the cache
    /// yet: they are fed at the start of the next message, so that a reply
    /// (or a call) is complete as soon as its last token is chosen.
    unfed: usize,
    /// Tokens of the next message put in the cache ahead of it, after
    /// `tokens` (only when `unfed` is 0): see [`ahead`].
    spec: Vec<u32>,
    /// Whether the session's logits are those after `spec`'s last token.
    spec_logits: bool,
    /// Whether tokens were fed ahead since the last reply (the session's
    /// logits may then not be those of the cache's last token).
    ahead: bool,
    /// The texts (and `whole`) for which [`Conversation::prepare`] last
    /// found nothing more to do, until the conversation or what was
    /// prepared changes: asking again costs nothing (planning a message
    /// renders and tokenizes it, and the console asks at every tick).
    ready_for: Vec<(String, bool)>,
    turns: Vec<Turn>,
    sampler: Sampler,
    max_reply: usize,
    totals: Totals,
}

impl<'m, 'a> Conversation<'m, 'a> {
    /// Starts a conversation: allocates the session and puts the system
    /// prefix in its cache, restored from `prefix` when that matches this
    /// model and system prompt, else prefilled (with [`Io::progress`]; the
    /// reason a given prefix was not used goes to [`Io::notice`]).
    pub fn new(
        model: &'m Model<'a>,
        tokenizer: &'m Tokenizer,
        template: ChatTemplate,
        backend: &Backend,
        opts: Options,
        prefix: Option<&Prefix<'_>>,
        io: &mut dyn Io,
    ) -> Result<Self, ConvError> {
        let mut session = Session::new(model, backend, opts.n_ctx, opts.max_batch)?;
        session.set_team(opts.team);
        let prefix_text = turns::system_prefix(&template, &opts.system_prompt);
        let prefix_tokens = tokenizer.encode(&prefix_text, true, true);
        if prefix_tokens.len() >= opts.n_ctx {
            return Err(ConvError::TooLong {
                tokens: prefix_tokens.len(),
                room: opts.n_ctx - 1,
            });
        }
        let mut conv = Conversation {
            session,
            tokenizer,
            template,
            system: opts.system_prompt,
            prefix_text,
            prefix_tokens,
            prefix_source: PrefixSource::Computed { why: None },
            tokens: Vec::new(),
            unfed: 0,
            spec: Vec::new(),
            spec_logits: false,
            ahead: false,
            ready_for: Vec::new(),
            turns: Vec::new(),
            sampler: Sampler::new(opts.sampler),
            max_reply: opts.max_reply_tokens.max(1),
            totals: Totals::default(),
        };
        let why = match prefix {
            None => None,
            Some(p) => match conv.restore_prefix(p) {
                Ok(()) => {
                    conv.prefix_source = PrefixSource::Restored {
                        backend: p.backend.to_string(),
                    };
                    return Ok(conv);
                }
                Err(why) => {
                    io.notice(&format!(
                        "the saved system prompt cache was not used ({why}); computing it"
                    ));
                    Some(why.to_string())
                }
            },
        };
        conv.session.truncate(0);
        if !conv.prefix_tokens.is_empty() {
            let mut progress = |done: usize, total: usize| {
                io.progress(done, total);
                true
            };
            conv.session
                .prefill(&conv.prefix_tokens, Some(&mut progress))?;
        }
        conv.tokens = conv.prefix_tokens.clone();
        conv.prefix_source = PrefixSource::Computed { why };
        Ok(conv)
    }

    fn restore_prefix(&mut self, p: &Prefix<'_>) -> Result<(), String> {
        if p.text != self.prefix_text {
            return Err("it is for another system prompt or template".into());
        }
        if p.tokens != self.prefix_tokens {
            return Err("its tokens differ from this tokenizer's".into());
        }
        self.session
            .kv_cache_mut()
            .deserialize_into(p.kv)
            .map_err(|e| e.to_string())?;
        if self.session.n_tokens() != self.prefix_tokens.len() {
            return Err(format!(
                "it holds {} positions for {} tokens",
                self.session.n_tokens(),
                self.prefix_tokens.len()
            ));
        }
        self.tokens = self.prefix_tokens.clone();
        Ok(())
    }

    /// Answers `user`, streaming the reply to `io`. On error the
    /// conversation is as before the call (or, when interrupted while
    /// rebuilding after an overflow, keeps the turns already rebuilt).
    pub fn reply(&mut self, user: &str, io: &mut dyn Io) -> Result<ReplyStats, ConvError> {
        self.reply_with(user, io, &mut Sampled)
    }

    /// [`Conversation::reply`] with the reply's tokens chosen by `decoder`
    /// (the agent's constrained call decoding).
    pub fn reply_with(
        &mut self,
        user: &str,
        io: &mut dyn Io,
        decoder: &mut dyn Decoder,
    ) -> Result<ReplyStats, ConvError> {
        let n_ctx = self.session.n_ctx();
        let (plan, dropped) = self.plan(user)?;
        let base = self.prefix_tokens.len();
        if dropped > 0 {
            io.notice(&format!(
                "context full: dropped {dropped} oldest turn{}; rebuilding the cache ({} tokens)",
                if dropped == 1 { "" } else { "s" },
                plan.tokens.len()
            ));
            self.turns.drain(..dropped);
            self.drop_prepared();
            self.session.truncate(base);
            self.tokens.truncate(base);
            self.unfed = 0;
        }
        self.feed_unfed()?;
        let start = self.tokens.len();
        // What was read ahead while the person typed (`ahead`).
        let prepared = self.take_prepared(&plan.tokens);
        self.ahead = false;

        // Prefill the new tokens.
        let t0 = io.now_us();
        let mut cancelled = false;
        let result = if prepared == plan.tokens.len() {
            Ok(())
        } else {
            let rest = &plan.tokens[prepared..];
            let mut progress = |done: usize, total: usize| {
                io.progress(done, total);
                cancelled = io.interrupted();
                !cancelled
            };
            self.session.prefill(rest, Some(&mut progress)).map(|_| ())
        };
        if let Err(e) = result {
            self.keep_complete_turns(start, &plan.kept_lens);
            return Err(match e {
                ModelError::Cancelled => ConvError::Interrupted,
                e => e.into(),
            });
        }
        self.tokens.extend_from_slice(&plan.tokens);
        let t1 = io.now_us();
        let turn_start = self.tokens.len() - plan.seg_len;
        let reply_start = self.tokens.len();
        let mut restarted = false;

        // Generate.
        let close = plan.close;
        let mut detok = Detokenizer::new(self.tokenizer, false);
        let mut reply = String::new();
        let mut reply_tokens = Vec::new();
        let stop = if cancelled {
            Stop::Interrupted
        } else {
            loop {
                let step = decoder.next(self.session.logits(), &self.tokens, &mut self.sampler);
                let mut next = match step {
                    Step::Tokens(next) => next,
                    Step::End => break Stop::EndOfTurn,
                    Step::Restart if restarted => break Stop::EndOfTurn,
                    Step::Restart => {
                        // Back to the logits of the reply's first token:
                        // the cache up to the prompt's last token, which
                        // is run again.
                        restarted = true;
                        let last = self.tokens[reply_start - 1];
                        self.session.truncate(reply_start - 1);
                        self.tokens.truncate(reply_start - 1);
                        if let Err(e) = self.session.decode_step(last) {
                            self.abandon_turn(turn_start);
                            return Err(e.into());
                        }
                        self.tokens.push(last);
                        reply_tokens.clear();
                        reply.clear();
                        detok = Detokenizer::new(self.tokenizer, false);
                        io.retract();
                        continue;
                    }
                };
                let eog = next.iter().position(|&t| self.tokenizer.is_eog(t));
                if let Some(i) = eog {
                    next.truncate(i);
                }
                for &t in &next {
                    reply_tokens.push(t);
                    let piece = detok.push(t).unwrap_or("");
                    io.text(piece);
                    reply.push_str(piece);
                }
                if eog.is_some() || next.is_empty() || decoder.finished() {
                    break Stop::EndOfTurn;
                }
                if reply_tokens.len() >= self.max_reply {
                    break Stop::Limit;
                }
                io.between_tokens();
                if io.interrupted() {
                    break Stop::Interrupted;
                }
                // Room for these tokens, a next one and the close.
                if self.session.n_tokens() + next.len() + 1 + close.len() > n_ctx {
                    break Stop::ContextFull;
                }
                let fed = if next.len() == 1 {
                    self.session.decode_step(next[0]).map(|_| ())
                } else {
                    self.session.prefill(&next, None).map(|_| ())
                };
                if let Err(e) = fed {
                    self.abandon_turn(turn_start);
                    return Err(e.into());
                }
                self.tokens.extend_from_slice(&next);
            }
        };
        let t_gen = io.now_us();
        let rest = detok.finish();
        if !rest.is_empty() {
            io.text(&rest);
            reply.push_str(&rest);
        }

        // Close the turn: the last reply tokens if they were not fed, then
        // the template's close; fed before the next message.
        let fed = self.tokens.len() - turn_start - plan.seg_len;
        let mut tail = reply_tokens[fed..].to_vec();
        tail.extend_from_slice(&close);
        self.tokens.extend_from_slice(&tail);
        self.unfed = tail.len();

        self.turns.push(Turn {
            user: user.to_string(),
            reply,
            n_tokens: self.tokens.len() - turn_start,
            reply_tokens,
            stop,
        });
        debug_assert_eq!(self.tokens.len(), self.session.n_tokens() + self.unfed);
        let stats = ReplyStats {
            prompt_tokens: plan.tokens.len() - prepared,
            prepared,
            prefill_us: t1.saturating_sub(t0),
            generated: self.turns.last().map_or(0, |t| t.reply_tokens.len()),
            decode_us: t_gen.saturating_sub(t1),
            stop,
            dropped_turns: dropped,
            context_used: self.tokens.len(),
            n_ctx,
        };
        self.totals.add(&stats);
        Ok(stats)
    }

    /// The tokens to prefill for `user`, and how many of the oldest turns
    /// must be dropped first. Changes nothing.
    fn plan(&self, user: &str) -> Result<(Plan, usize), ConvError> {
        let n_ctx = self.session.n_ctx();
        let base = self.prefix_tokens.len();
        let fast = self.plan_from(self.turns.len(), user, false)?;
        let reserve = fast.close.len() + self.reply_room();
        if self.tokens.len() + fast.tokens.len() + reserve <= n_ctx {
            return Ok((fast, 0));
        }
        let room = n_ctx.saturating_sub(base + reserve);
        // Keep at most half of the room left beside the new message, so
        // that the next turns fit without another rebuild.
        let target = room.saturating_sub(fast.seg_len) / 2;
        let mut kept: usize = self.turns.iter().map(|t| t.n_tokens).sum();
        for from in 1..=self.turns.len() {
            kept -= self.turns[from - 1].n_tokens;
            if kept > target && from < self.turns.len() {
                continue;
            }
            let plan = self.plan_from(from, user, true)?;
            if base + plan.tokens.len() + plan.close.len() + self.reply_room() <= n_ctx {
                return Ok((plan, from));
            }
        }
        Err(ConvError::TooLong {
            tokens: fast.seg_len,
            room,
        })
    }

    /// Tokens of the turns from `from` on (only when `rebuild`: otherwise
    /// they are in the cache already) and of the new user segment.
    fn plan_from(&self, from: usize, user: &str, rebuild: bool) -> Result<Plan, ConvError> {
        let mut msgs = self.messages(0);
        if rebuild {
            msgs.truncate(1);
        }
        let mut tokens = Vec::new();
        let mut kept_lens = Vec::new();
        if rebuild {
            for t in &self.turns[from..] {
                let (seg, close) = self.turn_pieces(&mut msgs, &t.user)?;
                let n = tokens.len();
                tokens.extend_from_slice(&seg);
                tokens.extend_from_slice(&t.reply_tokens);
                tokens.extend_from_slice(&close);
                kept_lens.push(tokens.len() - n);
                msgs.push(Message::assistant(&t.reply));
            }
        }
        let (seg, close) = self.turn_pieces(&mut msgs, user)?;
        tokens.extend_from_slice(&seg);
        Ok(Plan {
            tokens,
            kept_lens,
            seg_len: seg.len(),
            close,
        })
    }

    /// The tokens of the user segment of `user` after `msgs` and of the
    /// close of its reply; pushes the user message onto `msgs`.
    fn turn_pieces<'s>(
        &self,
        msgs: &mut Vec<Message<'s>>,
        user: &'s str,
    ) -> Result<(Vec<u32>, Vec<u32>), ConvError> {
        let seg = turns::user_segment(&self.template, msgs, user)?;
        msgs.push(Message::user(user));
        let close = turns::reply_close(&self.template, msgs)?;
        Ok((
            self.tokenizer.encode(&seg, false, true),
            self.tokenizer.encode(&close, false, true),
        ))
    }

    /// The system message and the turns from `from` on, as messages.
    fn messages(&self, from: usize) -> Vec<Message<'_>> {
        let mut m = vec![Message::system(&self.system)];
        for t in &self.turns[from..] {
            m.push(Message::user(&t.user));
            m.push(Message::assistant(&t.reply));
        }
        m
    }

    /// Tokens reserved for a reply when deciding whether a turn fits.
    fn reply_room(&self) -> usize {
        self.max_reply.min(self.session.n_ctx() / 4).max(1)
    }

    /// After a failed prefill of rebuilt turns starting at `start`: keeps
    /// the turns that were prefilled completely, drops the rest.
    fn keep_complete_turns(&mut self, start: usize, kept_lens: &[usize]) {
        let done = self.session.n_tokens().saturating_sub(start);
        let mut end = 0;
        let mut n_complete = 0;
        for &len in kept_lens {
            if end + len > done {
                break;
            }
            end += len;
            n_complete += 1;
        }
        let n_previous = self.turns.len() - kept_lens.len();
        self.turns.truncate(n_previous + n_complete);
        self.session.truncate(start + end);
        self.tokens.truncate(start + end);
    }

    /// After a failed decode: forgets the turn being generated.
    fn abandon_turn(&mut self, turn_start: usize) {
        self.session.truncate(turn_start);
        self.tokens.truncate(turn_start);
    }

    /// Back to just the system prompt: cuts the cache back to the system
    /// prefix (its positions are never overwritten, so nothing is
    /// recomputed). Statistics and sampler settings are kept.
    pub fn reset(&mut self) {
        self.drop_prepared();
        self.ahead = false;
        self.turns.clear();
        self.session.truncate(self.prefix_tokens.len());
        self.tokens.truncate(self.prefix_tokens.len());
        self.unfed = 0;
    }

    /// Feeds the last turn's close (see `unfed`) into the cache, without
    /// logits. On error the conversation is as before.
    fn feed_unfed(&mut self) -> Result<(), ConvError> {
        if self.unfed == 0 {
            return Ok(());
        }
        let from = self.tokens.len() - self.unfed;
        if let Err(e) = self.session.feed(&self.tokens[from..]) {
            self.session.truncate(from);
            return Err(e.into());
        }
        self.unfed = 0;
        Ok(())
    }

    /// Puts every token in the cache, so that [`Conversation::logits`] are
    /// those after the last turn's close (normally the close is fed only
    /// when the next message comes).
    pub fn flush(&mut self) -> Result<(), ConvError> {
        self.drop_prepared();
        if self.unfed == 0 && self.ahead && !self.tokens.is_empty() {
            // The close was fed ahead without logits: run its last token
            // again.
            self.unfed = 1;
            self.session.truncate(self.tokens.len() - 1);
        }
        self.ahead = false;
        if self.unfed == 0 {
            return Ok(());
        }
        let from = self.tokens.len() - self.unfed;
        if let Err(e) = self.session.prefill(&self.tokens[from..], None) {
            self.session.truncate(from);
            return Err(e.into());
        }
        self.unfed = 0;
        Ok(())
    }

    /// `/complete`: greedy continuation of `text` by up to `n` tokens, in
    /// a temporary session of at most this conversation's context length;
    /// the conversation is not touched.
    pub fn complete(&self, text: &str, n: usize, io: &mut dyn Io) -> Result<Completion, ConvError> {
        complete(
            self.session.model(),
            self.tokenizer,
            self.session.backend(),
            self.session.team(),
            self.session.n_ctx(),
            text,
            n,
            io,
        )
    }

    /// The system prefix as a model pack prefix section
    /// ([`Prefix::to_bytes`]): text, tokens, backend name and KV cache,
    /// and the agent's name prior if given.
    pub fn system_prefix_section(&self, prior: Option<&[f32]>) -> Vec<u8> {
        let n = self.prefix_tokens.len();
        let kv = self.session.kv_cache().serialize(n);
        let prior = prior.map(Prefix::prior_bytes).unwrap_or_default();
        Prefix {
            text: &self.prefix_text,
            backend: self.session.backend().name,
            tokens: self.prefix_tokens.clone(),
            kv: &kv,
            prior: &prior,
        }
        .to_bytes()
    }

    pub fn set_temperature(&mut self, t: f32) {
        let cfg = SamplerConfig {
            temperature: t,
            ..self.sampler.config().clone()
        };
        self.sampler.set_config(cfg);
    }

    pub fn set_top_p(&mut self, p: f32) {
        let cfg = SamplerConfig {
            top_p: p,
            ..self.sampler.config().clone()
        };
        self.sampler.set_config(cfg);
    }

    /// Restarts the random stream from `seed`.
    pub fn set_seed(&mut self, seed: u64) {
        self.sampler = Sampler::new(SamplerConfig {
            seed,
            ..self.sampler.config().clone()
        });
    }

    /// Replaces all sampler settings (and restarts the random stream).
    pub fn set_sampler(&mut self, cfg: SamplerConfig) {
        self.sampler = Sampler::new(cfg);
    }

    pub fn set_max_reply_tokens(&mut self, n: usize) {
        self.max_reply = n.max(1);
    }

    pub fn sampler_config(&self) -> &SamplerConfig {
        self.sampler.config()
    }

    /// Exactly the tokens in the KV cache.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn tokenizer(&self) -> &'m Tokenizer {
        self.tokenizer
    }

    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    pub fn system_prompt(&self) -> &str {
        &self.system
    }

    /// The system prefix: its text (the template's rendering of the system
    /// message) and tokens.
    pub fn system_prefix(&self) -> (&str, &[u32]) {
        (&self.prefix_text, &self.prefix_tokens)
    }

    pub fn prefix_source(&self) -> &PrefixSource {
        &self.prefix_source
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn n_ctx(&self) -> usize {
        self.session.n_ctx()
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn model(&self) -> &'m Model<'a> {
        self.session.model()
    }

    pub fn backend(&self) -> &Backend {
        self.session.backend()
    }

    /// The logits of the last token fed (for tests and diagnostics; after
    /// [`Conversation::flush`], those after the last turn's close).
    pub fn logits(&self) -> &[f32] {
        self.session.logits()
    }
}
