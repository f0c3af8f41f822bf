//! Solutions to the exercises at the end of chapter 6.

use chapter03::attention::Parameters;
use ndarray::{Array1, ArrayViewMutD};

use crate::train::AdamW;

// ANCHOR: first_step
/// Exercise 1: how far AdamW's first step moves a parameter of value 0 whose gradient is `g`,
/// without weight decay.
pub fn first_adam_step(g: f32, lr: f32) -> f32 {
    /// A model of one parameter.
    #[derive(Clone)]
    struct One(Array1<f32>);
    impl Parameters for One {
        fn parameters(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
            vec![("p".into(), self.0.view_mut().into_dyn())]
        }
    }
    let (mut p, mut grad) = (One(Array1::zeros(1)), One(Array1::from_elem(1, g)));
    let mut opt = AdamW::new(&p, 0.0);
    opt.step(&mut p, &mut grad, lr);
    p.0[0]
}
// ANCHOR_END: first_step

// ANCHOR: decayed
/// Exercise 2: how many parameters weight decay applies to (two or more dimensions), and how
/// many it leaves alone (biases and LayerNorm parameters).
pub fn decay_split<M: Parameters>(model: &mut M) -> (usize, usize) {
    let (mut decayed, mut kept) = (0, 0);
    for (_, p) in model.parameters() {
        if p.ndim() >= 2 {
            decayed += p.len();
        } else {
            kept += p.len();
        }
    }
    (decayed, kept)
}
// ANCHOR_END: decayed
