//! Our GPT-2 computes what Hugging Face's computes: the same logits, the same loss, and the
//! same gradient for every parameter.

use chapter05::reference;
use gpt2::GPT;
use gpt2::checkpoint::read_safetensors;
use gpt2::gradcheck::{gradients, relative_error};
use gpt2::layers::Params;

// ANCHOR: parity
#[test]
fn logits_loss_and_every_gradient_match_hugging_face() {
    let mut model = GPT::load(&reference::dir()).unwrap();
    let expected = reference::expected().unwrap();
    let x = reference::ids(&expected["batch"]["x"]).unwrap();
    let y = reference::ids(&expected["batch"]["y"]).unwrap();
    let reference = read_safetensors(&reference::dir().join("expected.safetensors")).unwrap();

    let (logits, loss) = model.forward(x.view(), Some(y.view())).unwrap();
    let logits_err = (&logits - &reference["logits"])
        .mapv(f32::abs)
        .fold(0.0f32, |m, &e| m.max(e));
    let loss = loss.unwrap();
    let loss_err = (loss as f64 - expected["loss"].as_f64().unwrap()).abs();
    println!("logits: max abs error {logits_err:.1e}; loss {loss} (error {loss_err:.1e})");
    assert!(logits_err <= 1e-4);
    assert!(loss_err <= 1e-5);

    model.zero_grad();
    model.backward().unwrap();
    let mut checked = 0;
    for (name, grad) in gradients(&mut model) {
        let name = format!("transformer.{name}");
        let theirs = &reference[&format!("grad.{name}")];
        let theirs: Vec<f64> = theirs.iter().map(|&g| g as f64).collect();
        let err = relative_error(&grad, &theirs);
        println!("{name:<40} relative error {err:.1e}");
        assert!(err <= 1e-4, "{name}: {err:.2e}");
        checked += 1;
    }
    assert_eq!(checked, 4 + 2 * 12, "wte, wpe, 12 tensors per block, ln_f");
}
// ANCHOR_END: parity
