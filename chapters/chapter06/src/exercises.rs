//! Solutions to the exercises at the end of chapter 6.

use gpt2::layers::Params;
use gpt2::optim::{AdamW, AdamWConfig};

// ANCHOR: first_step
/// Exercise 1: how far AdamW's first step moves a parameter of value 0 whose gradient is `g`,
/// without weight decay.
pub fn first_adam_step(g: f32, lr: f32) -> f32 {
    #[derive(Clone)]
    struct One(Vec<f32>, Vec<f32>);
    impl Params for One {
        fn visit(&mut self, _: &str, f: &mut gpt2::layers::Visit<'_>) {
            f("p", &[1], &mut self.0, &mut self.1);
        }
    }
    let mut p = One(vec![0.0], vec![g]);
    let mut opt = AdamW::new(
        &mut p,
        AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        },
    );
    opt.step(&mut p, lr);
    p.0[0]
}
// ANCHOR_END: first_step

// ANCHOR: decayed
/// Exercise 2: how many parameters weight decay applies to (two or more dimensions), and how
/// many it leaves alone (biases and LayerNorm parameters).
pub fn decay_split<M: Params>(model: &mut M) -> (usize, usize) {
    let (mut decayed, mut kept) = (0, 0);
    model.visit("", &mut |_, shape, value, _| {
        if shape.len() >= 2 {
            decayed += value.len();
        } else {
            kept += value.len();
        }
    });
    (decayed, kept)
}
// ANCHOR_END: decayed
