//! Running a [`Model`]: a [`Session`] owns the KV cache and every scratch
//! buffer (allocated once, in [`Session::new`]), and advances one sequence:
//! [`Session::prefill`] feeds a batch of prompt tokens (matrix × matrix
//! products, each weight block reused for the whole batch) and
//! [`Session::decode_step`] feeds one token; both return the logits of the
//! last token fed. The caller drives generation token by token, so it can
//! stop whenever it wants.
//!
//! Every matrix product is split into row chunks run by the session's
//! [`Team`] ([`Session::set_team`]; [`SERIAL`] by default). The chunks
//! depend only on the matrix ([`chunk_rows`]), never on the team, so the
//! logits are bit-identical for any number of workers.

use alloc::vec::Vec;

use half::f16;

use crate::kv::{try_filled, KvCache};
use crate::model::{Model, ModelError, RopeStyle};
use crate::parallel::{for_each_chunk_of, ChunkQueue, Team, SERIAL};
use crate::quant::{check_gemm, ActBuffer, Backend, QMatrix};

/// Progress of a long prefill: called with (tokens done, tokens in total)
/// after every batch; returning `false` stops the prefill with
/// [`ModelError::Cancelled`] (the tokens already done stay in the cache).
pub type Progress<'p> = &'p mut dyn FnMut(usize, usize) -> bool;

/// Scratch buffers for a batch of up to `max_batch` tokens.
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    tmp: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    cos_sin: Vec<f32>,
    q16: Vec<f16>,
    scores: Vec<f32>,
    acts: ActBuffer,
    /// A batch's matrix product, chunk by chunk (see [`Session::matmul`]).
    chunked: Vec<f32>,
    logits: Vec<f32>,
}

/// One sequence being decoded.
pub struct Session<'m, 'a> {
    model: &'m Model<'a>,
    backend: Backend,
    team: &'static dyn Team,
    kv: KvCache,
    max_batch: usize,
    s: Scratch,
    /// Team runs (fork-joins) so far, see [`Session::fork_joins`].
    fork_joins: u64,
    /// Asked before every layer whether to stop ([`Session::set_stop`]).
    stop: Option<fn() -> bool>,
}

impl<'m, 'a> Session<'m, 'a> {
    /// A session with room for `n_ctx` tokens that prefills up to
    /// `max_batch` tokens per forward pass.
    pub fn new(
        model: &'m Model<'a>,
        backend: &Backend,
        n_ctx: usize,
        max_batch: usize,
    ) -> Result<Self, ModelError> {
        if n_ctx == 0 || max_batch == 0 {
            return Err(ModelError::Invalid(
                "context and batch sizes must be positive",
            ));
        }
        let hp = &model.hparams;
        let (e, q, kv, ff) = (hp.n_embd, hp.n_embd_q(), hp.n_embd_kv(), hp.n_ff);
        let b = max_batch;
        let widest = e.max(q).max(ff);
        // A batch's fused products (Q, K and V; gate and up) share `chunked`.
        let fused = (q + 2 * kv).max(2 * ff).max(widest);
        // Every buffer is allocated fallibly: a session is created for a
        // request (a background answer, `/complete`), and a machine without
        // the memory for it says so instead of stopping.
        let z = |n: usize| try_filled(n, 0.0f32);
        Ok(Session {
            model,
            backend: *backend,
            team: &SERIAL,
            kv: KvCache::try_new(hp.n_layer, hp.n_head_kv, hp.head_dim, n_ctx)?,
            max_batch,
            fork_joins: 0,
            stop: None,
            s: Scratch {
                x: z(b * e)?,
                xn: z(b * e)?,
                q: z(b * q)?,
                k: z(b * kv)?,
                v: z(b * kv)?,
                attn: z(b * q)?,
                tmp: z(b * e)?,
                gate: z(b * ff)?,
                up: z(b * ff)?,
                cos_sin: z(b * hp.rope_dim)?,
                q16: try_filled(hp.head_dim, f16::ZERO)?,
                scores: z(n_ctx)?,
                acts: ActBuffer::try_new(widest, b)?,
                chunked: z(if b > 1 { b * fused } else { 0 })?,
                logits: z(hp.n_vocab)?,
            },
        })
    }

    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Splits the matrix products over `team`'s workers from now on (the
    /// results do not change).
    pub fn set_team(&mut self, team: &'static dyn Team) {
        self.team = team;
    }

    /// Makes every forward pass ask `stop` before each layer: once it says
    /// true, the pass ends with [`ModelError::Cancelled`] and the cache is
    /// as before the pass (for a task that must stop within a fraction of
    /// a token, e.g. a killed background request).
    pub fn set_stop(&mut self, stop: fn() -> bool) {
        self.stop = Some(stop);
    }

    /// Forward passes no longer ask anything before their layers.
    pub fn clear_stop(&mut self) {
        self.stop = None;
    }

    /// The team the matrix products run on.
    pub fn team(&self) -> &'static dyn Team {
        self.team
    }

    /// How many team runs (fork-joins with more than one worker) the
    /// step has made so far: per decoded token, 5 per layer (Q, K and V
    /// fused; attention; the attention output; gate and up fused; down)
    /// plus 1 for the logits.
    pub fn fork_joins(&self) -> u64 {
        self.fork_joins
    }

    /// Tokens in the context so far.
    pub fn n_tokens(&self) -> usize {
        self.kv.n_tokens()
    }

    /// The largest batch a forward pass takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The context capacity.
    pub fn n_ctx(&self) -> usize {
        self.kv.n_ctx()
    }

    /// Forgets every token from position `n` on.
    pub fn truncate(&mut self, n: usize) {
        self.kv.truncate(n);
    }

    pub fn kv_cache(&self) -> &KvCache {
        &self.kv
    }

    /// For restoring a saved prefix ([`KvCache::deserialize_into`]).
    pub fn kv_cache_mut(&mut self) -> &mut KvCache {
        &mut self.kv
    }

    /// The logits of the last token fed.
    pub fn logits(&self) -> &[f32] {
        &self.s.logits
    }

    /// Feeds `tokens` (in batches of at most `max_batch`) and returns the
    /// logits of the last one.
    pub fn prefill(
        &mut self,
        tokens: &[u32],
        progress: Option<Progress<'_>>,
    ) -> Result<&[f32], ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Invalid("prefill needs at least one token"));
        }
        self.check_room(tokens)?;
        let mut progress = progress;
        let mut done = 0;
        for chunk in tokens.chunks(self.max_batch) {
            // Only the last token's logits are kept: the output matrix
            // (the largest of a small model) runs once per prefill.
            self.forward(chunk, done + chunk.len() == tokens.len())?;
            done += chunk.len();
            if let Some(p) = progress.as_mut() {
                if !p(done, tokens.len()) && done < tokens.len() {
                    return Err(ModelError::Cancelled);
                }
            }
        }
        Ok(&self.s.logits)
    }

    /// Feeds one token and returns its logits.
    pub fn decode_step(&mut self, token: u32) -> Result<&[f32], ModelError> {
        self.check_room(&[token])?;
        self.forward(&[token], true)?;
        Ok(&self.s.logits)
    }

    /// Feeds `tokens` (in batches of at most `max_batch`) into the cache
    /// without computing any logits: for tokens whose next-token
    /// distribution nobody asks for (a turn's closing, fed before the next
    /// message). [`Session::logits`] is stale until the next prefill or
    /// decode step.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<(), ModelError> {
        self.check_room(tokens)?;
        for chunk in tokens.chunks(self.max_batch) {
            self.forward(chunk, false)?;
        }
        Ok(())
    }

    fn check_room(&self, tokens: &[u32]) -> Result<(), ModelError> {
        if self.kv.n_tokens() + tokens.len() > self.kv.n_ctx() {
            return Err(ModelError::ContextFull {
                n_ctx: self.kv.n_ctx(),
            });
        }
        let n_vocab = self.model.tok_embd.n_rows;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::BadToken { token: t, n_vocab });
        }
        Ok(())
    }

    /// `outs[j][t][r] = ws[j] · input[t]` for the `n` tokens of the batch in
    /// `acts`: quantizes the input once per activation type, then computes
    /// the rows of all `N` products in one team run (one fork-join), each
    /// matrix in chunks of [`chunk_rows`] of its own rows.
    ///
    /// One token writes each chunk straight into its output; a batch writes
    /// chunk after chunk into `chunked` (each chunk's tokens contiguous, so
    /// workers get disjoint slices) and is then copied into the outputs.
    /// Returns whether the team ran (a fork-join with more than one worker).
    fn matmul<const N: usize>(
        backend: &Backend,
        team: &dyn Team,
        acts: &mut ActBuffer,
        chunked: &mut [f32],
        ws: [&QMatrix<'_>; N],
        outs: [&mut [f32]; N],
        n: usize,
    ) -> Result<bool, ModelError> {
        for w in ws {
            acts.prepare(w.act_type(), backend)?;
        }
        let acts = &*acts;
        let mut a = [None; N];
        let mut gemm = [None; N];
        for j in 0..N {
            let x = acts.view(ws[j].act_type())?;
            debug_assert_eq!(x.n_tokens, n);
            let rows = ws[j].n_rows;
            check_gemm(ws[j], &x, &(0..rows), &*outs[j], rows)?;
            a[j] = Some(x);
            gemm[j] = Some(backend.gemm_fn(ws[j].ty)?);
        }
        let a = a.map(|x| x.expect("set above"));
        let gemm = gemm.map(|g| g.expect("set above"));
        let chunk = ws.map(|w| chunk_rows(w.n_rows));
        if n == 1 {
            let slices = {
                let mut j = 0;
                outs.map(|o| {
                    j += 1;
                    &mut o[..ws[j - 1].n_rows]
                })
            };
            return Ok(for_each_chunk_of(team, slices, chunk, &|j, i, part| {
                let r0 = i * chunk[j];
                gemm[j](ws[j], &a[j], r0..r0 + part.len(), part, part.len());
            }));
        }
        let need: usize = ws.iter().map(|w| n * w.n_rows).sum();
        let mut rest = chunked.get_mut(..need).ok_or(ModelError::Invalid(
            "batch larger than the session's scratch",
        ))?;
        let slices = ws.map(|w| {
            let (head, tail) = core::mem::take(&mut rest).split_at_mut(n * w.n_rows);
            rest = tail;
            head
        });
        let ran = for_each_chunk_of(team, slices, chunk.map(|c| c * n), &|j, i, part| {
            let (r0, len) = (i * chunk[j], part.len() / n);
            gemm[j](ws[j], &a[j], r0..r0 + len, part, len);
        });
        let mut off = 0;
        for (j, out) in outs.into_iter().enumerate() {
            let rows = ws[j].n_rows;
            let region = &chunked[off..off + n * rows];
            off += n * rows;
            for (i, part) in region.chunks(chunk[j] * n).enumerate() {
                let (r0, len) = (i * chunk[j], part.len() / n);
                for (t, src) in part.chunks_exact(len).enumerate() {
                    out[t * rows + r0..t * rows + r0 + len].copy_from_slice(src);
                }
            }
        }
        Ok(ran)
    }

    /// One forward pass over `tokens` (at most `max_batch`), appended at
    /// the current position; with `logits`, leaves the last token's logits
    /// in `s.logits`.
    fn forward(&mut self, tokens: &[u32], logits: bool) -> Result<(), ModelError> {
        let m = self.model;
        let hp = &m.hparams;
        let be = &self.backend;
        let team = self.team;
        let s = &mut self.s;
        let n = tokens.len();
        let (e, nq, nkv, ff, hd) = (
            hp.n_embd,
            hp.n_embd_q(),
            hp.n_embd_kv(),
            hp.n_ff,
            hp.head_dim,
        );
        let pos0 = self.kv.n_tokens();
        let neox = m.rope_style == RopeStyle::Neox;
        let gqa = hp.n_gqa();
        let scale = 1.0 / libm::sqrtf(hd as f32);
        let n_ctx = self.kv.n_ctx();

        for (t, &tok) in tokens.iter().enumerate() {
            m.embed(tok, &mut s.x[t * e..(t + 1) * e])?;
            rope_angles(
                (pos0 + t) as f32,
                hp.rope_freq_base,
                1.0 / hp.rope_scale,
                &mut s.cos_sin[t * hp.rope_dim..(t + 1) * hp.rope_dim],
            );
        }

        let stop = self.stop;
        for (li, layer) in m.layers.iter().enumerate() {
            if stop.is_some_and(|f| f()) {
                return Err(ModelError::Cancelled);
            }
            // Attention.
            for t in 0..n {
                (be.rmsnorm)(
                    &mut s.xn[t * e..(t + 1) * e],
                    &s.x[t * e..(t + 1) * e],
                    &layer.attn_norm,
                    hp.rms_eps,
                );
            }
            s.acts.set(&s.xn, e, n)?;
            self.fork_joins += Self::matmul(
                be,
                team,
                &mut s.acts,
                &mut s.chunked,
                [&layer.wq, &layer.wk, &layer.wv],
                [&mut s.q, &mut s.k, &mut s.v],
                n,
            )? as u64;
            for t in 0..n {
                let q = &mut s.q[t * nq..(t + 1) * nq];
                let k = &mut s.k[t * nkv..(t + 1) * nkv];
                let v = &mut s.v[t * nkv..(t + 1) * nkv];
                if let Some(b) = &layer.bq {
                    (be.add)(q, b);
                }
                if let Some(b) = &layer.bk {
                    (be.add)(k, b);
                }
                if let Some(b) = &layer.bv {
                    (be.add)(v, b);
                }
                let cs = &s.cos_sin[t * hp.rope_dim..(t + 1) * hp.rope_dim];
                (be.rope)(q, hd, cs, neox);
                (be.rope)(k, hd, cs, neox);
                self.kv.store(li, pos0 + t, k, v);
            }
            // Attention, one (token, head) at a time, spread over the
            // team: each head's output is computed by one worker with its
            // own scratch, so the result does not depend on the team.
            let workers = team.workers().max(1);
            if s.scores.len() < workers * n_ctx {
                s.scores.resize(workers * n_ctx, 0.0);
                s.q16.resize(workers * hd, f16::ZERO);
            }
            let scores = ChunkQueue::new(&mut s.scores[..workers * n_ctx], n_ctx);
            let q16s = ChunkQueue::new(&mut s.q16[..workers * hd], hd);
            let heads = ChunkQueue::new(&mut s.attn[..n * nq], hd);
            let (q, kv, n_head) = (&s.q, &self.kv, hp.n_head);
            let attend = |_: usize| {
                let (Some((_, sc)), Some((_, q16))) = (scores.claim(), q16s.claim()) else {
                    return;
                };
                while let Some((i, out)) = heads.claim() {
                    let (t, h) = (i / n_head, i % n_head);
                    let n_pos = pos0 + t + 1;
                    let qh = &q[t * nq + h * hd..t * nq + (h + 1) * hd];
                    for (o, &x) in q16.iter_mut().zip(qh) {
                        *o = f16::from_f32(x);
                    }
                    (be.attend)(
                        q16,
                        kv.keys(li, h / gqa, n_pos),
                        kv.values(li, h / gqa, n_pos),
                        scale,
                        &mut sc[..n_pos],
                        out,
                    );
                }
            };
            if workers > 1 && n * n_head > 1 {
                team.run(&attend);
                self.fork_joins += 1;
            } else {
                attend(0);
            }
            s.acts.set(&s.attn, nq, n)?;
            self.fork_joins += Self::matmul(
                be,
                team,
                &mut s.acts,
                &mut s.chunked,
                [&layer.wo],
                [&mut s.tmp],
                n,
            )? as u64;
            (be.add)(&mut s.x[..n * e], &s.tmp[..n * e]);

            // Feed-forward (SwiGLU).
            for t in 0..n {
                (be.rmsnorm)(
                    &mut s.xn[t * e..(t + 1) * e],
                    &s.x[t * e..(t + 1) * e],
                    &layer.ffn_norm,
                    hp.rms_eps,
                );
            }
            s.acts.set(&s.xn, e, n)?;
            self.fork_joins += Self::matmul(
                be,
                team,
                &mut s.acts,
                &mut s.chunked,
                [&layer.w_gate, &layer.w_up],
                [&mut s.gate, &mut s.up],
                n,
            )? as u64;
            (be.silu_mul)(&mut s.gate[..n * ff], &s.up[..n * ff]);
            s.acts.set(&s.gate, ff, n)?;
            self.fork_joins += Self::matmul(
                be,
                team,
                &mut s.acts,
                &mut s.chunked,
                [&layer.w_down],
                [&mut s.tmp],
                n,
            )? as u64;
            (be.add)(&mut s.x[..n * e], &s.tmp[..n * e]);
        }
        self.kv.set_n_tokens(pos0 + n);
        if !logits {
            return Ok(());
        }

        // Logits of the last token only.
        let last = &s.x[(n - 1) * e..n * e];
        (be.rmsnorm)(&mut s.xn[..e], last, &m.output_norm, hp.rms_eps);
        s.acts.set(&s.xn[..e], e, 1)?;
        self.fork_joins += Self::matmul(
            be,
            team,
            &mut s.acts,
            &mut s.chunked,
            [&m.output],
            [&mut s.logits],
            1,
        )? as u64;
        Ok(())
    }
}

/// Rows per chunk when a matrix of `n_rows` rows is split over a team: about
/// 16 chunks (so up to 8 workers each get two or more), a multiple of 16
/// rows, between 16 and 256. It depends on the matrix only, so that each
/// output row is computed by the same kernel call for any team.
pub fn chunk_rows(n_rows: usize) -> usize {
    n_rows.div_ceil(16).next_multiple_of(16).clamp(16, 256)
}

/// The `(cos, sin)` pairs of RoPE at position `pos`, computed as llama.cpp
/// does (`theta_i = pos * base^(-2i / n)` as a running product in f32,
/// scaled by `freq_scale`): `out.len()` is the number of rotated dimensions.
pub fn rope_angles(pos: f32, base: f32, freq_scale: f32, out: &mut [f32]) {
    let n = out.len();
    let theta_scale = libm::powf(base, -2.0 / n as f32);
    let mut theta = pos;
    for pair in out.as_chunks_mut::<2>().0 {
        let t = freq_scale * theta;
        pair[0] = libm::cosf(t);
        pair[1] = libm::sinf(t);
        theta *= theta_scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggml::GgmlType;
    use crate::gguf::{Gguf, GgufWriter, WriteValue};
    use crate::quant::SCALAR;
    use crate::tiny::{copy_metadata, write_with, TinyConfig};
    use alloc::string::ToString;
    use alloc::vec;

    fn vocab() -> Vec<u8> {
        let toks: Vec<alloc::string::String> = (0..300).map(|i| alloc::format!("t{i}")).collect();
        let refs: Vec<&str> = toks.iter().map(|s| s.as_str()).collect();
        let mut w = GgufWriter::new();
        w.kv("tokenizer.ggml.model", WriteValue::Str("gpt2"))
            .kv("tokenizer.ggml.tokens", WriteValue::StrArray(&refs));
        w.to_bytes()
    }

    fn tiny() -> Vec<u8> {
        let v = vocab();
        let cfg = TinyConfig {
            n_layer: 2,
            ..TinyConfig::default()
        };
        write_with(&cfg, 3, &Gguf::parse(&v).unwrap()).unwrap()
    }

    #[test]
    fn saved_prefix_continues_exactly() {
        let bytes = tiny();
        let model = Model::load(&bytes).unwrap();
        let prefix = [5u32, 17, 42, 99, 7, 250];
        let rest = [11u32, 12, 13];
        let mut full = Session::new(&model, &SCALAR, 32, 4).unwrap();
        let mut all = prefix.to_vec();
        all.extend_from_slice(&rest);
        let want = full.prefill(&all, None).unwrap().to_vec();

        let mut a = Session::new(&model, &SCALAR, 32, 4).unwrap();
        a.prefill(&prefix, None).unwrap();
        let saved = a.kv_cache().serialize(prefix.len());
        let mut b = Session::new(&model, &SCALAR, 16, 8).unwrap();
        b.kv_cache_mut().deserialize_into(&saved).unwrap();
        assert_eq!(b.n_tokens(), prefix.len());
        assert_eq!(b.prefill(&rest, None).unwrap(), &want[..]);

        // Truncating back to the prefix and decoding token by token gives
        // the same result as well.
        a.prefill(&[1, 2], None).unwrap();
        a.truncate(prefix.len());
        for &t in &rest {
            a.decode_step(t).unwrap();
        }
        assert_eq!(a.logits(), &want[..]);
    }

    /// Prefill (batches of 5) then 4 decode steps: every logit vector.
    #[cfg(feature = "std")]
    fn run_all(model: &Model<'_>, be: &Backend, team: &'static dyn Team) -> Vec<Vec<f32>> {
        let mut s = Session::new(model, be, 32, 5).unwrap();
        s.set_team(team);
        let mut out = vec![s
            .prefill(&[5, 17, 42, 99, 7, 250, 3, 1], None)
            .unwrap()
            .to_vec()];
        for t in [11u32, 12, 13, 14] {
            out.push(s.decode_step(t).unwrap().to_vec());
        }
        out
    }

    #[cfg(feature = "std")]
    #[test]
    fn logits_are_bit_identical_for_any_team() {
        use crate::parallel::ThreadTeam;
        let bytes = tiny();
        let model = Model::load(&bytes).unwrap();
        for be in crate::quant::available() {
            let want = run_all(&model, be, &SERIAL);
            for n in 2..=4 {
                let team = ThreadTeam::leak(n).unwrap();
                // One fork-join per fused product (Q/K/V, output, gate/up,
                // down) and one for attention per layer, and the logits.
                let mut s = Session::new(&model, be, 8, 1).unwrap();
                s.set_team(team);
                s.decode_step(1).unwrap();
                assert_eq!(s.fork_joins(), 5 * model.layers.len() as u64 + 1);
                assert_eq!(
                    run_all(&model, be, team),
                    want,
                    "{} with {n} workers",
                    be.name
                );
            }
        }
    }

    #[test]
    fn chunks_depend_on_the_matrix_only() {
        assert_eq!(chunk_rows(1), 16);
        assert_eq!(chunk_rows(128), 16);
        assert_eq!(chunk_rows(896), 64);
        assert_eq!(chunk_rows(4864), 256);
        assert_eq!(chunk_rows(151936), 256);
    }

    #[test]
    fn limits_progress_and_cancellation() {
        let bytes = tiny();
        let model = Model::load(&bytes).unwrap();
        let mut s = Session::new(&model, &SCALAR, 8, 3).unwrap();
        assert!(matches!(s.prefill(&[], None), Err(ModelError::Invalid(_))));
        assert_eq!(
            s.decode_step(300).unwrap_err(),
            ModelError::BadToken {
                token: 300,
                n_vocab: 300
            }
        );
        let mut seen = Vec::new();
        let mut cb = |done: usize, total: usize| {
            seen.push((done, total));
            true
        };
        s.prefill(&[1, 2, 3, 4, 5, 6, 7], Some(&mut cb)).unwrap();
        assert_eq!(seen, [(3, 7), (6, 7), (7, 7)]);
        s.decode_step(1).unwrap();
        assert_eq!(
            s.decode_step(1).unwrap_err(),
            ModelError::ContextFull { n_ctx: 8 }
        );
        assert_eq!(s.n_tokens(), 8);

        s.truncate(0);
        let mut stop = |done: usize, _| done < 3;
        assert_eq!(
            s.prefill(&[1, 2, 3, 4, 5], Some(&mut stop)).unwrap_err(),
            ModelError::Cancelled
        );
        assert_eq!(s.n_tokens(), 3);
        assert!(Session::new(&model, &SCALAR, 0, 1).is_err());
    }

    /// Rebuilds `src` with its metadata and the tensors `edit` returns.
    fn rebuild(
        src: &[u8],
        edit: impl Fn(&str, GgmlType, &[u64], &[u8]) -> Option<(GgmlType, Vec<u64>, Vec<u8>)>,
    ) -> Vec<u8> {
        let g = Gguf::parse(src).unwrap();
        let mut w = GgufWriter::new();
        copy_metadata(&g, &mut w, |_| true).unwrap();
        for t in g.tensors() {
            if let Some((ty, dims, data)) = edit(t.name, t.ty, &t.dims, t.data) {
                w.tensor(t.name, ty, &dims, data);
            }
        }
        w.to_bytes()
    }

    #[test]
    fn malformed_models_are_errors() {
        let good = tiny();
        let same = rebuild(&good, |_, ty, d, b| Some((ty, d.to_vec(), b.to_vec())));
        assert!(Model::load(&same).is_ok());

        let missing = rebuild(&good, |n, ty, d, b| {
            (n != "blk.1.ffn_up.weight").then(|| (ty, d.to_vec(), b.to_vec()))
        });
        assert_eq!(
            Model::load(&missing).unwrap_err(),
            ModelError::MissingTensor("blk.1.ffn_up.weight".to_string())
        );

        let reshaped = rebuild(&good, |n, ty, d, b| {
            let dims = if n == "blk.0.attn_k.weight" {
                vec![d[1], d[0]]
            } else {
                d.to_vec()
            };
            Some((ty, dims, b.to_vec()))
        });
        let e = Model::load(&reshaped).unwrap_err();
        assert!(
            matches!(&e, ModelError::BadShape { name, .. } if name == "blk.0.attn_k.weight"),
            "{e}"
        );

        let q2k = rebuild(&good, |n, ty, d, b| {
            if n == "blk.0.ffn_down.weight" {
                Some((
                    GgmlType::Q2_K,
                    d.to_vec(),
                    vec![0; GgmlType::Q2_K.row_bytes(d[0] as usize) * d[1] as usize],
                ))
            } else {
                Some((ty, d.to_vec(), b.to_vec()))
            }
        });
        let e = Model::load(&q2k).unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::UnsupportedType {
                    ty: GgmlType::Q2_K,
                    ..
                }
            ),
            "{e}"
        );

        let g = Gguf::parse(&good).unwrap();
        let mut w = GgufWriter::new();
        copy_metadata(&g, &mut w, |k| k != "general.architecture").unwrap();
        w.kv("general.architecture", WriteValue::Str("mamba"));
        let e = Model::load(&w.to_bytes()).unwrap_err();
        assert_eq!(e, ModelError::UnsupportedArch("mamba".to_string()));
        assert!(Model::load(&good[..good.len() / 2]).is_err());
    }
}
