//! The tiny GPT-2 of `tests/fixtures/tiny`, saved by Hugging Face `transformers`, and the batch
//! whose logits, loss and gradients `transformers` computed for it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ndarray::Array2;

/// The checkpoint directory of the reference model.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny")
}

/// `expected.json`: the batch, the loss, the token stream, the AdamW run, the greedy tokens.
pub fn expected() -> Result<serde_json::Value> {
    let path = dir().join("expected.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// A [B][T] array of ids from the JSON, as [B, T].
pub fn ids(value: &serde_json::Value) -> Result<Array2<u32>> {
    let rows = value.as_array().context("expected rows")?;
    let b = rows.len();
    let flat = rows
        .iter()
        .map(id_list)
        .collect::<Result<Vec<_>>>()?
        .concat();
    Ok(Array2::from_shape_vec((b, flat.len() / b.max(1)), flat)?)
}

/// `expected.json`'s stream of 769 token ids.
pub fn tokens() -> Result<Vec<u32>> {
    id_list(&expected()?["tokens"])
}

/// A list of ids from the JSON (`tokens`, a greedy prompt or continuation).
pub fn id_list(value: &serde_json::Value) -> Result<Vec<u32>> {
    value
        .as_array()
        .context("expected a list of ids")?
        .iter()
        .map(|v| v.as_u64().map(|x| x as u32).context("expected ids"))
        .collect()
}
