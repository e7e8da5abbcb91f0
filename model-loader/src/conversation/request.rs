//! A one-off request beside the conversation (the kernel's `/bg TEXT`):
//! the conversation's system prompt and one user message, answered
//! greedily in a [`Session`] of its own, so the conversation is untouched
//! and the two can take turns on the model.
//!
//! - The system prefix is not computed again: its positions are copied
//!   from the conversation's cache (they are never overwritten there), so
//!   only the user message is prefilled.
//! - The session holds just what the request needs (prefix, message, the
//!   answer's cap), and is allocated fallibly: no memory is an error
//!   ([`ModelError::OutOfMemory`]), not an abort.
//! - The caller drives it with [`Request::step`], one small piece of work
//!   at a time (one prefill batch or one answer token), so it can yield to
//!   more urgent work, or stop, between any two steps.
//!
//! ```text
//! let mut r = Request::new(&conv, "What is a kernel?", 256, 8)?;
//! while r.step()?.is_none() { /* yield, check for a kill */ }
//! print(r.answer());
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::stats::Stop;
use super::{turns, ConvError, Conversation};
use crate::chat::Message;
use crate::sampler::Sampler;
use crate::session::Session;
use crate::tokenizer::{Detokenizer, Tokenizer};

/// A request being answered: see the module documentation.
pub struct Request<'m, 'a> {
    session: Session<'m, 'a>,
    tokenizer: &'m Tokenizer,
    /// The user segment (message and the assistant's header).
    prompt: Vec<u32>,
    /// How many of `prompt`'s tokens are in the cache.
    fed: usize,
    detok: Detokenizer<'m>,
    sampler: Sampler,
    answer: String,
    /// Answer tokens chosen so far.
    tokens: Vec<u32>,
    max_tokens: usize,
    /// The answer's last token, chosen but not fed yet.
    next: Option<u32>,
    stop: Option<Stop>,
}

impl<'m, 'a> Request<'m, 'a> {
    /// A request for `user` after `conv`'s system prompt, answered in at
    /// most `max_tokens` tokens, its message prefilled in batches of at
    /// most `max_batch` tokens (a step's size). Allocates its session
    /// (fallibly) and copies the system prefix's cache from `conv`;
    /// computes nothing yet.
    pub fn new(
        conv: &Conversation<'m, 'a>,
        user: &str,
        max_tokens: usize,
        max_batch: usize,
    ) -> Result<Self, ConvError> {
        let msgs = [Message::system(&conv.system)];
        let seg = turns::user_segment(&conv.template, &msgs, user)?;
        let prompt = conv.tokenizer.encode(&seg, false, true);
        let base = conv.prefix_tokens.len();
        let max_tokens = max_tokens.max(1);
        let n_ctx = base + prompt.len() + max_tokens;
        if n_ctx > conv.session.n_ctx() {
            return Err(ConvError::TooLong {
                tokens: prompt.len(),
                room: conv.session.n_ctx().saturating_sub(base + max_tokens),
            });
        }
        let src = &conv.session;
        let mut session = Session::new(src.model(), src.backend(), n_ctx, max_batch.max(1))?;
        session.set_team(src.team());
        session
            .kv_cache_mut()
            .copy_prefix_from(src.kv_cache(), base)?;
        Ok(Request {
            session,
            tokenizer: conv.tokenizer,
            prompt,
            fed: 0,
            detok: Detokenizer::new(conv.tokenizer, false),
            sampler: Sampler::greedy(),
            answer: String::new(),
            tokens: Vec::new(),
            max_tokens,
            next: None,
            stop: None,
        })
    }

    /// Makes the request's forward passes ask `stop` before every layer
    /// ([`Session::set_stop`]): once it says true, [`Request::step`] fails
    /// with [`ModelError::Cancelled`](crate::model::ModelError::Cancelled)
    /// within a fraction of a token.
    pub fn set_stop(&mut self, stop: fn() -> bool) {
        self.session.set_stop(stop);
    }

    /// Does the next piece of work: one prefill batch of the message, or
    /// one token of the answer. Returns why the answer ended once it has
    /// (and from then on).
    pub fn step(&mut self) -> Result<Option<Stop>, ConvError> {
        if self.stop.is_some() {
            return Ok(self.stop);
        }
        if self.fed < self.prompt.len() {
            let end = (self.fed + self.session.max_batch()).min(self.prompt.len());
            let batch = &self.prompt[self.fed..end];
            if end < self.prompt.len() {
                self.session.feed(batch)?;
            } else {
                let logits = self.session.prefill(batch, None)?;
                self.next = Some(self.sampler.sample(logits, &[]));
            }
            self.fed = end;
            return Ok(None);
        }
        let Some(t) = self.next else {
            return Ok(self.finish(Stop::EndOfTurn));
        };
        if self.tokenizer.is_eog(t) {
            return Ok(self.finish(Stop::EndOfTurn));
        }
        let last = if self.tokens.len() + 1 >= self.max_tokens {
            Some(Stop::Limit)
        } else if self.session.n_tokens() >= self.session.n_ctx() {
            Some(Stop::ContextFull)
        } else {
            None
        };
        if last.is_none() {
            // Fed first: a failed (or stopped) step changes nothing.
            let logits = self.session.decode_step(t)?;
            self.next = Some(self.sampler.sample(logits, &[]));
        }
        self.tokens.push(t);
        self.answer.push_str(self.detok.push(t).unwrap_or(""));
        Ok(last.and_then(|stop| self.finish(stop)))
    }

    fn finish(&mut self, stop: Stop) -> Option<Stop> {
        self.answer.push_str(&self.detok.finish());
        self.stop = Some(stop);
        self.stop
    }

    /// The answer so far (all of it once [`Request::step`] said it ended).
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// The answer's tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The message's tokens (the user segment prefilled after the prefix).
    pub fn prompt_tokens(&self) -> usize {
        self.prompt.len()
    }

    /// Positions in the request's cache (system prefix, message tokens
    /// fed, answer tokens fed).
    pub fn context_used(&self) -> usize {
        self.session.n_tokens()
    }

    /// The answer's cap in tokens.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Bytes of the request's own KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.session.kv_cache().bytes()
    }
}
