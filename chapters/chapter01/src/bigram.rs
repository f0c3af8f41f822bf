//! The simplest language model that predicts the next token: count which token follows which.

use std::collections::HashMap;

use gpt2::rng::Rng;

// ANCHOR: bigram
/// A bigram model: the next token depends on the current token only.
/// p(b | a) = (count(a, b) + alpha) / (count(a) + alpha * vocab), "add-alpha" smoothing,
/// so that a pair never seen in training still gets a little probability.
pub struct Bigram {
    vocab: usize,
    alpha: f64,
    /// count(a): how often token a is followed by anything.
    row_total: Vec<u32>,
    /// count(a, b), only for pairs that occur.
    pair: HashMap<(u32, u32), u32>,
}

impl Bigram {
    /// Counts every adjacent pair of `tokens`.
    pub fn fit(tokens: &[u32], vocab: usize, alpha: f64) -> Bigram {
        let mut row_total = vec![0u32; vocab];
        let mut pair = HashMap::new();
        for w in tokens.windows(2) {
            row_total[w[0] as usize] += 1;
            *pair.entry((w[0], w[1])).or_insert(0) += 1;
        }
        Bigram {
            vocab,
            alpha,
            row_total,
            pair,
        }
    }

    /// p(next | current)
    pub fn prob(&self, current: u32, next: u32) -> f64 {
        let c = self.pair.get(&(current, next)).copied().unwrap_or(0) as f64;
        let total = self.row_total[current as usize] as f64;
        (c + self.alpha) / (total + self.alpha * self.vocab as f64)
    }

    /// Mean cross-entropy, in nats per token: -1/N * sum of ln p(t[i+1] | t[i]).
    pub fn loss(&self, tokens: &[u32]) -> f64 {
        let nll: f64 = tokens.windows(2).map(|w| -self.prob(w[0], w[1]).ln()).sum();
        nll / (tokens.len() - 1) as f64
    }
}
// ANCHOR_END: bigram

impl Bigram {
    /// The vocabulary size the model predicts over.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// How often `next` followed `current` in training.
    pub fn count(&self, current: u32, next: u32) -> u32 {
        self.pair.get(&(current, next)).copied().unwrap_or(0)
    }

    /// How often `current` was followed by anything in training.
    pub fn row_total(&self, current: u32) -> u32 {
        self.row_total[current as usize]
    }

    /// Continues `start` for `n` tokens, each drawn from p(· | previous token).
    pub fn sample(&self, start: u32, n: usize, rng: &mut Rng) -> Vec<u32> {
        // Successors of each token with their counts, sorted so that sampling is reproducible.
        let mut successors: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
        for (&(a, b), &c) in &self.pair {
            successors.entry(a).or_default().push((b, c));
        }
        successors.values_mut().for_each(|v| v.sort_unstable());

        let mut out = Vec::with_capacity(n);
        let mut current = start;
        for _ in 0..n {
            let seen = self.row_total[current as usize] as f64;
            let smoothing = self.alpha * self.vocab as f64;
            // The smoothing mass is spread evenly over the vocabulary; the rest follows the counts.
            current = match successors.get(&current) {
                Some(next) if rng.uniform() * (seen + smoothing) < seen => {
                    let weights: Vec<f64> = next.iter().map(|&(_, c)| c as f64).collect();
                    next[rng.weighted(&weights)].0
                }
                _ => rng.below(self.vocab as u64) as u32,
            };
            out.push(current);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one() {
        let m = Bigram::fit(&[0, 1, 2, 1, 2, 0, 1], 4, 0.5);
        for a in 0..4 {
            let s: f64 = (0..4).map(|b| m.prob(a, b)).sum();
            assert!((s - 1.0).abs() < 1e-12, "row {a}: {s}");
        }
    }

    #[test]
    fn unseen_token_is_uniform() {
        let m = Bigram::fit(&[0, 1, 0, 1], 5, 1.0);
        assert!((m.prob(3, 2) - 0.2).abs() < 1e-12);
        // A row with no data costs exactly ln(vocab).
        assert!((m.loss(&[3, 4]) - 5f64.ln()).abs() < 1e-12);
    }
}
