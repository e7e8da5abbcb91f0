//! Reading a message ahead, while the person types it.
//!
//! Under emulation most of the time from Enter to the first reply token is
//! the prefill of the message: the last turn's close, the user header
//! (`<|im_start|>user\n`), the words, and the assistant header. All but
//! the last word are known before Enter. [`Conversation::prepare`] puts
//! them in the cache one batch at a time, while the console waits for
//! keys, and [`Conversation::reply_with`] keeps what matches the message
//! as it was sent and prefills only the rest.
//!
//! Nothing here changes a reply, not even in its last bit:
//! - the prepared tokens are kept only as far as they equal the tokens the
//!   message has when it is sent (the longest common prefix), and the rest
//!   are cut from the cache; what was prepared for a text that changed is
//!   wasted work, never a wrong token;
//! - they are fed in the very batches the message's prefill would use
//!   (whole `max_batch` chunks from the message's start, and its last,
//!   shorter one only when it ends the message), and a batch is kept
//!   whole or not at all. The SIMD kernels round differently for
//!   different batch shapes, so other splits would change the logits
//!   slightly, and a greedy reply could then depend on when keys were
//!   typed.
//!
//! - While the person types, only the part of the text that their next
//!   keys cannot change is prepared: up to the last whitespace, since a
//!   word takes the space before it (` me`).
//! - Once they stop (`whole`), the whole message is prepared, the
//!   assistant header included, with the logits of its last token: if they
//!   then press Enter, the reply starts at once.

use super::{ConvError, Conversation};
use crate::model::ModelError;
use alloc::string::String;
use alloc::vec::Vec;

/// What one [`Conversation::prepare`] step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The cache holds all that can be prepared for this text.
    Ready,
    /// Fed this many tokens; there may be more.
    Fed(usize),
}

/// Texts remembered as prepared ([`Conversation::prepare`]): the part of
/// the line typed so far and the whole line.
const READY_TEXTS: usize = 2;

/// Length of the common prefix of `a` and `b`.
fn common(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Conversation<'_, '_> {
    /// One step of reading the next message ahead: the person has typed
    /// `typed` so far (`whole`: and stopped typing). Feeds at most one
    /// prefill batch, asking `give_way` before every layer; when it says
    /// so, the step ends with `ModelError::Cancelled` and changes nothing.
    /// Call it again until it says [`Prepared::Ready`]; a changed `typed`
    /// cuts what no longer matches.
    ///
    /// A message that would need a rebuild of the cache (the context is
    /// full) or does not fit prepares nothing.
    pub fn prepare(
        &mut self,
        typed: &str,
        whole: bool,
        give_way: Option<fn() -> bool>,
    ) -> Result<Prepared, ConvError> {
        if self
            .ready_for
            .iter()
            .any(|(t, w)| t == typed && *w == whole)
        {
            return Ok(Prepared::Ready);
        }
        if let Some(f) = give_way {
            self.session.set_stop(f);
        }
        let r = self.prepare_step(typed, whole);
        self.session.clear_stop();
        match r {
            Ok(Prepared::Ready) => {
                // The stable part and the whole line: two texts at most.
                if self.ready_for.len() == READY_TEXTS {
                    self.ready_for.remove(0);
                }
                self.ready_for.push((String::from(typed), whole));
            }
            _ => self.ready_for.clear(),
        }
        r
    }

    fn prepare_step(&mut self, typed: &str, whole: bool) -> Result<Prepared, ConvError> {
        // The last turn's close comes first whatever the message is.
        if self.unfed > 0 {
            let n = self.unfed;
            self.feed_unfed()?;
            self.ahead = true;
            return Ok(Prepared::Fed(n));
        }
        let Some(want) = self.wanted(typed, whole) else {
            return Ok(Prepared::Ready);
        };
        let batch = self.session.max_batch();
        let mut keep = common(&self.spec, &want);
        if keep == want.len() && whole && !self.spec_logits {
            // All there, but not the logits: the last batch again.
            keep -= 1;
        }
        if keep < want.len() {
            keep -= keep % batch;
        }
        if keep < self.spec.len() {
            self.session.truncate(self.tokens.len() + keep);
            self.spec.truncate(keep);
            self.spec_logits = false;
        }
        if keep == want.len() {
            return Ok(Prepared::Ready);
        }
        let to = if whole {
            want.len().min(keep + batch)
        } else if keep + batch <= want.len() {
            keep + batch
        } else {
            // A shorter batch only ends the message.
            return Ok(Prepared::Ready);
        };
        let chunk = &want[keep..to];
        // Logits only for the message's last token: those of the reply's
        // first.
        let last = whole && to == want.len();
        let fed = if last {
            self.session.prefill(chunk, None).map(|_| ())
        } else {
            self.session.feed(chunk)
        };
        match fed {
            Ok(()) => {}
            // No room: the message will not fit as it is anyway.
            Err(ModelError::ContextFull { .. }) => return Ok(Prepared::Ready),
            Err(e) => {
                // A pass that stopped changed nothing; be sure of it.
                self.session.truncate(self.tokens.len() + keep);
                return Err(e.into());
            }
        }
        self.spec.extend_from_slice(chunk);
        self.spec_logits = last;
        self.ahead = true;
        Ok(Prepared::Fed(chunk.len()))
    }

    /// The tokens to prepare for `typed`: the new message's tokens if it
    /// were sent as it is (`whole`), else the part of them that the next
    /// keys cannot change. `None` when nothing can be prepared.
    fn wanted(&self, typed: &str, whole: bool) -> Option<Vec<u32>> {
        let tokens = |text: &str| -> Option<Vec<u32>> {
            match self.plan(text) {
                Ok((plan, 0)) => Some(plan.tokens),
                _ => None,
            }
        };
        let all = tokens(typed)?;
        if whole && !typed.trim().is_empty() {
            return Some(all);
        }
        // The text up to (with) its last whitespace, followed by two
        // different letters: what they share is what any next word leaves
        // alone.
        let cut = typed
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let mut probe = String::from(&typed[..cut]);
        probe.push('A');
        let a = tokens(&probe)?;
        probe.pop();
        probe.push('Z');
        let z = tokens(&probe)?;
        let n = common(&a, &z).min(common(&a, &all));
        Some(all[..n].to_vec())
    }

    /// For a message about to be prefilled (`want`, after the tokens of
    /// the conversation): how many of its first tokens are in the cache
    /// already ([`Conversation::prepare`]), in whole batches. The cache
    /// keeps exactly those; the last batch counts only with its logits.
    pub(super) fn take_prepared(&mut self, want: &[u32]) -> usize {
        let batch = self.session.max_batch();
        let mut keep = common(&self.spec, want);
        if !(keep == want.len() && keep == self.spec.len() && self.spec_logits) {
            keep = keep.min(want.len().saturating_sub(1));
            keep -= keep % batch;
        }
        if !self.spec.is_empty() {
            self.session.truncate(self.tokens.len() + keep);
        }
        self.spec.clear();
        self.spec_logits = false;
        self.ready_for.clear();
        keep
    }

    /// Cuts what was prepared from the cache.
    pub(super) fn drop_prepared(&mut self) {
        if !self.spec.is_empty() {
            self.session.truncate(self.tokens.len());
            self.spec.clear();
        }
        self.spec_logits = false;
        self.ready_for.clear();
    }

    /// Tokens prepared for the next message so far.
    pub fn prepared(&self) -> usize {
        self.spec.len()
    }
}
