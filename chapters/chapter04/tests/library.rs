//! The fast library's block (`gpt2::block`, chapter 8) computes what this chapter's readable
//! block computes, forward and backward, and passes the same finite-difference check.

use chapter03::attention::Parameters;
use chapter03::dropout::Dropout;
use chapter04::block::Block;
use gpt2::block::{BlockCache, Scratch};
use gpt2::gradcheck::{check_layer, relative_error};
use gpt2::layers::Params;
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayView2};

fn random(shape: (usize, usize), rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn(shape, || rng.normal() as f32)
}

/// A readable block with random parameters, and the library's block with the same values.
fn blocks(c: usize, n_head: usize, rng: &mut Rng) -> (Block, gpt2::block::Block) {
    let mut block = Block::init(c, n_head, 2, 1e-5, rng);
    for (name, mut p) in block.parameters() {
        let base = if name.starts_with("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        p.mapv_inplace(|_| base + 0.3 * rng.normal() as f32);
    }
    let mut fast = gpt2::block::Block::init(c, n_head, 2, 1e-5, &mut Rng::new(0));
    let mut mine = block.clone();
    let mut mine = mine.parameters().into_iter();
    fast.visit("", &mut |name, _, value, _| {
        let (own, p) = mine.next().unwrap();
        assert_eq!(name, own, "the same names in the same order");
        value.copy_from_slice(p.as_slice().unwrap());
    });
    (block, fast)
}

fn forward(
    block: &gpt2::block::Block,
    x: ArrayView2<f32>,
    b: usize,
    t: usize,
) -> (Array2<f32>, BlockCache) {
    let mut cache = BlockCache::default();
    let mut out = Array2::zeros(x.raw_dim());
    block.forward(x, b, t, &mut cache, &mut Scratch::default(), out.view_mut());
    (out, cache)
}

fn difference(a: &[f32], b: &[f32]) -> f64 {
    relative_error(a, &b.iter().map(|&x| x as f64).collect::<Vec<_>>())
}

#[test]
fn library_block_equals_the_readable_forward_and_backward() {
    let mut rng = Rng::new(4);
    let (b, t, c) = (2, 70, 32);
    let (block, mut fast) = blocks(c, 4, &mut rng);
    let x = random((b * t, c), &mut rng);
    let dout = random((b * t, c), &mut rng);
    let (out, cache) = block.forward(&x, t, &mut Dropout::off());
    let (dx, mut grads) = block.backward(&cache, &dout);

    let (fast_out, fast_cache) = forward(&fast, x.view(), b, t);
    let mut fast_dx = Array2::zeros(x.raw_dim());
    fast.zero_grad();
    // A scratch of its own: the backward pass computes again what it needs of the forward's.
    let scratch = &mut Scratch::default();
    fast.backward(
        x.view(),
        b,
        t,
        &fast_cache,
        scratch,
        dout.view(),
        fast_dx.view_mut(),
    );

    let e_out = difference(out.as_slice().unwrap(), fast_out.as_slice().unwrap());
    let e_dx = difference(dx.as_slice().unwrap(), fast_dx.as_slice().unwrap());
    println!("out {e_out:.1e}, dx {e_dx:.1e}");
    assert!(e_out < 1e-5 && e_dx < 1e-5);
    let mut grads = grads.parameters().into_iter();
    let mut checked = 0;
    fast.visit("", &mut |name, _, _, grad| {
        let e = difference(grads.next().unwrap().1.as_slice().unwrap(), grad);
        println!("{name:<18} relative difference {e:.1e}");
        assert!(e < 1e-5, "{name}: {e:.2e}");
        checked += 1;
    });
    assert_eq!(checked, 12);
}

#[test]
fn library_block_gradients_match_finite_differences() {
    let mut rng = Rng::new(5);
    let (b, t, c) = (2, 4, 8);
    let (_, fast) = blocks(c, 2, &mut rng);
    let x = random((b * t, c), &mut rng);
    let checks = check_layer(
        &fast,
        &x,
        1e-2,
        |m, x| forward(m, x, b, t).0,
        |m, x, dout| {
            let (_, cache) = forward(m, x, b, t);
            let mut dx = Array2::zeros(x.raw_dim());
            let scratch = &mut Scratch::default();
            m.backward(x, b, t, &cache, scratch, dout, dx.view_mut());
            dx
        },
    );
    assert_eq!(checks.len(), 13);
    for c in &checks {
        assert!(c.rel_error < 5e-4, "{}: {}", c.name, c.rel_error);
    }
}
