//! Three ways to arrange a block's two halves, and what each does to the residual stream.

use crate::block::Block;
use chapter03::dropout::Dropout;
use gpt2::rng::Rng;
use ndarray::Array2;

/// Where a block puts its LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    /// GPT-2: x + attn(ln_1(x)), then r + mlp(ln_2(r)).
    PreLn,
    /// The original Transformer: ln_1(x + attn(x)), then ln_2(r + mlp(r)).
    PostLn,
    /// No normalisation at all: x + attn(x), then r + mlp(r).
    NoLn,
}

// ANCHOR: variants
/// One block applied in the given arrangement. x: [N, C], N = B·T -> [N, C]
pub fn apply(block: &Block, how: Arrangement, x: &Array2<f32>, t: usize) -> Array2<f32> {
    let attn = |x: &Array2<f32>| block.attn.forward(x, t, &mut Dropout::off()).0;
    let mlp = |x: &Array2<f32>| block.mlp.forward(x).0;
    let (ln_1, ln_2) = (
        |x: &Array2<f32>| block.ln_1.forward(x).0,
        |x: &Array2<f32>| block.ln_2.forward(x).0,
    );
    match how {
        Arrangement::PreLn => block.forward(x, t, &mut Dropout::off()).0,
        Arrangement::PostLn => {
            let r = ln_1(&(x + &attn(x)));
            ln_2(&(&r + &mlp(&r)))
        }
        Arrangement::NoLn => {
            let r = x + &attn(x);
            &r + &mlp(&r)
        }
    }
}
// ANCHOR_END: variants

/// Mean and standard deviation of all the entries of `x`.
pub fn mean_std(x: &Array2<f32>) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The residual stream's (mean, std) at the input and after each block.
pub fn stream_stats(
    blocks: &[Block],
    how: Arrangement,
    x: &Array2<f32>,
    t: usize,
) -> Vec<(f64, f64)> {
    let mut stats = vec![mean_std(x)];
    let mut x = x.clone();
    for block in blocks {
        x = apply(block, how, &x, t);
        stats.push(mean_std(&x));
    }
    stats
}

/// `n_layer` blocks of width `c`, with every matrix drawn from N(0, (gain/√fan_in)²) and, when
/// `gpt2_init` is set, GPT-2's own initialisation instead.
pub fn random_blocks(
    n_layer: usize,
    c: usize,
    n_head: usize,
    gpt2_init: bool,
    seed: u64,
) -> Vec<Block> {
    let mut rng = Rng::new(seed);
    (0..n_layer)
        .map(|_| {
            let mut block = Block::init(c, n_head, n_layer, 1e-5, &mut rng);
            if !gpt2_init {
                for lin in [
                    &mut block.attn.c_attn,
                    &mut block.attn.c_proj,
                    &mut block.mlp.c_fc,
                    &mut block.mlp.c_proj,
                ] {
                    let std = 1.0 / (lin.weight.nrows() as f32).sqrt();
                    lin.weight.mapv_inplace(|_| rng.normal() as f32 * std);
                }
            }
            block
        })
        .collect()
}
