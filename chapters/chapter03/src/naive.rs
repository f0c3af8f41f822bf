//! Attention the way it is defined, with loops over positions and heads and nothing shared.

use crate::attention::{CausalSelfAttention, Linear};
use ndarray::{Array2, ArrayView2};

// ANCHOR: single_head
/// One head of causal attention. q, k, v: [T][d] -> (out: [T][d], weights: [T][T]).
/// Position i scores every key j <= i with q_i·k_j / √d, turns the scores into weights with a
/// softmax, and returns the weighted mean of the values.
pub fn single_head(
    q: &[Vec<f32>],
    k: &[Vec<f32>],
    v: &[Vec<f32>],
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (t, d) = (q.len(), q[0].len());
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![vec![0.0; d]; t];
    let mut weights = vec![vec![0.0; t]; t];
    for i in 0..t {
        let scores: Vec<f32> = (0..=i)
            .map(|j| (0..d).map(|c| q[i][c] * k[j][c]).sum::<f32>() * scale)
            .collect();
        let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        for j in 0..=i {
            weights[i][j] = exps[j] / sum;
            for c in 0..d {
                out[i][c] += weights[i][j] * v[j][c];
            }
        }
    }
    (out, weights)
}
// ANCHOR_END: single_head

/// x·W + b for each row of x, with loops.
fn linear(x: &[Vec<f32>], layer: &Linear) -> Vec<Vec<f32>> {
    let w = &layer.weight;
    x.iter()
        .map(|row| {
            (0..w.ncols())
                .map(|o| {
                    layer.bias[o]
                        + row
                            .iter()
                            .enumerate()
                            .map(|(i, x)| x * w[[i, o]])
                            .sum::<f32>()
                })
                .collect()
        })
        .collect()
}

// ANCHOR: multi_head
/// Multi-head attention on one sequence, head by head. x: [T, C] -> [T, C].
/// c_attn makes q, k and v for all heads at once; head h owns channels h·d..(h+1)·d of each.
pub fn multi_head(attn: &CausalSelfAttention, x: ArrayView2<f32>) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    let qkv = linear(&rows, &attn.c_attn);
    let c = x.ncols();
    let d = c / attn.n_head;
    let mut merged = vec![vec![0.0; c]; rows.len()];
    for h in 0..attn.n_head {
        let part = |offset: usize| -> Vec<Vec<f32>> {
            qkv.iter()
                .map(|r| r[offset + h * d..offset + (h + 1) * d].to_vec())
                .collect()
        };
        let (out, _) = single_head(&part(0), &part(c), &part(2 * c));
        for (m, o) in merged.iter_mut().zip(out) {
            m[h * d..(h + 1) * d].copy_from_slice(&o);
        }
    }
    let y = linear(&merged, &attn.c_proj);
    Array2::from_shape_fn((y.len(), c), |(i, j)| y[i][j])
}
// ANCHOR_END: multi_head

/// The largest difference between `out`, a batched attention's output for x: [B·T, C], and what
/// the loops of [`multi_head`] compute, sequence by sequence.
pub fn difference_from_loops(
    attn: &CausalSelfAttention,
    x: ArrayView2<f32>,
    out: ArrayView2<f32>,
    t: usize,
) -> f32 {
    let mut largest = 0.0f32;
    for seq in 0..x.nrows() / t {
        let rows = ndarray::s![seq * t..(seq + 1) * t, ..];
        let looped = multi_head(attn, x.slice(rows));
        largest = (&looped - &out.slice(rows)).fold(largest, |m, &v| m.max(v.abs()));
    }
    largest
}
