//! The fast library's attention (`gpt2::attention`, chapter 8) computes what this chapter's
//! readable attention computes, forward and backward, also past 64 positions, where it works
//! in row blocks.

use chapter03::attention::{CausalSelfAttention, Linear};
use chapter03::dropout::Dropout;
use chapter03::naive::difference_from_loops;
use gpt2::attention::AttentionCache;
use gpt2::gradcheck::{check_layer, relative_error};
use gpt2::layers::Param;
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayView2};

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// A readable layer with random weights and biases, and the library's layer with the same.
fn layers(
    c: usize,
    n_head: usize,
    rng: &mut Rng,
) -> (CausalSelfAttention, gpt2::attention::CausalSelfAttention) {
    let mut attn = CausalSelfAttention::init(c, n_head, 0.5, 0.5, rng);
    for lin in [&mut attn.c_attn, &mut attn.c_proj] {
        lin.bias.mapv_inplace(|_| rng.normal() as f32 * 0.1);
    }
    let linear = |l: &Linear| gpt2::layers::Linear {
        weight: Param::new(l.weight.clone()),
        bias: Param::new(l.bias.clone()),
        packed: None,
    };
    let fast = gpt2::attention::CausalSelfAttention {
        c_attn: linear(&attn.c_attn),
        c_proj: linear(&attn.c_proj),
        n_head,
    };
    (attn, fast)
}

fn forward(
    attn: &gpt2::attention::CausalSelfAttention,
    x: ArrayView2<f32>,
    b: usize,
    t: usize,
) -> (Array2<f32>, AttentionCache) {
    let mut cache = AttentionCache::default();
    let mut out = Array2::zeros(x.raw_dim());
    attn.forward(x, b, t, &mut cache, out.view_mut());
    (out, cache)
}

fn difference(a: &[f32], b: &[f32]) -> f64 {
    relative_error(a, &b.iter().map(|&x| x as f64).collect::<Vec<_>>())
}

#[test]
fn library_attention_equals_the_readable_forward_and_backward() {
    let mut rng = Rng::new(4);
    // 70 positions: more than one of the library's row blocks of 64.
    let (b, t, c, n_head) = (2, 70, 32, 4);
    let (attn, mut fast) = layers(c, n_head, &mut rng);
    let x = random((b * t, c), &mut rng);
    let dout = random((b * t, c), &mut rng);
    let (out, cache) = attn.forward(&x, t, &mut Dropout::off());
    let (dx, grads) = attn.backward(&cache, &dout);

    let (fast_out, fast_cache) = forward(&fast, x.view(), b, t);
    let mut fast_dx = Array2::zeros(x.raw_dim());
    fast.backward(x.view(), b, t, &fast_cache, dout.view(), fast_dx.view_mut());

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
        let e = difference(mine, theirs);
        println!("{name:<14} relative difference {e:.1e}");
        assert!(e < 1e-5, "{name}: {e:.2e}");
    }
}

/// Past 64 positions the library computes the weights in row blocks (chapter 8): still the
/// loops' result, still causal, and still the right gradients.
#[test]
fn library_attention_in_row_blocks_is_causal_and_has_the_right_gradients() {
    let (b, t, c) = (2, 150, 8);
    let mut rng = Rng::new(6);
    let (attn, fast) = layers(c, 2, &mut rng);
    let x = random((b * t, c), &mut rng);
    let (out, cache) = forward(&fast, x.view(), b, t);
    let err = difference_from_loops(&attn, x.view(), out.view(), t);
    assert!(err < 1e-5, "max difference {err}");
    for seq in cache.att.outer_iter() {
        for head in seq.outer_iter() {
            for (i, row) in head.rows().into_iter().enumerate() {
                assert!((row.sum() - 1.0).abs() < 1e-5, "row {i}");
                assert!(row.iter().skip(i + 1).all(|&a| a == 0.0), "row {i}");
            }
        }
    }
    let checks = check_layer(
        &fast,
        &x,
        1e-2,
        |a, x| forward(a, x, b, t).0,
        |a, x, dout| {
            let (_, cache) = forward(a, x, b, t);
            let mut dx = Array2::zeros(x.raw_dim());
            a.backward(x, b, t, &cache, dout, dx.view_mut());
            dx
        },
    );
    for c in &checks {
        assert!(c.rel_error < 5e-4, "{}: {}", c.name, c.rel_error);
    }
}
