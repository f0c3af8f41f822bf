//! The readable attention of this chapter: its backward pass agrees with finite differences,
//! its forward pass with the loops of the definition, and both with the fast library.

use chapter03::attention::{CausalSelfAttention, Linear, attend};
use chapter03::gradcheck::check_layer;
use chapter03::naive::single_head;
use gpt2::gradcheck::relative_error;
use gpt2::rng::Rng;
use ndarray::{Array1, Array2};

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// A small attention layer with random weights and biases.
fn layer(c: usize, n_head: usize, rng: &mut Rng) -> CausalSelfAttention {
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
fn linear_gradients_match_finite_differences() {
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
fn attention_gradients_match_finite_differences() {
    let mut rng = Rng::new(2);
    let (b, t, c, n_head) = (2, 5, 8, 2);
    let attn = layer(c, n_head, &mut rng);
    let x = random((b * t, c), &mut rng);
    let checks = check_layer(
        &attn,
        &x,
        1e-2,
        |a, x| a.forward(x, t).0,
        |a, x, dout| a.backward(&a.forward(x, t).1, dout),
    );
    assert_eq!(checks.len(), 5, "input and four parameters");
    assert_small("attention", &checks, 5e-4);
}
// ANCHOR_END: gradcheck

#[test]
fn attend_computes_what_the_loops_compute() {
    let mut rng = Rng::new(3);
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
    // The mask: position i gives its future no weight.
    assert!(
        weights2
            .indexed_iter()
            .all(|((i, j), &w)| j <= i || w == 0.0)
    );
}

/// The library's layer with the same weights.
fn library(attn: &CausalSelfAttention) -> gpt2::attention::CausalSelfAttention {
    let linear = |l: &Linear| gpt2::layers::Linear {
        weight: gpt2::layers::Param::new(l.weight.clone()),
        bias: gpt2::layers::Param::new(l.bias.clone()),
        bf16: None,
    };
    gpt2::attention::CausalSelfAttention {
        c_attn: linear(&attn.c_attn),
        c_proj: linear(&attn.c_proj),
        n_head: attn.n_head,
    }
}

#[test]
fn readable_attention_equals_the_library_forward_and_backward() {
    let mut rng = Rng::new(4);
    // 70 positions: more than one of the library's row blocks of 64.
    let (b, t, c, n_head) = (2, 70, 32, 4);
    let attn = layer(c, n_head, &mut rng);
    let x = random((b * t, c), &mut rng);
    let dout = random((b * t, c), &mut rng);
    let (out, cache) = attn.forward(&x, t);
    let (dx, grads) = attn.backward(&cache, &dout);

    let mut fast = library(&attn);
    let mut fast_cache = gpt2::attention::AttentionCache::default();
    let mut fast_out = Array2::zeros(x.raw_dim());
    fast.forward(x.view(), b, t, &mut fast_cache, fast_out.view_mut());
    let mut fast_dx = Array2::zeros(x.raw_dim());
    fast.backward(x.view(), b, t, &fast_cache, dout.view(), fast_dx.view_mut());

    let err =
        |a: &[f32], b: &[f32]| relative_error(a, &b.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let pairs = [
        ("out", out.as_slice().unwrap(), fast_out.as_slice().unwrap()),
        ("dx", dx.as_slice().unwrap(), fast_dx.as_slice().unwrap()),
        (
            "c_attn.weight",
            grads.c_attn.weight.as_slice().unwrap(),
            fast.c_attn.weight.grad.as_slice().unwrap(),
        ),
        (
            "c_attn.bias",
            grads.c_attn.bias.as_slice().unwrap(),
            fast.c_attn.bias.grad.as_slice().unwrap(),
        ),
        (
            "c_proj.weight",
            grads.c_proj.weight.as_slice().unwrap(),
            fast.c_proj.weight.grad.as_slice().unwrap(),
        ),
        (
            "c_proj.bias",
            grads.c_proj.bias.as_slice().unwrap(),
            fast.c_proj.bias.grad.as_slice().unwrap(),
        ),
    ];
    for (name, mine, theirs) in pairs {
        let e = err(mine, theirs);
        println!("{name:<14} relative difference {e:.1e}");
        assert!(e < 1e-5, "{name}: {e:.2e}");
    }
}
