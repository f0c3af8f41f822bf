//! The ten AdamW steps of chapter 5's reference data, as the readable loop and the library's
//! trainer both run them: the settings PyTorch used, and the batches it read.

use anyhow::{Context, Result};
use chapter05::reference;
use gpt2::data::{Loader, LoaderMode};

use crate::train::Settings;

/// PyTorch's run: a constant learning rate, weight decay and clipping as `expected.json` gives
/// them, ten steps.
pub fn settings() -> Result<Settings> {
    let expected = reference::expected()?;
    let adamw = &expected["adamw"];
    let number = |key: &str| adamw[key].as_f64().map(|x| x as f32).context("a number");
    let lr = number("lr")?;
    let steps = adamw["steps"].as_array().context("the steps")?.len();
    let (weight_decay, grad_clip) = (number("weight_decay")?, number("grad_clip_global_norm")?);
    Ok(Settings {
        steps,
        lr,
        min_lr: lr,
        warmup: 0,
        weight_decay,
        grad_clip,
    })
}

/// Step k reads tokens[64k .. 64k + 65] as [4, 16]: the sequential loader with B = 4, T = 16.
pub fn loader() -> Result<Loader> {
    let tokens = reference::tokens()?;
    Ok(Loader::new(
        tokens,
        4,
        16,
        LoaderMode::Sequential,
        0,
        "the reference tokens",
    )?)
}
