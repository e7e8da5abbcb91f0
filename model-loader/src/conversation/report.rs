//! The text of `/stats` and `/model`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{Conversation, PrefixSource};
use crate::ggml::GgmlType;
use crate::kv::KvCache;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

impl Conversation<'_, '_> {
    /// `/stats`: the context, the totals and the sampler settings.
    pub fn stats_report(&self) -> String {
        let mut s = String::new();
        let t = self.totals();
        let c = self.sampler_config();
        let _ = writeln!(
            s,
            "context:  {} of {} tokens used: system prompt {}, {} turn{}",
            self.tokens().len(),
            self.n_ctx(),
            self.system_prefix().1.len(),
            self.turns().len(),
            if self.turns().len() == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "replies:  {} ({} interrupted); prefill {} tokens at {:.1} tok/s (and {} read ahead while typing); generated {} tokens at {:.1} tok/s",
            t.replies,
            t.interrupted,
            t.prompt_tokens,
            t.prefill_tok_per_s(),
            t.prepared,
            t.generated,
            t.decode_tok_per_s()
        );
        let _ = writeln!(
            s,
            "overflow: {} rebuild{}, {} turn{} dropped",
            t.rebuilds,
            if t.rebuilds == 1 { "" } else { "s" },
            t.dropped_turns,
            if t.dropped_turns == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "sampling: temperature {}, top-p {}, top-k {}, repeat penalty {} (last {}), seed {}",
            c.temperature, c.top_p, c.top_k, c.repeat_penalty, c.repeat_last_n, c.seed
        );
        s
    }

    /// `/model`: what is loaded (architecture and shape, weight types),
    /// the memory the weights and the cache take, the template, the
    /// backend, and where the system prompt's cache came from. `name` is
    /// the model's name (from the pack or `general.name`).
    pub fn model_report(&self, name: &str) -> String {
        let m = self.model();
        let hp = &m.hparams;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "model:    {name} ({}, {} layers, embedding {}, {} heads / {} KV heads, vocabulary {})",
            hp.arch, hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.n_vocab
        );
        // Weight matrices per type (the embedding counted once when tied).
        let mut types: Vec<(GgmlType, usize, usize)> = Vec::new();
        let mut add = |ty: GgmlType, bytes: usize| match types.iter_mut().find(|e| e.0 == ty) {
            Some(e) => {
                e.1 += 1;
                e.2 += bytes;
            }
            None => types.push((ty, 1, bytes)),
        };
        add(m.tok_embd.ty, m.tok_embd.data.len());
        for (_, q) in m.matrices() {
            if !(hp.tied_embeddings && core::ptr::eq(q.data, m.tok_embd.data)) {
                add(q.ty, q.data.len());
            }
        }
        types.sort_by_key(|e| e.0);
        let weights: usize = types.iter().map(|e| e.2).sum();
        let parts: Vec<String> = types
            .iter()
            .map(|(ty, n, b)| format!("{ty} x{n} ({:.1} MiB)", mib(*b)))
            .collect();
        let _ = writeln!(s, "weights:  {}", parts.join(", "));
        let kv = KvCache::bytes_needed(hp.n_layer, hp.n_head_kv, hp.head_dim, self.n_ctx());
        let _ = writeln!(
            s,
            "memory:   weights {:.1} MiB, KV cache {:.1} MiB ({} positions, f16)",
            mib(weights),
            mib(kv),
            self.n_ctx()
        );
        let prefix = match self.prefix_source() {
            PrefixSource::Restored { backend } => {
                format!("restored from the model pack (computed by {backend})")
            }
            PrefixSource::Computed { .. } => String::from("computed at start"),
        };
        let _ = writeln!(
            s,
            "chat:     template {}, backend {}, system prompt {} tokens {prefix}",
            self.template().family.name(),
            self.backend().name,
            self.system_prefix().1.len(),
        );
        s
    }
}
