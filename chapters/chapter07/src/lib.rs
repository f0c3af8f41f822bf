//! Chapter 7: generation. The readable sampler and KV cache (`generate`); the next-token
//! distribution under different sampling settings, drawn as bar charts; the chapter's
//! exercises.

pub mod diagram;
pub mod distribution;
pub mod exercises;
pub mod generate;

// The chapter's markdown: its self-contained Rust blocks run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../book/ch07-generation.md")]
mod chapter_text {}
