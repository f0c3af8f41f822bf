//! Solutions to the exercises at the end of chapter 4.

use crate::block::{LayerNorm, gelu, gelu_grad};
use chapter03::attention::Parameters;
use ndarray::Array2;

// ANCHOR: invariance
/// Exercise 1: the largest change in LayerNorm's output when its input rows are multiplied by
/// `scale` (positive) and shifted by `shift`.
pub fn invariance_gap(ln: &LayerNorm, x: &Array2<f32>, scale: f32, shift: f32) -> f32 {
    let norm = |x: &Array2<f32>| ln.forward(x).0;
    let moved = x.mapv(|v| v * scale + shift);
    (norm(x) - norm(&moved))
        .mapv(f32::abs)
        .fold(0.0, |m, &v| m.max(v))
}
// ANCHOR_END: invariance

// ANCHOR: gelu_min
/// Exercise 2: where GELU is lowest, and its value there: the zero of its derivative on
/// [-2, 0], found by bisection.
pub fn gelu_minimum() -> (f32, f32) {
    let (mut lo, mut hi) = (-2.0f32, 0.0f32); // gelu' < 0 at -2, > 0 at 0
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if gelu_grad(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let x = 0.5 * (lo + hi);
    (x, gelu(x))
}
// ANCHOR_END: gelu_min

// ANCHOR: count
/// Exercise 3: count the parameters of anything with parameters, tensor by tensor.
pub fn count_params<M: Parameters>(m: &mut M) -> usize {
    m.parameters().iter().map(|(_, p)| p.len()).sum()
}
// ANCHOR_END: count
