//! The whole model's backward pass against finite differences of its loss, for every parameter
//! of a tiny GPT-2, the tied embedding included.

use chapter03::attention::Parameters;
use chapter05::gpt::{GPT, cross_entropy};
use gpt2::GPTConfig;
use gpt2::gradcheck::{numeric_gradient, relative_error};
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayViewD};

#[test]
fn every_parameter_of_a_tiny_model() {
    let config = GPTConfig {
        block_size: 8,
        vocab_size: 16,
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
        layer_norm_eps: 1e-5,
    };
    let mut model = GPT::new(config, 1);
    // Larger weights than GPT-2's 0.02, so that every gradient is far from zero.
    let mut rng = Rng::new(2);
    for (name, mut p) in model.parameters() {
        let base = if name.contains("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        p.mapv_inplace(|_| base + rng.normal() as f32 * 0.3);
    }
    let ids = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);
    let targets = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);
    let loss = |m: &GPT| cross_entropy(&m.forward(&ids).0, &targets).0 as f64;

    let (_, mut grads) = model.loss_and_grads(&ids, &targets);
    let mut checked = 0;
    for (k, (name, g)) in grads.parameters().into_iter().enumerate() {
        let mut probe = model.clone();
        let shape = g.raw_dim();
        let mut values: Vec<f32> = probe.parameters()[k].1.iter().copied().collect();
        let numeric = numeric_gradient(&mut values, 1e-2, |v| {
            probe.parameters()[k]
                .1
                .assign(&ArrayViewD::from_shape(shape.clone(), v).unwrap());
            loss(&probe)
        });
        let err = relative_error(&g.iter().copied().collect::<Vec<_>>(), &numeric);
        println!("{name:<24} relative error {err:.1e}");
        assert!(err < 1e-3, "{name}: {err:.2e}");
        checked += 1;
    }
    assert_eq!(checked, 4 + 2 * 12);
}
