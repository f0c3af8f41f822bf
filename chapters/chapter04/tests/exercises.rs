//! The solutions to chapter 4's exercises do what the chapter says.

use chapter04::block::{Block, LayerNorm};
use chapter04::exercises::{count_params, gelu_minimum, invariance_gap};
use gpt2::GPTConfig;
use gpt2::rng::Rng;
use ndarray::Array2;

#[test]
fn layernorm_ignores_scale_and_shift() {
    let mut rng = Rng::new(1);
    let x = Array2::from_shape_simple_fn((8, 32), || rng.normal() as f32);
    let gap = invariance_gap(&LayerNorm::new(32, 1e-5), &x, 10.0, -3.0);
    assert!(gap < 1e-4, "{gap}");
}

#[test]
fn gelu_dips_below_zero() {
    let (x, y) = gelu_minimum();
    assert!((x + 0.7518).abs() < 1e-3, "{x}");
    assert!((y + 0.1700).abs() < 1e-3, "{y}");
}

#[test]
fn a_gpt2_block_has_the_counted_parameters() {
    let config = GPTConfig::preset("gpt2").unwrap();
    let mut block = Block::init(768, 12, 12, 1e-5, &mut Rng::new(0));
    assert_eq!(count_params(&mut block), config.param_count().block.total());
    assert_eq!(count_params(&mut block), 7_087_872);
}
