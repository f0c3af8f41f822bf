//! The solutions to chapter 6's exercises do what the chapter says.

use chapter05::gpt::GPT;
use chapter06::exercises::{decay_split, first_adam_step};
use gpt2::GPTConfig;

#[test]
fn adams_first_step_is_the_learning_rate() {
    for g in [1e-3, 10.0] {
        let step = first_adam_step(g, 1e-3);
        assert!((step + 1e-3).abs() < 1e-7, "g = {g}: {step}");
    }
}

#[test]
fn decay_applies_to_matrices_and_embeddings() {
    let mut model = GPT::new(GPTConfig::preset("shakespeare").unwrap(), 0);
    let (decayed, kept) = decay_split(&mut model);
    assert_eq!(decayed + kept, 7_242_624);
    assert_eq!((decayed, kept), (7_235_712, 6_912));
}
