//! `/complete`: a raw greedy continuation of a text, without any chat
//! template, exactly as `cargo xtask generate --prompt TEXT -n N` computes
//! it (special tokens in the text parsed, BOS where the metadata asks for
//! one, the same prefill batch size, the same stopping rules), so the
//! kernel's output can be compared with the host's token for token.
//!
//! It runs in a session of its own, allocated for the call and sized for
//! the prompt plus `n` tokens, so the conversation's cache is untouched.

use alloc::vec::Vec;

use super::stats::{ReplyStats, Stop};
use super::{ConvError, Io};
use crate::model::Model;
use crate::parallel::Team;
use crate::quant::Backend;
use crate::sampler::Sampler;
use crate::session::Session;
use crate::tokenizer::{Detokenizer, Tokenizer};

/// The prefill batch of `cargo xtask generate` (its `--batch` default):
/// kept equal so that both compute the same sums in the same order.
pub const COMPLETE_BATCH: usize = 64;

/// The result of [`complete`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The prompt's tokens.
    pub prompt_ids: Vec<u32>,
    /// The chosen tokens, as `generate --ids` lists them: an
    /// end-of-generation token that stopped the run is included.
    pub ids: Vec<u32>,
    pub stats: ReplyStats,
}

/// Greedily continues `text` by up to `n` tokens in a fresh session of at
/// most `max_ctx` positions, streaming the text to `io`.
#[allow(clippy::too_many_arguments)] // the session's parts, the text and the limits
pub fn complete(
    model: &Model<'_>,
    tokenizer: &Tokenizer,
    backend: &Backend,
    team: &'static dyn Team,
    max_ctx: usize,
    text: &str,
    n: usize,
    io: &mut dyn Io,
) -> Result<Completion, ConvError> {
    let prompt = tokenizer.encode(text, true, true);
    if prompt.is_empty() {
        return Err(ConvError::EmptyPrompt);
    }
    if prompt.len() > max_ctx {
        return Err(ConvError::TooLong {
            tokens: prompt.len(),
            room: max_ctx,
        });
    }
    let n_ctx = (prompt.len() + n).min(max_ctx);
    let mut session = Session::new(model, backend, n_ctx, COMPLETE_BATCH)?;
    session.set_team(team);
    let mut sampler = Sampler::greedy();
    let mut detok = Detokenizer::new(tokenizer, false);
    let mut ids = Vec::new();

    let t0 = io.now_us();
    let mut cancelled = false;
    let prefill = {
        let mut progress = |done: usize, total: usize| {
            io.progress(done, total);
            cancelled = io.interrupted();
            !cancelled
        };
        session.prefill(&prompt, Some(&mut progress)).map(|_| ())
    };
    let t1 = io.now_us();
    let mut stats = ReplyStats {
        prompt_tokens: prompt.len(),
        prepared: 0,
        prefill_us: t1.saturating_sub(t0),
        generated: 0,
        decode_us: 0,
        stop: Stop::Limit,
        dropped_turns: 0,
        context_used: session.n_tokens(),
        n_ctx,
    };
    match prefill {
        Ok(()) if !cancelled => {}
        Ok(()) | Err(crate::model::ModelError::Cancelled) => {
            stats.stop = Stop::Interrupted;
            return Ok(Completion {
                prompt_ids: prompt,
                ids,
                stats,
            });
        }
        Err(e) => return Err(e.into()),
    }

    // The loop of `cargo xtask generate`.
    let mut next = sampler.sample(session.logits(), &prompt);
    while ids.len() < n {
        ids.push(next);
        if tokenizer.is_eog(next) {
            stats.stop = Stop::EndOfTurn;
            break;
        }
        io.text(detok.push(next).unwrap_or(""));
        if ids.len() == n {
            break;
        }
        if session.n_tokens() == session.n_ctx() {
            stats.stop = Stop::ContextFull;
            break;
        }
        if io.interrupted() {
            stats.stop = Stop::Interrupted;
            break;
        }
        let logits = session.decode_step(next)?;
        next = sampler.sample(logits, &[]);
    }
    let rest = detok.finish();
    if !rest.is_empty() {
        io.text(&rest);
    }
    stats.generated = ids.iter().filter(|&&t| !tokenizer.is_eog(t)).count();
    stats.decode_us = io.now_us().saturating_sub(t1);
    stats.context_used = session.n_tokens();
    Ok(Completion {
        prompt_ids: prompt,
        ids,
        stats,
    })
}
