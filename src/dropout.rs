//! Dropout, as GPT-2 has it: while training, each value is zeroed with probability p and the
//! others are scaled by 1/(1 − p), so that every value keeps its expected size; at inference
//! nothing is dropped. GPT-2 drops at three places: the embeddings (`embd_pdrop`), the
//! attention weights (`attn_pdrop`), and each sublayer's output before it joins the residual
//! stream (`resid_pdrop`).

use ndarray::{Array, Dimension};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// The three dropout probabilities of GPT-2 (its config.json's names without `_pdrop`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DropoutRates {
    pub embd: f32,
    pub attn: f32,
    pub resid: f32,
}

impl DropoutRates {
    /// The same probability at all three places (nanoGPT's single `dropout`).
    pub fn all(p: f32) -> DropoutRates {
        DropoutRates {
            embd: p,
            attn: p,
            resid: p,
        }
    }

    pub fn is_off(&self) -> bool {
        *self == DropoutRates::default()
    }
}

/// Fills `slot` with a fresh mask of shape `dim`: 0 with probability p, else 1/(1 − p); or
/// empties it when p is 0 (then nothing is drawn). The values are drawn in row-major order, the
/// readable model's order, so that the same generator gives both models the same masks. The
/// buffer is reused from step to step.
pub fn fill_mask<D: Dimension>(slot: &mut Option<Array<f32, D>>, dim: D, p: f32, rng: &mut Rng) {
    if p == 0.0 {
        *slot = None;
        return;
    }
    let keep = 1.0 / (1.0 - p);
    let mask = match slot {
        Some(m) if m.raw_dim() == dim => m,
        _ => slot.insert(Array::zeros(dim)),
    };
    for m in mask.iter_mut() {
        *m = if (rng.uniform() as f32) < p {
            0.0
        } else {
            keep
        };
    }
}
