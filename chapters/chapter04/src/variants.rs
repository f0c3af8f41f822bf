//! Three ways to arrange a block's two halves, and what each does to the residual stream.

use gpt2::attention::AttentionCache;
use gpt2::block::{Block, BlockCache, MlpCache};
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayView2};

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
/// One block applied in the given arrangement. x: [N, C] -> [N, C]
pub fn apply(
    block: &Block,
    how: Arrangement,
    x: ArrayView2<f32>,
    b: usize,
    t: usize,
) -> Array2<f32> {
    let attn = |x: ArrayView2<f32>| {
        let mut out = Array2::zeros(x.raw_dim());
        block
            .attn
            .forward(x, b, t, &mut AttentionCache::default(), out.view_mut());
        out
    };
    let mlp = |x: ArrayView2<f32>| {
        let mut out = Array2::zeros(x.raw_dim());
        block
            .mlp
            .forward(x, &mut MlpCache::default(), out.view_mut());
        out
    };
    match how {
        Arrangement::PreLn => {
            let mut out = Array2::zeros(x.raw_dim());
            block.forward(x, b, t, &mut BlockCache::default(), out.view_mut());
            out
        }
        Arrangement::PostLn => {
            let r = block.ln_1.apply((&x + &attn(x)).view());
            block.ln_2.apply((&r + &mlp(r.view())).view())
        }
        Arrangement::NoLn => {
            let r = &x + &attn(x);
            &r + &mlp(r.view())
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
    b: usize,
    t: usize,
) -> Vec<(f64, f64)> {
    let mut stats = vec![mean_std(x)];
    let mut x = x.clone();
    for block in blocks {
        x = apply(block, how, x.view(), b, t);
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
                    let std = 1.0 / (lin.weight.value.nrows() as f32).sqrt();
                    lin.weight.value.mapv_inplace(|_| rng.normal() as f32 * std);
                }
            }
            block
        })
        .collect()
}
