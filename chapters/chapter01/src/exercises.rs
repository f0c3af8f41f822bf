//! Solutions to the exercises at the end of chapter 1.

use gpt2::GPTConfig;

use crate::Bigram;

// ANCHOR: untied
/// Exercise 1: GPT-2 reuses the token embedding `wte` as its output layer.
/// How many parameters would it have if the LM head were a separate [vocab, C] matrix?
pub fn untied_param_count(config: &GPTConfig) -> usize {
    config.param_count().total() + config.vocab_size * config.n_embd
}
// ANCHOR_END: untied

// ANCHOR: adamw_bytes
/// Exercise 2: bytes of memory that training with AdamW needs before any activation:
/// the weights, their gradients and Adam's two moments, four f32 numbers per parameter.
pub fn adamw_state_bytes(config: &GPTConfig) -> usize {
    4 * std::mem::size_of::<f32>() * config.param_count().total()
}
// ANCHOR_END: adamw_bytes

// ANCHOR: interpolated
/// Exercise 3: mix the bigram with a unigram model instead of adding alpha to every count:
/// p(b | a) = lambda * count(a, b) / count(a) + (1 - lambda) * p_unigram(b).
/// A pair never seen now gets probability in proportion to how common `b` is.
pub struct Interpolated {
    bigram: Bigram,
    unigram: Vec<f64>,
    lambda: f64,
}

impl Interpolated {
    pub fn fit(tokens: &[u32], vocab: usize, lambda: f64) -> Interpolated {
        let mut counts = vec![1.0; vocab]; // add-one, so no token has probability zero
        for &t in tokens {
            counts[t as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        Interpolated {
            bigram: Bigram::fit(tokens, vocab, 0.0),
            unigram: counts.into_iter().map(|c| c / total).collect(),
            lambda,
        }
    }

    pub fn prob(&self, current: u32, next: u32) -> f64 {
        let row = self.bigram.row_total(current);
        let unigram = self.unigram[next as usize];
        if row == 0 {
            return unigram;
        }
        let bigram = self.bigram.count(current, next) as f64 / row as f64;
        self.lambda * bigram + (1.0 - self.lambda) * unigram
    }

    pub fn loss(&self, tokens: &[u32]) -> f64 {
        let nll: f64 = tokens.windows(2).map(|w| -self.prob(w[0], w[1]).ln()).sum();
        nll / (tokens.len() - 1) as f64
    }
}
// ANCHOR_END: interpolated
