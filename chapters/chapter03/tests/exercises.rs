//! The solutions to chapter 3's exercises do what the chapter says.

use chapter03::exercises::{attention_flops, look_back, score_spread};
use chapter03::heads::weights;

#[test]
fn scaling_keeps_scores_near_unit_spread() {
    let (raw, scaled) = score_spread(64, 20_000, 1);
    assert!((raw - 8.0).abs() < 0.2, "{raw}");
    assert!((scaled - 1.0).abs() < 0.025, "{scaled}");
}

#[test]
fn a_head_that_looks_two_back() {
    let (attn, x) = look_back(10, 2, 8.0);
    let w = weights(&attn, &x);
    for i in 2..10 {
        assert!(
            w[[0, i, i - 2]] > 0.99,
            "position {i}: {}",
            w[[0, i, i - 2]]
        );
    }
}

#[test]
fn attention_costs_at_gpt2_scale() {
    let (products, projections) = attention_flops(1024, 768);
    assert_eq!(products, 3_221_225_472);
    assert_eq!(projections, 4_831_838_208);
    // Per token, the products are the 4·T·C of chapter 1's attention term.
    assert_eq!(products / 1024, 4 * 1024 * 768);
}
