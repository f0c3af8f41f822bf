//! The whole model's backward pass against finite differences of its loss, for every parameter
//! of a tiny GPT-2, the tied embedding included.

use chapter05::gpt::{GPT, cross_entropy};
use chapter05::gradcheck::{gradient_errors, with_large_weights};
use gpt2::GPTConfig;
use ndarray::Array2;

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
    let (model, mut rng) = with_large_weights(config, 1);
    let ids = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);
    let targets = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);
    let loss = |m: &GPT| cross_entropy(&m.forward(&ids).0, &targets).0 as f64;

    let (_, mut grads) = model.loss_and_grads(&ids, &targets);
    let errors = gradient_errors(&model, &mut grads, loss);
    for (name, err) in &errors {
        println!("{name:<24} relative error {err:.1e}");
        assert!(*err < 1e-3, "{name}: {err:.2e}");
    }
    assert_eq!(errors.len(), 4 + 2 * 12);
}
