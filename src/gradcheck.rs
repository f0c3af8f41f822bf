//! Finite-difference gradient checks: the slope of the loss measured by nudging one number at a
//! time, to compare with a hand-written backward pass.

use ndarray::{Array2, ArrayView2};

use crate::layers::Params;
use crate::rng::Rng;

/// ‖a − n‖ / max(‖a‖, ‖n‖): 0 when equal, about 1e-3 or less for a correct f32 gradient.
pub fn relative_error(analytic: &[f32], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len());
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let diff = norm(&mut analytic.iter().zip(numeric).map(|(&a, &n)| a as f64 - n));
    let scale =
        norm(&mut analytic.iter().map(|&a| a as f64)).max(norm(&mut numeric.iter().copied()));
    if scale == 0.0 { 0.0 } else { diff / scale }
}

// ANCHOR: numeric
/// Central differences: entry i of the result is (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h.
pub fn numeric_gradient(x: &mut [f32], h: f32, mut f: impl FnMut(&[f32]) -> f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let original = x[i];
            x[i] = original + h;
            let up = f(x);
            x[i] = original - h;
            let down = f(x);
            x[i] = original;
            (up - down) / (2.0 * h as f64)
        })
        .collect()
}
// ANCHOR_END: numeric

/// Every parameter's name and a copy of its gradient, in visiting order.
pub fn gradients<M: Params>(m: &mut M) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    m.visit("", &mut |name, _, _, grad| {
        out.push((name.to_string(), grad.to_vec()))
    });
    out
}

/// The numeric gradient of `loss` with respect to every parameter of `m`, by name.
pub fn numeric_param_gradients<M: Params + Clone>(
    m: &M,
    h: f32,
    loss: impl Fn(&M) -> f64,
) -> Vec<(String, Vec<f64>)> {
    let mut probe = m.clone();
    let mut names = Vec::new();
    probe.visit("", &mut |name, _, value, _| {
        names.push((name.to_string(), value.len()))
    });
    let set = |m: &mut M, name: &str, i: usize, v: f32| {
        m.visit("", &mut |n, _, value, _| {
            if n == name {
                value[i] = v;
            }
        })
    };
    names
        .into_iter()
        .map(|(name, len)| {
            let mut original = Vec::new();
            probe.visit("", &mut |n, _, value, _| {
                if n == name {
                    original = value.to_vec();
                }
            });
            let grad = (0..len)
                .map(|i| {
                    set(&mut probe, &name, i, original[i] + h);
                    let up = loss(&probe);
                    set(&mut probe, &name, i, original[i] - h);
                    let down = loss(&probe);
                    set(&mut probe, &name, i, original[i]);
                    (up - down) / (2.0 * h as f64)
                })
                .collect();
            (name, grad)
        })
        .collect()
}

/// The relative error of one gradient: of the input, or of one parameter.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub rel_error: f64,
}

// ANCHOR: check_layer
/// Checks a layer's backward pass against finite differences, for its input and every
/// parameter. The loss is L = Σ out ⊙ r for a fixed random r, so dL/dout = r.
///
/// `forward(m, x)` returns the output; `backward(m, x, dout)` runs the forward pass, then the
/// backward pass (accumulating parameter gradients into `m`), and returns dx.
pub fn check_layer<M: Params + Clone>(
    m: &M,
    x: &Array2<f32>,
    h: f32,
    forward: impl Fn(&M, ArrayView2<f32>) -> Array2<f32>,
    backward: impl Fn(&mut M, ArrayView2<f32>, ArrayView2<f32>) -> Array2<f32>,
) -> Vec<Check> {
    let out_shape = forward(m, x.view()).raw_dim();
    let mut rng = Rng::new(12345);
    let r = Array2::from_shape_simple_fn(out_shape, || rng.normal() as f32);
    let loss = |m: &M, x: ArrayView2<f32>| -> f64 {
        let out = forward(m, x);
        out.iter().zip(&r).map(|(&o, &r)| o as f64 * r as f64).sum()
    };

    let mut analytic = m.clone();
    analytic.zero_grad();
    let dx = backward(&mut analytic, x.view(), r.view());

    let mut xs = x.clone();
    let shape = xs.raw_dim();
    let numeric_dx = numeric_gradient(xs.as_slice_mut().expect("contiguous"), h, |v| {
        loss(m, ArrayView2::from_shape(shape, v).expect("same shape"))
    });
    let mut checks = vec![Check {
        name: "input".to_string(),
        rel_error: relative_error(dx.as_slice().expect("contiguous"), &numeric_dx),
    }];
    let numeric = numeric_param_gradients(m, h, |m| loss(m, x.view()));
    for ((name, g), (_, n)) in gradients(&mut analytic).into_iter().zip(numeric) {
        checks.push(Check {
            rel_error: relative_error(&g, &n),
            name,
        });
    }
    checks
}
// ANCHOR_END: check_layer
