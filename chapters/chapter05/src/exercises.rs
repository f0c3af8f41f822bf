//! Solutions to the exercises at the end of chapter 5.

use gpt2::block::BlockCache;
use gpt2::kernels::matmul;
use gpt2::{GPT, GPTConfig};
use ndarray::{Array2, ArrayView2};

// ANCHOR: initial_loss
/// Exercise 1: the loss of a freshly initialised model on a batch of `ids` and `targets`.
pub fn initial_loss(
    config: GPTConfig,
    seed: u64,
    ids: ArrayView2<u32>,
    targets: ArrayView2<u32>,
) -> f32 {
    let mut model = GPT::new(config, seed);
    let (_, loss) = model.forward(ids, Some(targets)).expect("a valid batch");
    loss.expect("targets were given")
}
// ANCHOR_END: initial_loss

// ANCHOR: logit_lens
/// Exercise 2: the "logit lens". For one sequence, after each block (and before the first),
/// apply ln_f and the LM head to the residual stream and take the most likely next token at
/// the last position. Returns one token id per depth, n_layer + 1 in all.
pub fn logit_lens(model: &GPT, ids: &[u32]) -> Vec<u32> {
    let (t, c) = (ids.len(), model.config.n_embd);
    let mut x = Array2::from_shape_fn((t, c), |(i, j)| {
        model.wte.value[[ids[i] as usize, j]] + model.wpe.value[[i, j]]
    });
    let read = |x: &Array2<f32>| -> u32 {
        let last = x.slice(ndarray::s![t - 1..t, ..]);
        let normed = model.ln_f.apply(last);
        let mut logits = Array2::zeros((1, model.config.vocab_size));
        matmul(normed.view(), model.wte.value.t(), logits.view_mut(), false);
        let row = logits.row(0);
        (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0) as u32
    };
    let mut tops = vec![read(&x)];
    for block in &model.h {
        let mut out = Array2::zeros(x.raw_dim());
        block.forward(x.view(), 1, t, &mut BlockCache::default(), out.view_mut());
        x = out;
        tops.push(read(&x));
    }
    tops
}
// ANCHOR_END: logit_lens
