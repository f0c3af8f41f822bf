//! Chapter 1: what GPT is. The configuration we build, what it costs, and a bigram model of
//! tiny Shakespeare: the baseline every later model must beat.

// Shapes are written in brackets, `x: [B, T, C]`, as the book writes them; rustdoc would read a
// shape of one name, such as [C] or [out], as a link to nothing, so that lint is off.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod bigram;
pub mod exercises;

use std::path::Path;

use anyhow::{Context, Result};

pub use bigram::Bigram;

/// GPT-2's vocabulary: 50,000 merges, 256 bytes and `<|endoftext|>`.
pub const GPT2_VOCAB: usize = 50257;

// ANCHOR: tokens
/// Reads a text file and encodes it with GPT-2's tokenizer (tiktoken's `r50k_base` ranks).
pub fn gpt2_tokens(path: &Path) -> Result<Vec<u32>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bpe = tiktoken_rs::r50k_base().context("loading GPT-2's BPE ranks")?;
    Ok(bpe.encode_ordinary(&text))
}

/// The first 90% of the tokens train the model, the last 10% judge it.
pub fn train_val_split(tokens: &[u32]) -> (&[u32], &[u32]) {
    tokens.split_at(tokens.len() * 9 / 10)
}
// ANCHOR_END: tokens

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch01-overview.md")]
mod chapter_text {}
