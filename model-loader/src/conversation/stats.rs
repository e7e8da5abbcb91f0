//! Statistics of one reply and of the whole conversation.

use alloc::format;
use alloc::string::String;

/// Why a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The model produced an end-of-generation token.
    EndOfTurn,
    /// The per-reply token limit was reached.
    Limit,
    /// The context had no room for more tokens.
    ContextFull,
    /// [`super::Io::interrupted`] asked to stop.
    Interrupted,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::EndOfTurn => "end of turn",
            Stop::Limit => "token limit",
            Stop::ContextFull => "context full",
            Stop::Interrupted => "interrupted",
        }
    }
}

/// What one reply (or one `/complete`) cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyStats {
    /// Tokens prefilled before the first generated token (the user turn,
    /// and the kept turns when the cache was rebuilt), after the message
    /// was sent.
    pub prompt_tokens: usize,
    /// Tokens of the message read ahead while the person typed it
    /// ([`super::Conversation::prepare`]): in the cache already.
    pub prepared: usize,
    /// Microseconds spent prefilling them.
    pub prefill_us: u64,
    /// Tokens generated (end-of-generation tokens not counted).
    pub generated: usize,
    /// Microseconds generating them: from the end of the prefill to the
    /// last token (feeding the last token and the template's close to the
    /// cache afterwards is not counted).
    pub decode_us: u64,
    pub stop: Stop,
    /// Oldest turns dropped to make room before this reply.
    pub dropped_turns: usize,
    /// Tokens in the context after the reply, and its capacity.
    pub context_used: usize,
    pub n_ctx: usize,
}

/// `n` events in `us` microseconds, per second (0 when no time passed).
pub fn per_second(n: usize, us: u64) -> f64 {
    if us == 0 {
        0.0
    } else {
        n as f64 * 1e6 / us as f64
    }
}

impl ReplyStats {
    pub fn prefill_tok_per_s(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_us)
    }

    pub fn decode_tok_per_s(&self) -> f64 {
        per_second(self.generated, self.decode_us)
    }

    /// One line for the console, e.g. `37 tokens, prefill 21 tok at 212.3
    /// tok/s, decode 25.1 tok/s, context 402/2048`.
    pub fn summary(&self) -> String {
        let ahead = if self.prepared > 0 {
            format!(" (+{} read while typing)", self.prepared)
        } else {
            String::new()
        };
        let mut s = format!(
            "{} tokens, prefill {} tok at {:.1} tok/s{ahead}, decode {:.1} tok/s, context {}/{}",
            self.generated,
            self.prompt_tokens,
            self.prefill_tok_per_s(),
            self.decode_tok_per_s(),
            self.context_used,
            self.n_ctx
        );
        if !matches!(self.stop, Stop::EndOfTurn) {
            s += " (";
            s += self.stop.as_str();
            s += ")";
        }
        s
    }
}

/// Totals over a conversation's replies (since it was created; `/reset`
/// does not clear them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub replies: usize,
    pub interrupted: usize,
    pub prompt_tokens: usize,
    /// Message tokens read ahead while the person typed.
    pub prepared: usize,
    pub prefill_us: u64,
    pub generated: usize,
    pub decode_us: u64,
    pub dropped_turns: usize,
    /// Times the cache was rebuilt after dropping turns.
    pub rebuilds: usize,
}

impl Totals {
    pub(crate) fn add(&mut self, r: &ReplyStats) {
        self.replies += 1;
        self.interrupted += usize::from(r.stop == Stop::Interrupted);
        self.prompt_tokens += r.prompt_tokens;
        self.prepared += r.prepared;
        self.prefill_us += r.prefill_us;
        self.generated += r.generated;
        self.decode_us += r.decode_us;
        self.dropped_turns += r.dropped_turns;
        self.rebuilds += usize::from(r.dropped_turns > 0);
    }

    pub fn prefill_tok_per_s(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_us)
    }

    pub fn decode_tok_per_s(&self) -> f64 {
        per_second(self.generated, self.decode_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_summary() {
        let r = ReplyStats {
            prompt_tokens: 20,
            prepared: 0,
            prefill_us: 500_000,
            generated: 10,
            decode_us: 2_000_000,
            stop: Stop::Interrupted,
            dropped_turns: 1,
            context_used: 90,
            n_ctx: 128,
        };
        assert_eq!(r.prefill_tok_per_s(), 40.0);
        assert_eq!(r.decode_tok_per_s(), 5.0);
        assert_eq!(
            r.summary(),
            "10 tokens, prefill 20 tok at 40.0 tok/s, decode 5.0 tok/s, context 90/128 (interrupted)"
        );
        assert_eq!(per_second(5, 0), 0.0);
        let mut t = Totals::default();
        t.add(&r);
        t.add(&ReplyStats {
            stop: Stop::EndOfTurn,
            dropped_turns: 0,
            ..r
        });
        assert_eq!((t.replies, t.interrupted, t.rebuilds), (2, 1, 1));
        assert_eq!(t.decode_tok_per_s(), 5.0);
    }
}
