//! The solutions to chapter 6's exercises do what the chapter says.

use chapter05::gpt::GPT;
use chapter06::exercises::{decay_split, first_adam_step};
use gpt2::GPTConfig;

#[test]
fn adams_first_step_is_the_learning_rate() {
    let (lr, eps) = (1e-3f64, 1e-8f64);
    for g in [1e-3f64, 10.0] {
        let step = first_adam_step(g as f32, lr as f32) as f64;
        // -lr·g/(|g| + eps), to a few of f32's roundings at 0.001.
        let derived = -lr * g / (g.abs() + eps);
        assert!(
            (step - derived).abs() < 1e-9,
            "g = {g}: {step} vs {derived}"
        );
        // ε's share: a hundred-thousandth of the step for g = 0.001, nothing visible for 10.
        assert!((step + lr).abs() < 1.1e-8, "g = {g}: {step}");
    }
}

#[test]
fn decay_applies_to_matrices_and_embeddings() {
    let mut model = GPT::new(GPTConfig::preset("shakespeare").unwrap(), 0);
    let (decayed, kept) = decay_split(&mut model);
    assert_eq!(decayed + kept, 7_242_624);
    assert_eq!((decayed, kept), (7_235_712, 6_912));
}
