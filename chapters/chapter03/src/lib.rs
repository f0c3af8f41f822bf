//! Chapter 3: causal self-attention. Attention written with plain loops, one head at a time,
//! to compare with the batched version in `gpt2::attention`; hand-built heads whose weights are
//! easy to read; the chapter's exercises.

pub mod attention;
pub mod exercises;
pub mod gradcheck;
pub mod heads;
pub mod naive;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch03-attention.md")]
mod chapter_text {}
