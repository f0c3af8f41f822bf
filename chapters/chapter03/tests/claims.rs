//! The claims of chapter 3: the backward passes of the linear layer and of attention are right,
//! attention is causal, its weights are a probability distribution over the past, and the
//! matrix version computes exactly what the loops of the definition compute.

use chapter03::attention::{CausalSelfAttention, Linear, attend};
use chapter03::dropout::Dropout;
use chapter03::gradcheck::check_layer;
use chapter03::naive::{difference_from_loops, single_head};
use gpt2::rng::Rng;
use ndarray::{Array1, Array2, s};

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// A small attention layer with random weights and biases.
pub fn layer(c: usize, n_head: usize, rng: &mut Rng) -> CausalSelfAttention {
    let mut attn = CausalSelfAttention::init(c, n_head, 0.5, 0.5, rng);
    for lin in [&mut attn.c_attn, &mut attn.c_proj] {
        lin.bias.mapv_inplace(|_| rng.normal() as f32 * 0.1);
    }
    attn
}

fn assert_small(what: &str, checks: &[(String, f64)], bound: f64) {
    for (name, err) in checks {
        println!("{what} {name:<14} relative error {err:.1e}");
        assert!(*err < bound, "{what} {name}: {err:.2e}");
    }
}

#[test]
fn linear_gradients() {
    let mut rng = Rng::new(1);
    let mut lin = Linear::init(5, 7, 1.0, &mut rng);
    lin.bias = Array1::from_shape_simple_fn(7, || rng.normal() as f32);
    let x = random((6, 5), &mut rng);
    let checks = check_layer(
        &lin,
        &x,
        1e-2,
        |l, x| l.forward(x),
        |l, x, dy| l.backward(x, dy),
    );
    assert_eq!(checks.len(), 3, "input, weight, bias");
    assert_small("Linear", &checks, 1e-4);
}

// ANCHOR: gradcheck
#[test]
fn attention_gradients() {
    let mut rng = Rng::new(2);
    let (b, t, c, n_head) = (2, 5, 8, 2);
    let attn = layer(c, n_head, &mut rng);
    let x = random((b * t, c), &mut rng);
    let checks = check_layer(
        &attn,
        &x,
        1e-2,
        |a, x| a.forward(x, t, &mut Dropout::off()).0,
        |a, x, dout| a.backward(&a.forward(x, t, &mut Dropout::off()).1, dout),
    );
    assert_eq!(
        checks.len(),
        5,
        "the input, c_attn's and c_proj's weight and bias"
    );
    assert_small("attention", &checks, 5e-4);
}
// ANCHOR_END: gradcheck

// ANCHOR: causal
#[test]
fn the_future_cannot_change_the_past() {
    let (b, t, c) = (2, 7, 16);
    let mut rng = Rng::new(3);
    let attn = layer(c, 4, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (before, _) = attn.forward(&x, t, &mut Dropout::off());
    for changed in 0..t {
        let mut y = x.clone();
        for seq in 0..b {
            // Change position `changed` and everything after it, in every sequence.
            y.slice_mut(s![seq * t + changed..(seq + 1) * t, ..])
                .mapv_inplace(|v| v * -3.0 + 1.0);
        }
        let (after, _) = attn.forward(&y, t, &mut Dropout::off());
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
    let (_, cache) = attn.forward(&x, t, &mut Dropout::off());
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
fn attend_computes_what_the_loops_compute() {
    let mut rng = Rng::new(5);
    let (t, d) = (7, 4);
    let (q, k, v) = (
        random((t, d), &mut rng),
        random((t, d), &mut rng),
        random((t, d), &mut rng),
    );
    let rows = |a: &Array2<f32>| a.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    let (out, weights) = single_head(&rows(&q), &rows(&k), &rows(&v));
    let (out2, weights2) = attend(q.view(), k.view(), v.view(), 0);
    for i in 0..t {
        for j in 0..t {
            assert!((weights[i][j] - weights2[[i, j]]).abs() < 1e-6);
        }
        for c in 0..d {
            assert!((out[i][c] - out2[[i, c]]).abs() < 1e-5);
        }
    }
}

#[test]
fn loops_and_matrices_agree() {
    let (b, t, c) = (3, 11, 24);
    let mut rng = Rng::new(6);
    let attn = layer(c, 4, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (out, _) = attn.forward(&x, t, &mut Dropout::off());
    let err = difference_from_loops(&attn, x.view(), out.view(), t);
    assert!(err < 1e-5, "max difference {err}");
}
