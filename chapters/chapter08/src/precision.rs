//! What smaller weights cost: the same model, fed the same tokens one at a time through the KV
//! cache, with f32 weights and with bf16, int8 or int4 weights.

use anyhow::Result;
use gpt2::GPT;
use gpt2::generate::{Sampling, pick};
use gpt2::quant::Weights;
use gpt2::rng::Rng;

/// How two versions of a model compare over a stream of tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Next-token predictions compared.
    pub predictions: usize,
    /// Mean cross-entropy of the f32 model and of the model with the smaller weights.
    pub loss_f32: f64,
    pub loss_rounded: f64,
    /// The largest difference of a logit between the two, and the logits' spread
    /// (max - min) for scale.
    pub max_logit_diff: f32,
    pub logit_range: f32,
    /// The share of positions where both pick the same most likely token.
    pub same_argmax: f64,
}

// ANCHOR: compare
/// Feeds `ids` token by token (a fresh cache every `block_size` tokens) to `model` as it is and
/// to a copy that uses `weights`, comparing their predictions of each next token.
pub fn compare(model: &GPT, ids: &[u32], weights: Weights) -> Result<Comparison> {
    let mut half = model.clone();
    half.use_weights(weights);
    let (mut full_cache, mut half_cache) = (model.new_cache(), half.new_cache());
    let mut c = Comparison {
        predictions: 0,
        loss_f32: 0.0,
        loss_rounded: 0.0,
        max_logit_diff: 0.0,
        logit_range: 0.0,
        same_argmax: 0.0,
    };
    for pair in ids.windows(2) {
        let (id, next) = (pair[0], pair[1] as usize);
        if full_cache.len() == model.config.block_size {
            (full_cache, half_cache) = (model.new_cache(), half.new_cache());
        }
        let a = model.forward_cached(&[id], &mut full_cache)?;
        let b = half.forward_cached(&[id], &mut half_cache)?;
        c.loss_f32 += cross_entropy(a.as_slice().unwrap_or_default(), next);
        c.loss_rounded += cross_entropy(b.as_slice().unwrap_or_default(), next);
        for (&x, &y) in a.iter().zip(&b) {
            c.max_logit_diff = c.max_logit_diff.max((x - y).abs());
        }
        let (lo, hi) = a
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        c.logit_range = c.logit_range.max(hi - lo);
        c.same_argmax += f64::from(u8::from(argmax(a.iter()) == argmax(b.iter())));
        c.predictions += 1;
    }
    let n = c.predictions.max(1) as f64;
    (c.loss_f32, c.loss_rounded) = (c.loss_f32 / n, c.loss_rounded / n);
    c.same_argmax /= n;
    Ok(c)
}
// ANCHOR_END: compare

/// Continuations of `prompt` by `model` with f32 and with `weights`, drawn with the same
/// settings and seed, and the number of tokens they share before they first differ.
///
/// The prompt goes in one token at a time, as each new token does, so that every product has
/// one row: those sum in the same order on every processor, where a prompt's rows in bfloat16
/// go through AMX on one, `vdpbf16ps` on another, and their last digits (then a draw from the
/// long tail of a T = 1 sample) differ.
pub fn continuations(
    model: &GPT,
    prompt: &[u32],
    new: usize,
    s: &Sampling,
    weights: Weights,
) -> Result<(Vec<u32>, Vec<u32>, usize)> {
    assert!(prompt.len() + new <= model.config.block_size);
    let run = |m: &GPT| -> Result<Vec<u32>> {
        let (mut cache, mut rng) = (m.new_cache(), Rng::new(7));
        let mut out: Vec<u32> = Vec::with_capacity(new);
        let mut next = None;
        for &id in prompt {
            next = Some(m.forward_cached(&[id], &mut cache)?);
        }
        while out.len() < new {
            let logits = next.take().expect("a prompt of at least one token");
            let id = pick(logits.as_slice().expect("contiguous"), s, &mut rng);
            out.push(id);
            if out.len() < new {
                next = Some(m.forward_cached(&[id], &mut cache)?);
            }
        }
        Ok(out)
    };
    let full = run(model)?;
    let mut half = model.clone();
    half.use_weights(weights);
    let halved = run(&half)?;
    let same = full.iter().zip(&halved).take_while(|(a, b)| a == b).count();
    Ok((full, halved, same))
}

/// -log softmax(logits)[target], computed in f64.
fn cross_entropy(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let sum: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln() - logits[target] as f64
}

fn argmax<'a>(xs: impl Iterator<Item = &'a f32>) -> usize {
    xs.enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}
