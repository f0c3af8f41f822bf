//! The claims of chapter 3: attention's backward pass is right, attention is causal, its
//! weights are a probability distribution over the past, and the batched multi-head version
//! computes exactly what the loops of the definition compute.

use chapter03::naive::multi_head;
use gpt2::attention::{AttentionCache, CausalSelfAttention};
use gpt2::gradcheck::{Check, check_layer};
use gpt2::layers::Linear;
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayView2, s};

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// A small attention layer with random weights, biases included.
fn layer(c: usize, n_head: usize, rng: &mut Rng) -> CausalSelfAttention {
    let mut attn = CausalSelfAttention::init(c, n_head, 0.5, 0.5, rng);
    for lin in [&mut attn.c_attn, &mut attn.c_proj] {
        lin.bias.value.mapv_inplace(|_| rng.normal() as f32 * 0.1);
    }
    attn
}

fn forward(
    attn: &CausalSelfAttention,
    x: ArrayView2<f32>,
    b: usize,
    t: usize,
) -> (Array2<f32>, AttentionCache) {
    let mut cache = AttentionCache::default();
    let mut out = Array2::zeros(x.raw_dim());
    attn.forward(x, b, t, &mut cache, out.view_mut());
    (out, cache)
}

#[test]
fn linear_gradients() {
    let mut rng = Rng::new(1);
    let mut lin = Linear::init(5, 7, 1.0, &mut rng);
    lin.bias.value.mapv_inplace(|_| rng.normal() as f32);
    let x = random((6, 5), &mut rng);
    let checks = check_layer(
        &lin,
        &x,
        1e-2,
        |l, x| {
            let mut y = Array2::zeros((x.nrows(), 7));
            l.forward(x, y.view_mut());
            y
        },
        |l, x, dy| {
            let mut dx = Array2::zeros(x.raw_dim());
            l.backward(x, dy, dx.view_mut());
            dx
        },
    );
    for c in &checks {
        println!("Linear {:<8} relative error {:.1e}", c.name, c.rel_error);
        assert!(c.rel_error < 1e-4, "{}: {}", c.name, c.rel_error);
    }
    assert_eq!(checks.len(), 3);
}

// ANCHOR: gradcheck
/// Attention's backward pass against finite differences of its forward pass, for the input
/// and every parameter.
fn gradient_checks(attn: &CausalSelfAttention, x: &Array2<f32>, b: usize, t: usize) -> Vec<Check> {
    check_layer(
        attn,
        x,
        1e-2,
        |a, x| forward(a, x, b, t).0,
        |a, x, dout| {
            let (_, cache) = forward(a, x, b, t);
            let mut dx = Array2::zeros(x.raw_dim());
            a.backward(x, b, t, &cache, dout, dx.view_mut());
            dx
        },
    )
}

#[test]
fn attention_gradients() {
    let (b, t, c, n_head) = (2, 5, 8, 2);
    let mut rng = Rng::new(2);
    let attn = layer(c, n_head, &mut rng);
    let x = random((b * t, c), &mut rng);
    let checks = gradient_checks(&attn, &x, b, t);
    for c in &checks {
        println!(
            "attention {:<16} relative error {:.1e}",
            c.name, c.rel_error
        );
        assert!(c.rel_error < 5e-4, "{}: {}", c.name, c.rel_error);
    }
    // The input, and c_attn's and c_proj's weight and bias.
    assert_eq!(checks.len(), 5);
}
// ANCHOR_END: gradcheck

// ANCHOR: causal
#[test]
fn the_future_cannot_change_the_past() {
    let (b, t, c) = (2, 7, 16);
    let mut rng = Rng::new(3);
    let attn = layer(c, 4, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (before, _) = forward(&attn, x.view(), b, t);
    for changed in 0..t {
        let mut y = x.clone();
        for seq in 0..b {
            // Change position `changed` and everything after it, in every sequence.
            y.slice_mut(s![seq * t + changed..(seq + 1) * t, ..])
                .mapv_inplace(|v| v * -3.0 + 1.0);
        }
        let (after, _) = forward(&attn, y.view(), b, t);
        for seq in 0..b {
            let past = s![seq * t..seq * t + changed, ..];
            // Bit for bit: not one position before `changed` may move.
            assert_eq!(before.slice(past), after.slice(past), "position {changed}");
            assert_ne!(before.row(seq * t + changed), after.row(seq * t + changed));
        }
    }
}
// ANCHOR_END: causal

#[test]
fn weights_are_distributions_over_the_past() {
    let (b, t, c) = (3, 9, 12);
    let mut rng = Rng::new(4);
    let attn = layer(c, 3, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (_, cache) = forward(&attn, x.view(), b, t);
    assert_eq!(cache.att.shape(), &[b, 3, t, t]);
    for seq in cache.att.outer_iter() {
        for head in seq.outer_iter() {
            for (i, row) in head.rows().into_iter().enumerate() {
                assert!(
                    (row.sum() - 1.0).abs() < 1e-5,
                    "row {i} sums to {}",
                    row.sum()
                );
                assert!(row.iter().take(i + 1).all(|&a| a > 0.0));
                assert!(
                    row.iter().skip(i + 1).all(|&a| a == 0.0),
                    "row {i} sees the future"
                );
            }
        }
    }
}

#[test]
fn loops_and_batched_heads_agree() {
    let (b, t, c) = (3, 11, 24);
    let mut rng = Rng::new(5);
    let attn = layer(c, 4, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (batched, _) = forward(&attn, x.view(), b, t);
    assert_matches_loops(&attn, x.view(), batched.view(), b, t);
}

/// Each sequence's rows of `batched` equal what the loops of the definition compute.
fn assert_matches_loops(
    attn: &CausalSelfAttention,
    x: ArrayView2<f32>,
    batched: ArrayView2<f32>,
    b: usize,
    t: usize,
) {
    for seq in 0..b {
        let rows = s![seq * t..(seq + 1) * t, ..];
        let looped = multi_head(attn, x.slice(rows));
        let err = (&looped - &batched.slice(rows))
            .mapv(f32::abs)
            .fold(0.0f32, |m, &v| m.max(v));
        assert!(err < 1e-5, "sequence {seq}: max difference {err}");
    }
}

/// Past 64 positions the weights are computed in row blocks (chapter 8): still the loops'
/// result, still causal, and still the right gradients.
#[test]
fn long_sequences_in_row_blocks() {
    let (b, t, c) = (2, 150, 8);
    let mut rng = Rng::new(6);
    let attn = layer(c, 2, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (batched, cache) = forward(&attn, x.view(), b, t);
    assert_matches_loops(&attn, x.view(), batched.view(), b, t);
    for seq in cache.att.outer_iter() {
        for head in seq.outer_iter() {
            for (i, row) in head.rows().into_iter().enumerate() {
                assert!((row.sum() - 1.0).abs() < 1e-5, "row {i}");
                assert!(row.iter().skip(i + 1).all(|&a| a == 0.0), "row {i}");
            }
        }
    }
    for c in &gradient_checks(&attn, &x, b, t) {
        assert!(c.rel_error < 5e-4, "{}: {}", c.name, c.rel_error);
    }
}
