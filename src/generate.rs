//! Text generation: the model predicts a distribution over the next token, we draw one, append
//! it, and repeat.

use ndarray::Array2;
use rayon::prelude::*;

use crate::model::{GPT, ModelError};
use crate::rng::Rng;

/// How the next token is drawn from the model's distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Divides the logits: below 1 sharpens the distribution, above 1 flattens it; 0 is greedy.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least p (1 = all).
    pub top_p: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

// ANCHOR: pick
/// The tokens `pick` may draw from `logits` (one position's, [vocab]) under `s`, most likely
/// first (ties: lower id first), with their probabilities, which sum to 1. Greedy decoding
/// (temperature 0, or top-k 1) leaves the single most likely token.
pub fn distribution(logits: &[f32], s: &Sampling) -> Vec<(u32, f64)> {
    if s.temperature <= 0.0 || s.top_k == 1 {
        // The first of the largest logits, without sorting the vocabulary.
        let best = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
        return vec![(best as u32, 1.0)];
    }
    // One integer per token that sorts as the order above: its logit's bits made monotone (as
    // `total_cmp` orders them) and inverted, so the most likely comes first, then its id.
    // Integers compare without reading the logits again, several times faster than a closure.
    let mut keys: Vec<u64> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (u64::from(!monotone_bits(x)) << 32) | i as u64)
        .collect();
    if s.top_k > 0 && s.top_k < keys.len() {
        // Only the k kept need an order: find them in one pass over the vocabulary, then sort
        // those (the order is total, so these are the first k of a whole sort).
        keys.select_nth_unstable(s.top_k - 1);
        keys.truncate(s.top_k);
    }
    keys.sort_unstable();
    let order: Vec<usize> = keys.iter().map(|&k| k as u32 as usize).collect();
    // softmax(logits / temperature) over the candidates, shifted by the largest for stability.
    let max = logits[order[0]];
    let p = |&i: &usize| (((logits[i] - max) / s.temperature) as f64).exp();
    // Each exponential takes longer than sorting its token: a whole vocabulary's go to the threads.
    let mut probs: Vec<f64> = if order.len() >= 4096 {
        order.par_iter().map(p).collect()
    } else {
        order.iter().map(p).collect()
    };
    if s.top_p < 1.0 {
        // The nucleus: the shortest prefix whose probability reaches top_p.
        let total: f64 = probs.iter().sum();
        let mut mass = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                mass += p / total;
                mass >= s.top_p as f64
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    order
        .iter()
        .zip(probs)
        .map(|(&i, p)| (i as u32, p / total))
        .collect()
}

/// `x`'s bits as an unsigned integer whose order is `f32::total_cmp`'s.
fn monotone_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    // Negative numbers (sign bit set) order backwards: flip all their bits, and the sign bit
    // of the rest, so that every negative number comes before every positive one.
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

/// Draws a token id from `logits` under `s`.
pub fn pick(logits: &[f32], s: &Sampling, rng: &mut Rng) -> u32 {
    let candidates = distribution(logits, s);
    if candidates.len() == 1 {
        return candidates[0].0;
    }
    let weights: Vec<f64> = candidates.iter().map(|c| c.1).collect();
    candidates[rng.weighted(&weights)].0
}
// ANCHOR_END: pick

// ANCHOR: generate
/// Continues `prompt` by up to `max_new` tokens, calling `on_token` with each as it comes, and
/// stopping early after `stop` (for example `<|endoftext|>`). Returns the new tokens.
///
/// The model reads at most block_size tokens: a longer context keeps its last block_size. The
/// keys and values of the context are cached, so each new token costs one position's work;
/// once the context is full, the window slides and is read again (GPT-2's positions are
/// absolute, so cached keys cannot shift).
pub fn generate(
    model: &GPT,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    stop: Option<u32>,
    rng: &mut Rng,
    on_token: impl FnMut(u32) + Send,
) -> Result<Vec<u32>, ModelError> {
    // Every token is a few dozen small products: driven from a thread of the pool, they start
    // and end without putting this thread to sleep and waking it each time.
    crate::kernels::on_pool(|| generate_here(model, prompt, max_new, s, stop, rng, on_token))
}

fn generate_here(
    model: &GPT,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    stop: Option<u32>,
    rng: &mut Rng,
    mut on_token: impl FnMut(u32),
) -> Result<Vec<u32>, ModelError> {
    let block = model.config.block_size;
    let mut ids = prompt.to_vec();
    let mut cache = model.new_cache();
    let mut logits = model.forward_cached(&ids[ids.len().saturating_sub(block)..], &mut cache)?;
    for _ in 0..max_new {
        let next = pick(logits.as_slice().expect("contiguous"), s, rng);
        ids.push(next);
        on_token(next);
        if Some(next) == stop {
            break;
        }
        logits = if cache.len() < block {
            model.forward_cached(&[next], &mut cache)?
        } else {
            cache = model.new_cache();
            model.forward_cached(&ids[ids.len() - block..], &mut cache)?
        };
    }
    Ok(ids[prompt.len()..].to_vec())
}
// ANCHOR_END: generate

/// Continues `prompt` by `max_new` tokens, recomputing the whole context at each step: the
/// definition, without a cache, to compare with [`generate`]. The context keeps its last
/// block_size tokens.
pub fn generate_uncached(
    model: &mut GPT,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    rng: &mut Rng,
) -> Result<Vec<u32>, ModelError> {
    let block = model.config.block_size;
    let mut ids = prompt.to_vec();
    for _ in 0..max_new {
        let context = &ids[ids.len().saturating_sub(block)..];
        let x = Array2::from_shape_vec((1, context.len()), context.to_vec()).expect("[1, T]");
        let (logits, _) = model.forward(x.view(), None)?;
        let last = logits.slice(ndarray::s![0, context.len() - 1, ..]);
        let next = pick(last.as_slice().expect("contiguous"), s, rng);
        ids.push(next);
    }
    Ok(ids[prompt.len()..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::monotone_bits;

    #[test]
    fn monotone_bits_order_as_total_cmp() {
        let values = [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            -1.5,
            3.25,
            -3.0,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    monotone_bits(a).cmp(&monotone_bits(b)),
                    a.total_cmp(&b),
                    "{a} against {b}"
                );
            }
        }
    }
}
