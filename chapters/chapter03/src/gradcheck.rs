//! Finite-difference checks for the readable layers, whose backward passes return their
//! gradients: the slope of the loss measured by nudging one number at a time.

use ndarray::{Array2, ArrayViewD};

use gpt2::gradcheck::{numeric_gradient, relative_error};
use gpt2::rng::Rng;

use crate::attention::Parameters;

// ANCHOR: check_layer
/// Checks a layer's backward pass against central differences, for its input and every
/// parameter; returns each one's relative error. The loss is L = Σ out ⊙ r for a fixed random
/// r, so dL/dout = r. `backward(m, x, dout)` runs the forward pass, then the backward pass.
pub fn check_layer<M: Parameters + Clone>(
    m: &M,
    x: &Array2<f32>,
    h: f32,
    forward: impl Fn(&M, &Array2<f32>) -> Array2<f32>,
    backward: impl Fn(&M, &Array2<f32>, &Array2<f32>) -> (Array2<f32>, M),
) -> Vec<(String, f64)> {
    let mut rng = Rng::new(12345);
    let r = forward(m, x).mapv(|_| rng.normal() as f32);
    let loss = |m: &M, x: &Array2<f32>| -> f64 {
        let out = forward(m, x);
        out.iter().zip(&r).map(|(&o, &r)| o as f64 * r as f64).sum()
    };
    let (dx, mut grads) = backward(m, x, &r);
    let mut input = x.clone();
    let numeric = numeric_gradient(input.as_slice_mut().unwrap(), h, |v| {
        loss(m, &Array2::from_shape_vec(x.raw_dim(), v.to_vec()).unwrap())
    });
    let mut checks = vec![(
        "input".to_string(),
        relative_error(dx.as_slice().unwrap(), &numeric),
    )];
    for (k, (name, analytic)) in grads.parameters().into_iter().enumerate() {
        let mut probe = m.clone();
        let shape = analytic.raw_dim();
        let mut values: Vec<f32> = probe.parameters()[k].1.iter().copied().collect();
        let numeric = numeric_gradient(&mut values, h, |v| {
            probe.parameters()[k]
                .1
                .assign(&ArrayViewD::from_shape(shape.clone(), v).unwrap());
            loss(&probe, x)
        });
        let analytic: Vec<f32> = analytic.iter().copied().collect();
        checks.push((name, relative_error(&analytic, &numeric)));
    }
    checks
}
// ANCHOR_END: check_layer
