//! Solutions to the exercises at the end of chapter 5.

use chapter03::dropout::Dropout;
use gpt2::GPTConfig;
use ndarray::{Array2, s};

use crate::gpt::{GPT, cross_entropy};

// ANCHOR: initial_loss
/// Exercise 1: the loss of a freshly initialised model on a batch of `ids` and `targets`.
pub fn initial_loss(config: GPTConfig, seed: u64, ids: &Array2<u32>, targets: &Array2<u32>) -> f32 {
    let model = GPT::new(config, seed);
    let (logits, _) = model.forward(ids);
    cross_entropy(&logits, targets).0
}
// ANCHOR_END: initial_loss

// ANCHOR: logit_lens
/// Exercise 2: the "logit lens". For one sequence, after each block (and before the first),
/// apply ln_f and the LM head to the residual stream and take the most likely next token at
/// the last position. Returns one token id per depth, n_layer + 1 in all.
pub fn logit_lens(model: &GPT, ids: &[u32]) -> Vec<u32> {
    let t = ids.len();
    let mut x = Array2::from_shape_fn((t, model.config.n_embd), |(i, j)| {
        model.wte[[ids[i] as usize, j]] + model.wpe[[i, j]]
    });
    let read = |x: &Array2<f32>| -> u32 {
        let last = x.slice(s![t - 1..t, ..]).to_owned();
        let logits = model.ln_f.forward(&last).0.dot(&model.wte.t());
        let row = logits.row(0);
        (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0) as u32
    };
    let mut tops = vec![read(&x)];
    for block in &model.h {
        x = block.forward(&x, t, &mut Dropout::off()).0;
        tops.push(read(&x));
    }
    tops
}
// ANCHOR_END: logit_lens
