//! Solutions to the exercises at the end of chapter 7.

use gpt2::GPTConfig;
use gpt2::generate::Sampling;
use ndarray::ArrayView1;

use crate::generate::candidates;

// ANCHOR: nucleus
/// Exercise 1: how many tokens top-p keeps for these logits.
pub fn nucleus_size(logits: &[f32], top_p: f32) -> usize {
    let s = Sampling {
        top_p,
        ..Sampling::default()
    };
    candidates(ArrayView1::from(logits), &s).len()
}
// ANCHOR_END: nucleus

// ANCHOR: penalty
/// Exercise 2: a repetition penalty: lower the logit of every token that already
/// appears in `seen`, by dividing a positive logit by `penalty` (above 1) and multiplying a
/// negative one by it.
pub fn penalize(logits: &mut [f32], seen: &[u32], penalty: f32) {
    let mut done = vec![false; logits.len()];
    for &id in seen {
        let i = id as usize;
        if i < logits.len() && !done[i] {
            let l = &mut logits[i];
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
            done[i] = true;
        }
    }
}
// ANCHOR_END: penalty

// ANCHOR: cache_bytes
/// Exercise 3: bytes of the key-value cache for a full context, in f32: a key and a value of
/// C numbers per position, per layer.
pub fn cache_bytes(config: &GPTConfig) -> usize {
    2 * config.n_layer * config.block_size * config.n_embd * std::mem::size_of::<f32>()
}
// ANCHOR_END: cache_bytes
