//! Solutions to the exercises at the end of chapter 3.

use crate::attention::{CausalSelfAttention, Linear};
use gpt2::rng::Rng;
use ndarray::Array2;

// ANCHOR: scale
/// Exercise 1: the standard deviation of q·k for q, k with `d` independent N(0, 1) entries,
/// over `samples` draws, before and after dividing by √d.
pub fn score_spread(d: usize, samples: usize, seed: u64) -> (f64, f64) {
    let mut rng = Rng::new(seed);
    let scores: Vec<f64> = (0..samples)
        .map(|_| (0..d).map(|_| rng.normal() * rng.normal()).sum())
        .collect();
    let mean = scores.iter().sum::<f64>() / samples as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / samples as f64;
    (var.sqrt(), var.sqrt() / (d as f64).sqrt())
}
// ANCHOR_END: scale

// ANCHOR: offset
/// Exercise 2: a one-head layer over one-hot positions (x = identity, [t, t]) whose position
/// i attends to position i - `offset` (or, near the start, spreads over what it can see).
pub fn look_back(t: usize, offset: usize, sharpness: f32) -> (CausalSelfAttention, Array2<f32>) {
    let beta = sharpness * (t as f32).sqrt();
    let mut c_attn = Linear::zeros(t, 3 * t);
    for p in 0..t {
        if p >= offset {
            c_attn.weight[[p, p - offset]] = beta; // query of p = e_(p - offset)
        }
        c_attn.weight[[p, t + p]] = 1.0; // key of p = e_p
        c_attn.weight[[p, 2 * t + p]] = 1.0; // value of p = e_p
    }
    let attn = CausalSelfAttention {
        c_attn,
        c_proj: Linear::zeros(t, t),
        n_head: 1,
    };
    (attn, Array2::eye(t))
}
// ANCHOR_END: offset

// ANCHOR: flops
/// Exercise 3: forward FLOPs of one attention layer on a sequence of `t` tokens of width `c`:
/// (the two attention products q·kᵀ and a·v, the two projections c_attn and c_proj).
pub fn attention_flops(t: usize, c: usize) -> (usize, usize) {
    let products = 2 * (2 * t * t * c); // [t, c/h]·[c/h, t] and [t, t]·[t, c/h], for h heads
    let projections = 2 * t * c * (3 * c) + 2 * t * c * c;
    (products, projections)
}
// ANCHOR_END: flops
