//! Dropout, the way GPT-2 regularises: while training, each value is zeroed with probability p
//! and the others are scaled by 1/(1 − p); at inference nothing is dropped. Chapter 6 measures
//! what it does; attention (this chapter), the block (chapter 4) and the model (chapter 5) call
//! it at GPT-2's three places.

use ndarray::{Array, Dimension};

use gpt2::rng::Rng;

// ANCHOR: dropout
/// Dropout's random masks for one forward pass. `Dropout::off()`, for inference and for every
/// comparison with Hugging Face, draws nothing and changes nothing.
pub struct Dropout {
    /// The probabilities at GPT-2's three places (config.json's `embd_pdrop`, `attn_pdrop`,
    /// `resid_pdrop`): the embeddings, the attention weights, and each sublayer's output before
    /// it joins the residual stream.
    pub embd: f32,
    pub attn: f32,
    pub resid: f32,
    rng: Option<Rng>,
}

impl Dropout {
    pub fn off() -> Dropout {
        Dropout {
            embd: 0.0,
            attn: 0.0,
            resid: 0.0,
            rng: None,
        }
    }

    /// Training with probability p at all three places, masks drawn from `Rng::new(seed)`.
    pub fn train(p: f32, seed: u64) -> Dropout {
        let rng = Some(Rng::new(seed));
        let (embd, attn, resid) = (p, p, p);
        Dropout {
            embd,
            attn,
            resid,
            rng,
        }
    }

    /// A mask of shape `dim`: 0 with probability p, else 1/(1 − p), so that x ⊙ mask keeps x's
    /// expected value. None (nothing dropped) at inference or when p is 0.
    pub fn mask<D: Dimension>(&mut self, dim: D, p: f32) -> Option<Array<f32, D>> {
        let rng = self.rng.as_mut().filter(|_| p > 0.0)?;
        let keep = 1.0 / (1.0 - p);
        let mut draw = || {
            if (rng.uniform() as f32) < p {
                0.0
            } else {
                keep
            }
        };
        Some(Array::from_shape_simple_fn(dim, &mut draw))
    }
}

/// x ⊙ mask, or x itself without a mask. Its backward pass is the same product: dx = dy ⊙ mask.
pub fn apply<D: Dimension>(x: Array<f32, D>, mask: &Option<Array<f32, D>>) -> Array<f32, D> {
    match mask {
        Some(m) => x * m,
        None => x,
    }
}
// ANCHOR_END: dropout
