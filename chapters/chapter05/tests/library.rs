//! The fast library's GPT-2 (`gpt2::GPT`, chapter 8) computes what Hugging Face computes, and
//! what the readable model computes on the same weights and batch; both start from the same
//! weights for the same seed.

use std::collections::BTreeMap;

use chapter03::attention::Parameters;
use chapter05::gpt::{GPT, cross_entropy, library_tensors};
use chapter05::reference;
use gpt2::GPTConfig;
use gpt2::checkpoint::read_safetensors;
use gpt2::gradcheck::{gradients, relative_error};
use gpt2::layers::Params;
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayD};

/// ‖a − b‖ / max(‖a‖, ‖b‖) of two tensors of the same shape.
fn difference(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let b: Vec<f64> = b.iter().map(|&x| x as f64).collect();
    relative_error(&a.iter().copied().collect::<Vec<_>>(), &b)
}

/// Every gradient by name.
fn named(mut grads: GPT) -> BTreeMap<String, ArrayD<f32>> {
    grads
        .parameters()
        .into_iter()
        .map(|(n, g)| (n, g.to_owned()))
        .collect()
}

#[test]
fn library_logits_loss_and_every_gradient_match_hugging_face() {
    let mut model = gpt2::GPT::load(&reference::dir()).unwrap();
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

#[test]
fn readable_initialisation_is_the_library_initialisation() {
    let config = GPTConfig::preset("nano").unwrap();
    let mut library = gpt2::GPT::new(config, 7);
    let theirs = library_tensors(&mut library, false);
    let mine = named(GPT::new(config, 7));
    assert_eq!(mine.len(), theirs.len());
    for (name, tensor) in &mine {
        assert_eq!(tensor, &theirs[name], "{name}");
    }
}

/// Readable and library forward and backward passes on one model and one random batch.
fn compare_with_library(config: GPTConfig, b: usize, t: usize) {
    let mut library = gpt2::GPT::new(config, 11);
    let model = GPT::from_library(&mut library);
    let mut rng = Rng::new(5);
    let vocab = config.vocab_size as u64;
    let x = Array2::from_shape_simple_fn((b, t), || rng.below(vocab) as u32);
    let y = Array2::from_shape_simple_fn((b, t), || rng.below(vocab) as u32);

    let (logits, cache) = model.forward(&x);
    let (loss, dlogits) = cross_entropy(&logits, &y);
    let grads = named(model.backward(&cache, &dlogits));

    let (fast_logits, fast_loss) = library.forward(x.view(), Some(y.view())).unwrap();
    let logits_err = difference(&logits.into_dyn(), &fast_logits.to_owned().into_dyn());
    let fast_loss = fast_loss.unwrap();
    println!("logits relative difference {logits_err:.1e}; loss {loss} vs {fast_loss}");
    assert!(logits_err <= 1e-5);
    assert!((loss - fast_loss).abs() <= 1e-5 * fast_loss);
    library.zero_grad();
    library.backward().unwrap();
    let fast_grads = library_tensors(&mut library, true);
    assert_eq!(grads.len(), fast_grads.len());
    for (name, grad) in &grads {
        let err = difference(grad, &fast_grads[name]);
        println!("{name:<24} relative difference {err:.1e}");
        assert!(err <= 1e-5, "{name}: {err:.2e}");
    }
}

#[test]
fn readable_model_equals_the_library_on_the_shakespeare_preset() {
    compare_with_library(GPTConfig::preset("shakespeare").unwrap(), 2, 64);
}

#[test]
fn readable_model_equals_the_library_on_gpt2_cut_to_two_layers() {
    let config = GPTConfig {
        n_layer: 2,
        ..GPTConfig::preset("gpt2").unwrap()
    };
    compare_with_library(config, 2, 64);
}

/// `to_library` (how the readable model saves through the library) and `from_library` are
/// inverses: the same weights, bit for bit, under the same names.
#[test]
fn readable_weights_go_to_the_library_and_back_unchanged() {
    let mut rng = Rng::new(8);
    let mut model = GPT::new(GPTConfig::preset("nano").unwrap(), 3);
    for (_, mut p) in model.parameters() {
        p.mapv_inplace(|_| rng.normal() as f32);
    }
    let back = GPT::from_library(&mut model.to_library());
    assert_eq!(back, model);
}
