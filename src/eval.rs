//! Scoring a text with a model: the mean cross-entropy of every next token, over consecutive
//! windows of the text.

use ndarray::Array2;

use crate::model::{GPT, ModelError};

/// The result of scoring a token sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Mean cross-entropy, nats per token.
    pub loss: f64,
    /// e^loss: the model is as unsure as a uniform choice among this many tokens.
    pub perplexity: f64,
    /// How many next tokens were scored.
    pub tokens: usize,
}

// ANCHOR: evaluate
/// Scores `ids` in consecutive, non-overlapping windows of `t` inputs: window k reads
/// ids[kt .. kt+t] and predicts ids[kt+1 .. kt+t+1]. Only whole windows count; `b` windows run
/// per forward pass. `progress` is called with the number of windows done and their total.
pub fn evaluate(
    model: &mut GPT,
    ids: &[u32],
    t: usize,
    b: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Score, ModelError> {
    let windows = ids.len().saturating_sub(1) / t.max(1);
    let mut total = 0.0;
    let mut done = 0;
    while done < windows {
        let rows = b.min(windows - done);
        let x = Array2::from_shape_fn((rows, t), |(r, j)| ids[(done + r) * t + j]);
        let y = Array2::from_shape_fn((rows, t), |(r, j)| ids[(done + r) * t + j + 1]);
        let (_, loss) = model.forward(x.view(), Some(y.view()))?;
        total += loss.unwrap_or(f32::NAN) as f64 * (rows * t) as f64;
        done += rows;
        progress(done, windows);
    }
    let tokens = windows * t;
    let loss = total / tokens as f64;
    Ok(Score {
        loss,
        perplexity: loss.exp(),
        tokens,
    })
}
// ANCHOR_END: evaluate
