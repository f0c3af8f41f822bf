//! The solutions to chapter 7's exercises do what the chapter says.

use chapter07::exercises::{cache_bytes, nucleus_size, penalize};
use gpt2::GPTConfig;

#[test]
fn the_nucleus_adapts_to_the_distribution() {
    let peaked: Vec<f32> = (0..1000).map(|i| if i == 0 { 10.0 } else { 0.0 }).collect();
    let flat = vec![0.0f32; 1000];
    assert_eq!(nucleus_size(&peaked, 0.9), 1);
    assert_eq!(nucleus_size(&flat, 0.9), 900);
}

#[test]
fn a_seen_tokens_logit_falls_whatever_its_sign() {
    let mut logits = vec![2.0, -1.0, 3.0];
    penalize(&mut logits, &[0, 1, 0], 2.0);
    assert_eq!(logits, [1.0, -2.0, 3.0]);
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let sum: f32 = logits.iter().map(|l| l.exp()).sum();
    logits.iter().map(|l| l.exp() / sum).collect()
}

#[test]
fn the_seen_tokens_together_lose_probability_though_one_of_them_may_gain() {
    let before = [5.0f32, 0.5, 0.0];
    let mut after = before;
    penalize(&mut after, &[0, 1], 2.0);
    let (p, q) = (softmax(&before), softmax(&after));
    // The seen tokens together, and the unseen one's gain.
    assert!(q[0] + q[1] < p[0] + p[1], "{p:?} -> {q:?}");
    assert!(q[2] > p[2]);
    // Token 1 was penalized, but token 0 fell further: token 1 is now more likely.
    assert!(q[1] > 5.0 * p[1], "{} -> {}", p[1], q[1]);
}

#[test]
fn the_cache_of_gpt2_small() {
    assert_eq!(cache_bytes(&GPTConfig::preset("gpt2").unwrap()), 75_497_472);
}
