//! The readable GPT-2, part 5: drawing the next token, and a cache of keys and values so that
//! each new token costs one position's work, on top of chapter 5's model.

use ndarray::{Array2, ArrayView1, Axis, concatenate, s};

use chapter03::attention::{CausalSelfAttention, attend};
use chapter04::block::Block;
use chapter05::gpt::GPT;
use gpt2::generate::Sampling;
use gpt2::rng::Rng;

// ANCHOR: sample
/// The tokens a draw from one position's logits: [V] may pick under `s`, most likely first (among
/// equal logits, the lower id first), with their probabilities, which sum to 1.
pub fn candidates(logits: ArrayView1<f32>, s: &Sampling) -> Vec<(u32, f64)> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if s.temperature <= 0.0 || s.top_k == 1 {
        return vec![(order[0] as u32, 1.0)]; // greedy
    }
    if s.top_k > 0 {
        order.truncate(s.top_k);
    }
    // softmax(logits / temperature) over the candidates, shifted by the largest for stability
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| (((logits[i] - logits[order[0]]) / s.temperature) as f64).exp())
        .collect();
    if s.top_p < 1.0 {
        // The nucleus: the shortest prefix whose probability reaches top_p.
        let total: f64 = probs.iter().sum();
        let mut mass = 0.0;
        let keep = probs.iter().take_while(|&&p| {
            let before = mass;
            mass += p / total;
            before < s.top_p as f64
        });
        probs.truncate(keep.count());
    }
    let total: f64 = probs.iter().sum();
    order
        .iter()
        .zip(probs)
        .map(|(&i, p)| (i as u32, p / total))
        .collect()
}

/// Draws the next token from one position's logits: [V], under `s`.
pub fn sample(logits: ArrayView1<f32>, s: &Sampling, rng: &mut Rng) -> u32 {
    let candidates = candidates(logits, s);
    let probs: Vec<f64> = candidates.iter().map(|c| c.1).collect();
    candidates[rng.weighted(&probs)].0
}
// ANCHOR_END: sample

// ANCHOR: cache
/// The keys and values one layer has computed so far: k, v: [T_seen, C], all heads side by side.
#[derive(Debug, Clone)]
pub struct KvCache {
    pub k: Array2<f32>,
    pub v: Array2<f32>,
}

/// An empty cache for each layer of `model`.
pub fn new_cache(model: &GPT) -> Vec<KvCache> {
    let empty = Array2::zeros((0, model.config.n_embd));
    vec![
        KvCache {
            k: empty.clone(),
            v: empty
        };
        model.h.len()
    ]
}

/// Attention for new positions only. x: [T_new, C], the positions after the `cache.k.nrows()`
/// already seen -> [T_new, C]. Their keys and values join the cache.
pub fn attention_cached(
    attn: &CausalSelfAttention,
    x: &Array2<f32>,
    cache: &mut KvCache,
) -> Array2<f32> {
    let (past, c) = (cache.k.nrows(), x.ncols());
    let d = c / attn.n_head;
    let qkv = attn.c_attn.forward(x);
    cache.k = concatenate![Axis(0), cache.k, qkv.slice(s![.., c..2 * c])];
    cache.v = concatenate![Axis(0), cache.v, qkv.slice(s![.., 2 * c..])];
    let mut y = Array2::zeros(x.raw_dim());
    for h in 0..attn.n_head {
        let cols = h * d..(h + 1) * d;
        let q = qkv.slice(s![.., cols.clone()]);
        let (k, v) = (
            cache.k.slice(s![.., cols.clone()]),
            cache.v.slice(s![.., cols.clone()]),
        );
        // The new queries against every key so far: query i stands at position past + i.
        y.slice_mut(s![.., cols]).assign(&attend(q, k, v, past).0);
    }
    attn.c_proj.forward(&y)
}

/// A block on new positions only: chapter 4's block with the cached attention.
fn block_cached(block: &Block, x: &Array2<f32>, cache: &mut KvCache) -> Array2<f32> {
    let r = x + &attention_cached(&block.attn, &block.ln_1.forward(x).0, cache);
    let m = block.mlp.forward(&block.ln_2.forward(&r).0).0;
    r + &m
}

/// The model on new tokens only: ids: [T_new], following the positions in `cache` ->
/// logits: [T_new, V].
pub fn forward_cached(model: &GPT, ids: &[u32], cache: &mut [KvCache]) -> Array2<f32> {
    let past = cache[0].k.nrows();
    let mut x = Array2::zeros((ids.len(), model.config.n_embd));
    for (i, (&id, mut row)) in ids.iter().zip(x.rows_mut()).enumerate() {
        row.assign(&(&model.wte.row(id as usize) + &model.wpe.row(past + i)));
    }
    for (block, layer) in model.h.iter().zip(cache.iter_mut()) {
        x = block_cached(block, &x, layer);
    }
    model.ln_f.forward(&x).0.dot(&model.wte.t())
}
// ANCHOR_END: cache

// ANCHOR: generate
/// Continues `prompt` by up to `max_new` tokens drawn under `s`, stopping early after `stop`
/// (for example `<|endoftext|>`). The model reads at most block_size tokens: once the context
/// is full, the window slides and is read afresh (GPT-2's positions are absolute, so cached
/// keys cannot shift).
pub fn generate(
    model: &GPT,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    stop: Option<u32>,
    rng: &mut Rng,
) -> Vec<u32> {
    let block = model.config.block_size;
    let mut ids = prompt.to_vec();
    let mut cache = new_cache(model);
    let mut logits = forward_cached(model, &ids[ids.len().saturating_sub(block)..], &mut cache);
    for _ in 0..max_new {
        let next = sample(logits.row(logits.nrows() - 1), s, rng);
        ids.push(next);
        if Some(next) == stop {
            break;
        }
        logits = if cache[0].k.nrows() < block {
            forward_cached(model, &[next], &mut cache)
        } else {
            cache = new_cache(model);
            forward_cached(model, &ids[ids.len() - block..], &mut cache)
        };
    }
    ids[prompt.len()..].to_vec()
}
// ANCHOR_END: generate
