//! The readable GPT-2 of chapters 3 to 5 computes what Hugging Face computes: the same logits,
//! the same loss, and the same gradient for every parameter.

use std::collections::BTreeMap;

use chapter03::attention::Parameters;
use chapter05::gpt::{GPT, cross_entropy};
use chapter05::reference;
use gpt2::checkpoint::read_safetensors;
use gpt2::gradcheck::relative_error;
use ndarray::ArrayD;

/// ‖a − b‖ / max(‖a‖, ‖b‖) of two tensors of the same shape.
fn difference(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let b: Vec<f64> = b.iter().map(|&x| x as f64).collect();
    relative_error(&a.iter().copied().collect::<Vec<_>>(), &b)
}

// ANCHOR: parity
#[test]
fn logits_loss_and_every_gradient_match_hugging_face() {
    let model = GPT::load(&reference::dir()).unwrap();
    let expected = reference::expected().unwrap();
    let x = reference::ids(&expected["batch"]["x"]).unwrap();
    let y = reference::ids(&expected["batch"]["y"]).unwrap();
    let reference = read_safetensors(&reference::dir().join("expected.safetensors")).unwrap();

    let (logits, cache) = model.forward(&x);
    let (loss, dlogits) = cross_entropy(&logits, &y);
    let logits_err = (&logits.into_dyn() - &reference["logits"])
        .mapv(f32::abs)
        .fold(0.0f32, |m, &e| m.max(e));
    let loss_err = (loss as f64 - expected["loss"].as_f64().unwrap()).abs();
    println!("logits: max abs error {logits_err:.1e}; loss {loss} (error {loss_err:.1e})");
    assert!(logits_err <= 1e-4);
    assert!(loss_err <= 1e-5);

    let mut grads = model.backward(&cache, &dlogits);
    let grads: BTreeMap<String, ArrayD<f32>> = grads
        .parameters()
        .into_iter()
        .map(|(n, g)| (n, g.to_owned()))
        .collect();
    for (name, grad) in &grads {
        let err = difference(grad, &reference[&format!("grad.transformer.{name}")]);
        println!("{name:<24} relative error {err:.1e}");
        assert!(err <= 1e-4, "{name}: {err:.2e}");
    }
    assert_eq!(
        grads.len(),
        4 + 2 * 12,
        "wte, wpe, 12 tensors per block, ln_f"
    );
}
// ANCHOR_END: parity
