//! The whole model's backward pass against finite differences of its loss, parameter by
//! parameter (chapter 3's `check_layer`, for a whole GPT).

use chapter03::attention::Parameters;
use gpt2::GPTConfig;
use gpt2::gradcheck::{numeric_gradient, relative_error};
use gpt2::rng::Rng;
use ndarray::ArrayViewD;

use crate::gpt::GPT;

/// A model with larger weights than GPT-2's 0.02 (LayerNorm weights near 1), so that every
/// gradient is far from zero; and the generator, to draw a batch from next.
pub fn with_large_weights(config: GPTConfig, seed: u64) -> (GPT, Rng) {
    let mut model = GPT::new(config, seed);
    let mut rng = Rng::new(seed + 1);
    for (name, mut p) in model.parameters() {
        let base = if name.contains("ln") && name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        p.mapv_inplace(|_| base + rng.normal() as f32 * 0.3);
    }
    (model, rng)
}

/// For every parameter, by name: the relative error between its gradient in `grads` and the
/// central difference of `loss` (step 0.01).
pub fn gradient_errors(
    model: &GPT,
    grads: &mut GPT,
    loss: impl Fn(&GPT) -> f64,
) -> Vec<(String, f64)> {
    let mut errors = Vec::new();
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
        errors.push((name, err));
    }
    errors
}
