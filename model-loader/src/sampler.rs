//! Choosing the next token from logits: greedy, or temperature with top-k,
//! top-p and a repetition penalty, drawn from a seeded [`Rng`] so that a
//! run is reproducible from its seed.

use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::rng::Rng;

/// Sampling settings. The default is greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// 0 (or less) picks the most likely token.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches
    /// `top_p` (1: all).
    pub top_p: f32,
    /// Divides positive (multiplies negative) logits of tokens seen in the
    /// last `repeat_last_n` tokens (1: off).
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

/// A token chooser with its own random stream and reusable scratch space.
pub struct Sampler {
    cfg: SamplerConfig,
    rng: Rng,
    cand: Vec<(u32, f32)>,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Sampler {
        Sampler {
            rng: Rng::new(cfg.seed),
            cfg,
            cand: Vec::new(),
        }
    }

    /// Greedy decoding.
    pub fn greedy() -> Sampler {
        Sampler::new(SamplerConfig::default())
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Chooses the next token given the logits and the tokens so far
    /// (prompt and generated; only used by the repetition penalty).
    /// Returns 0 for empty logits.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        self.cand.clear();
        self.cand
            .extend(logits.iter().enumerate().map(|(i, &l)| (i as u32, l)));
        if self.cand.is_empty() {
            return 0;
        }
        let p = self.cfg.repeat_penalty;
        if p != 1.0 && p > 0.0 {
            let from = history.len().saturating_sub(self.cfg.repeat_last_n);
            for &t in &history[from..] {
                if let Some(c) = self.cand.get_mut(t as usize) {
                    // Applied once per distinct token: mark by the id check.
                    if c.0 == t {
                        c.1 = if c.1 > 0.0 { c.1 / p } else { c.1 * p };
                        c.0 = u32::MAX; // seen
                    }
                }
            }
            for (i, c) in self.cand.iter_mut().enumerate() {
                c.0 = i as u32;
            }
        }
        if !(self.cfg.temperature > 0.0) {
            return argmax(&self.cand);
        }
        // Most likely first; NaN logits sort last.
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| {
            b.1.partial_cmp(&a.1)
                .unwrap_or_else(|| a.1.is_nan().cmp(&b.1.is_nan()))
                .then(a.0.cmp(&b.0))
        };
        let k = self.cfg.top_k;
        if k > 0 && k < self.cand.len() {
            self.cand.select_nth_unstable_by(k - 1, by_logit);
            self.cand.truncate(k);
        }
        self.cand.sort_unstable_by(by_logit);
        // Softmax with temperature.
        let t = self.cfg.temperature;
        let max = self.cand[0].1;
        let mut sum = 0.0f64;
        for c in self.cand.iter_mut() {
            c.1 = libm::expf((c.1 - max) / t);
            if c.1.is_nan() {
                c.1 = 0.0;
            }
            sum += c.1 as f64;
        }
        for c in self.cand.iter_mut() {
            c.1 = (c.1 as f64 / sum) as f32;
        }
        // Top-p.
        if self.cfg.top_p < 1.0 {
            let mut acc = 0.0f32;
            let mut keep = self.cand.len();
            for (i, c) in self.cand.iter().enumerate() {
                acc += c.1;
                if acc >= self.cfg.top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.cand.truncate(keep.max(1));
        }
        let total: f32 = self.cand.iter().map(|c| c.1).sum();
        let mut r = self.rng.f32() * total;
        for c in &self.cand {
            if r < c.1 {
                return c.0;
            }
            r -= c.1;
        }
        self.cand.last().map(|c| c.0).unwrap_or(0)
    }
}

/// The first index of the largest value (NaN never wins).
fn argmax(c: &[(u32, f32)]) -> u32 {
    let mut best = 0;
    for (i, x) in c.iter().enumerate() {
        if x.1.partial_cmp(&c[best].1) == Some(Ordering::Greater) || c[best].1.is_nan() {
            best = i;
        }
    }
    c[best].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn cfg(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> SamplerConfig {
        SamplerConfig {
            temperature,
            top_k,
            top_p,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed,
        }
    }

    #[test]
    fn greedy_picks_the_first_maximum() {
        let mut s = Sampler::greedy();
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 3.0], &[]), 1);
        assert_eq!(s.sample(&[f32::NAN, 1.0, 2.0], &[]), 2);
        assert_eq!(s.sample(&[], &[]), 0);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let mut s = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            ..SamplerConfig::default()
        });
        // Token 0 (logit 3) seen twice → 1.5 (penalized once), below token 1.
        assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[0, 0]), 1);
        // Negative logits are multiplied: token 1 at -0.5 → -1.0.
        assert_eq!(s.sample(&[-0.9, -0.5], &[1]), 0);
        // Only the last `repeat_last_n` tokens count.
        s.cfg.repeat_last_n = 1;
        assert_eq!(s.sample(&[3.0, 2.0], &[0, 1]), 0);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_follows_probabilities() {
        let logits = [1.0f32, 2.0, 0.0, 1.5];
        let draw = |seed| {
            let mut s = Sampler::new(cfg(1.0, 0, 1.0, seed));
            (0..4000)
                .map(|_| s.sample(&logits, &[]))
                .collect::<Vec<u32>>()
        };
        let a = draw(5);
        assert_eq!(a, draw(5));
        assert_ne!(a, draw(6));
        let mut counts = [0usize; 4];
        for &t in &a {
            counts[t as usize] += 1;
        }
        let z: f32 = logits.iter().map(|&l| libm::expf(l)).sum();
        for i in 0..4 {
            let p = libm::expf(logits[i]) / z;
            let f = counts[i] as f32 / a.len() as f32;
            assert!((p - f).abs() < 0.03, "token {i}: {f} vs {p}");
        }
    }

    #[test]
    fn top_k_and_top_p_restrict_the_candidates() {
        let logits = vec![0.0f32, 5.0, 4.9, 4.8, -3.0];
        let mut s = Sampler::new(cfg(1.0, 2, 1.0, 1));
        for _ in 0..500 {
            let t = s.sample(&logits, &[]);
            assert!(t == 1 || t == 2, "{t}");
        }
        // top_p small: only the best token remains.
        let mut s = Sampler::new(cfg(1.0, 0, 0.1, 1));
        for _ in 0..200 {
            assert_eq!(s.sample(&logits, &[]), 1);
        }
        // Very low temperature behaves like greedy.
        let mut s = Sampler::new(cfg(1e-4, 0, 1.0, 3));
        for _ in 0..200 {
            assert_eq!(s.sample(&logits, &[]), 1);
        }
    }
}
