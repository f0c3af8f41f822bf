//! The readable LayerNorm, MLP and block of this chapter: backward passes that agree with
//! finite differences, and a block that computes what the fast library's block computes.

use chapter03::attention::{Linear, Parameters};
use chapter03::gradcheck::check_layer;
use chapter04::block::{Block, LayerNorm, Mlp};
use gpt2::gradcheck::relative_error;
use gpt2::layers::Params;
use gpt2::rng::Rng;
use ndarray::Array2;

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// Every parameter of `m` set to random values (LayerNorm's weight around 1).
fn randomize<M: Parameters>(m: &mut M, rng: &mut Rng) {
    for (name, mut p) in m.parameters() {
        let base = if name.contains("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        p.mapv_inplace(|_| base + 0.3 * rng.normal() as f32);
    }
}

fn assert_small(what: &str, checks: &[(String, f64)], bound: f64) {
    for (name, err) in checks {
        println!("{what} {name:<18} relative error {err:.1e}");
        assert!(*err < bound, "{what} {name}: {err:.2e}");
    }
}

#[test]
fn layernorm_gradients_match_finite_differences() {
    let mut rng = Rng::new(1);
    let mut ln = LayerNorm::new(8, 1e-5);
    randomize(&mut ln, &mut rng);
    ln.weight.mapv_inplace(|w| w + 1.0);
    let x = random((5, 8), &mut rng);
    let checks = check_layer(
        &ln,
        &x,
        1e-2,
        |l, x| l.forward(x).0,
        |l, x, dy| l.backward(&l.forward(x).1, dy),
    );
    assert_eq!(checks.len(), 3);
    assert_small("LayerNorm", &checks, 1e-3);
}

#[test]
fn mlp_gradients_match_finite_differences() {
    let mut rng = Rng::new(2);
    let mlp = Mlp {
        c_fc: Linear::init(6, 24, 0.5, &mut rng),
        c_proj: Linear::init(24, 6, 0.5, &mut rng),
    };
    let x = random((5, 6), &mut rng);
    let checks = check_layer(
        &mlp,
        &x,
        1e-2,
        |m, x| m.forward(x).0,
        |m, x, dy| m.backward(&m.forward(x).1, dy),
    );
    assert_eq!(checks.len(), 5);
    assert_small("MLP", &checks, 1e-3);
}

// ANCHOR: block_gradcheck
#[test]
fn block_gradients_match_finite_differences() {
    let mut rng = Rng::new(3);
    let (t, c) = (4, 8);
    let mut block = Block::init(c, 2, 2, 1e-5, &mut rng);
    randomize(&mut block, &mut rng);
    let x = random((2 * t, c), &mut rng);
    let checks = check_layer(
        &block,
        &x,
        1e-2,
        |b, x| b.forward(x, t).0,
        |b, x, dout| b.backward(&b.forward(x, t).1, dout),
    );
    assert_eq!(checks.len(), 13, "the input and twelve parameters");
    assert_small("block", &checks, 1e-3);
}
// ANCHOR_END: block_gradcheck

#[test]
fn readable_block_equals_the_library_forward_and_backward() {
    let mut rng = Rng::new(4);
    let (b, t, c) = (2, 70, 32);
    let mut block = Block::init(c, 4, 2, 1e-5, &mut rng);
    randomize(&mut block, &mut rng);
    // The library's block from the same seed, then given the same values by name.
    let mut fast = gpt2::block::Block::init(c, 4, 2, 1e-5, &mut Rng::new(0));
    let mine: Vec<(String, Vec<f32>)> = block
        .clone()
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.iter().copied().collect()))
        .collect();
    let mut k = 0;
    fast.visit("", &mut |name, _, value, _| {
        assert_eq!(name, mine[k].0, "the same names in the same order");
        value.copy_from_slice(&mine[k].1);
        k += 1;
    });
    let x = random((b * t, c), &mut rng);
    let dout = random((b * t, c), &mut rng);
    let (out, cache) = block.forward(&x, t);
    let (dx, mut grads) = block.backward(&cache, &dout);

    let mut fast_cache = gpt2::block::BlockCache::default();
    let mut fast_out = Array2::zeros(x.raw_dim());
    fast.forward(x.view(), b, t, &mut fast_cache, fast_out.view_mut());
    let mut fast_dx = Array2::zeros(x.raw_dim());
    fast.zero_grad();
    fast.backward(x.view(), b, t, &fast_cache, dout.view(), fast_dx.view_mut());

    let err =
        |a: &[f32], b: &[f32]| relative_error(a, &b.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let e_out = err(out.as_slice().unwrap(), fast_out.as_slice().unwrap());
    let e_dx = err(dx.as_slice().unwrap(), fast_dx.as_slice().unwrap());
    println!("out {e_out:.1e}, dx {e_dx:.1e}");
    assert!(e_out < 1e-5 && e_dx < 1e-5);
    let grads: Vec<Vec<f32>> = grads
        .parameters()
        .into_iter()
        .map(|(_, g)| g.iter().copied().collect())
        .collect();
    let mut k = 0;
    fast.visit("", &mut |name, _, _, grad| {
        let e = err(&grads[k], grad);
        println!("{name:<18} relative difference {e:.1e}");
        assert!(e < 1e-5, "{name}: {e:.2e}");
        k += 1;
    });
    assert_eq!(k, 12);
}
