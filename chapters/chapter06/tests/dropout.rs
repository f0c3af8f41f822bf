//! Dropout (chapter 6): its masks keep each value's expected size, it is off at inference, its
//! backward pass matches finite differences, and the library drops exactly what the readable
//! model drops when both draw from the same generator.

use std::collections::BTreeMap;

use chapter03::attention::Parameters;
use chapter03::dropout::Dropout;
use chapter05::gpt::{GPT, cross_entropy, library_tensors};
use chapter05::gradcheck::{gradient_errors, with_large_weights};
use gpt2::GPTConfig;
use gpt2::dropout::DropoutRates;
use gpt2::gradcheck::relative_error;
use gpt2::layers::Params;
use gpt2::rng::Rng;
use ndarray::{Array2, ArrayD, Ix2};

fn tiny() -> GPTConfig {
    GPTConfig {
        block_size: 8,
        vocab_size: 16,
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
        layer_norm_eps: 1e-5,
    }
}

fn batch(config: GPTConfig, b: usize, t: usize, seed: u64) -> (Array2<u32>, Array2<u32>) {
    let mut rng = Rng::new(seed);
    let vocab = config.vocab_size as u64;
    let x = Array2::from_shape_simple_fn((b, t), || rng.below(vocab) as u32);
    let y = Array2::from_shape_simple_fn((b, t), || rng.below(vocab) as u32);
    (x, y)
}

#[test]
fn a_mask_drops_a_fraction_p_and_keeps_the_expected_value() {
    let p = 0.1;
    let mask = Dropout::train(p, 3).mask(Ix2(1000, 1000), p).unwrap();
    let n = mask.len() as f64;
    let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / n;
    let mean = mask.iter().map(|&m| m as f64).sum::<f64>() / n;
    // One million draws: the standard error of the fraction is √(0.1·0.9/10⁶) = 0.0003.
    assert!((dropped - p as f64).abs() < 0.0015, "dropped {dropped}");
    assert!((mean - 1.0).abs() < 0.002, "mean {mean}");
    assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0 / (1.0 - p)));
}

#[test]
fn no_dropout_at_inference_or_at_probability_zero() {
    let model = GPT::new(tiny(), 1);
    let (x, _) = batch(tiny(), 2, 6, 2);
    let (inference, _) = model.forward(&x);
    let (zero, _) = model.forward_train(&x, &mut Dropout::train(0.0, 9));
    let (dropped, _) = model.forward_train(&x, &mut Dropout::train(0.5, 9));
    assert_eq!(inference, zero);
    assert_ne!(inference, dropped);
}

#[test]
fn the_same_seed_drops_the_same_values_and_another_seed_others() {
    let model = GPT::new(tiny(), 1);
    let (x, _) = batch(tiny(), 2, 6, 2);
    let run = |seed| model.forward_train(&x, &mut Dropout::train(0.3, seed)).0;
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
}

#[test]
fn backward_through_dropout_matches_finite_differences() {
    let (model, _) = with_large_weights(tiny(), 1);
    let (x, y) = batch(tiny(), 2, 6, 3);
    // A fresh generator with one seed on every pass: the same masks each time.
    let drop = || Dropout::train(0.25, 8);
    let loss = |m: &GPT| cross_entropy(&m.forward_train(&x, &mut drop()).0, &y).0 as f64;
    let (logits, cache) = model.forward_train(&x, &mut drop());
    let (_, dlogits) = cross_entropy(&logits, &y);
    let mut grads = model.backward(&cache, &dlogits);
    for (name, err) in gradient_errors(&model, &mut grads, loss) {
        assert!(err < 1e-3, "{name}: {err:.2e}");
    }
}

#[test]
fn the_library_drops_what_the_readable_model_drops() {
    let config = GPTConfig::preset("nano").unwrap();
    let mut library = gpt2::GPT::new(config, 11);
    let model = GPT::from_library(&mut library);
    let (x, y) = batch(config, 2, 32, 5);
    let (p, seed) = (0.2, 6);

    let (logits, cache) = model.forward_train(&x, &mut Dropout::train(p, seed));
    let (loss, dlogits) = cross_entropy(&logits, &y);
    let mut grads = model.backward(&cache, &dlogits);
    let grads: BTreeMap<String, ArrayD<f32>> = grads
        .parameters()
        .into_iter()
        .map(|(n, g)| (n, g.to_owned()))
        .collect();

    let rates = DropoutRates::all(p);
    let fast_loss = library
        .forward_train_dropout(x.view(), y.view(), rates, &mut Rng::new(seed))
        .unwrap();
    let without = library
        .forward(x.view(), Some(y.view()))
        .unwrap()
        .1
        .unwrap();
    println!("loss {loss} (library {fast_loss}; without dropout {without})");
    assert!((loss - fast_loss).abs() <= 1e-5 * loss);
    assert!((loss - without).abs() > 1e-3, "dropout changed nothing");
    library.zero_grad();
    library
        .forward_train_dropout(x.view(), y.view(), rates, &mut Rng::new(seed))
        .unwrap();
    library.backward().unwrap();
    let fast = library_tensors(&mut library, true);
    for (name, grad) in &grads {
        let theirs: Vec<f64> = fast[name].iter().map(|&g| g as f64).collect();
        let err = relative_error(&grad.iter().copied().collect::<Vec<_>>(), &theirs);
        assert!(err <= 1e-5, "{name}: {err:.2e}");
    }
}
