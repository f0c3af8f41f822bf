//! The whole model's backward pass against finite differences of its loss, for every parameter
//! of a tiny GPT-2, the tied embedding included.

use gpt2::gradcheck::{gradients, numeric_param_gradients, relative_error};
use gpt2::layers::Params;
use gpt2::rng::Rng;
use gpt2::{GPT, GPTConfig};
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
    let mut model = GPT::new(config, 1);
    // Larger weights than GPT-2's 0.02, so that every gradient is far from zero.
    let mut rng = Rng::new(2);
    model.visit("", &mut |name, _, v, _| {
        let base = if name.contains("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        v.iter_mut()
            .for_each(|x| *x = base + rng.normal() as f32 * 0.3);
    });
    let ids = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);
    let targets = Array2::from_shape_fn((2, 6), |_| rng.below(16) as u32);

    model.forward(ids.view(), Some(targets.view())).unwrap();
    model.zero_grad();
    model.backward().unwrap();
    let numeric = numeric_param_gradients(&model, 1e-2, |m| {
        let mut m = m.clone();
        m.forward(ids.view(), Some(targets.view()))
            .unwrap()
            .1
            .unwrap() as f64
    });
    for ((name, g), (_, n)) in gradients(&mut model).into_iter().zip(numeric) {
        let err = relative_error(&g, &n);
        println!("{name:<24} relative error {err:.1e}");
        assert!(err < 1e-3, "{name}: {err:.2e}");
    }
}
